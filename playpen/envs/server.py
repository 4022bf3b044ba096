"""``playpen serve``: games as an OpenEnv environment server (``pip install 'playpen[serve]'``).

Built on OpenEnv's ``create_fastapi_app``/``HTTPEnvServer``: each WebSocket session (``/ws``, what
``EnvClient``/:class:`~playpen.envs.openenv.PlaypenClient` speaks) gets its own :class:`PlaypenEnvironment`,
which holds one :class:`~playpen.envs.text_env.TextEnv` (one game master; the partners answered in-process by
models from the registry, loaded once and shared). OpenEnv's plain-HTTP ``/reset`` and ``/step`` make a fresh
environment per request; an episode can be continued over them by naming it: ``reset`` with an
``episode_id``, then ``step`` with the same ``episode_id`` (held in :class:`Episodes`, bounded and expiring).
Without partner models, clients play every role: each resets with the same ``match`` and its own ``role``
(:class:`Matches`), and each request returns when it is that role's turn again.

Every finished episode is written in the clembench layout (``results.store``), so ``eval``, ``score``,
``transcribe`` and ``data`` read served episodes as they read ``playpen run``'s. Refused requests are
answered 4xx: malformed JSON or a wrong field 422, a body over the limit 413, an unknown ``episode_id`` 404, a
step without a running episode or on an episode another request is stepping 409, a bad game or index 400, no
room for another named episode or match 503.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playpen.core.errors import PlaypenError
from playpen.core.instances import InstanceRow
from playpen.core.master import TRUNCATIONS, GameMaster
from playpen.core.registry import GameSpec
from playpen.envs.openenv import PlaypenAction, PlaypenObservation, PlaypenState
from playpen.envs.text_env import InstanceSampler, MultiAgentTextEnv, TextEnv, step_info
from playpen.models.base import Model
from playpen.results.store import ResultsStore, played_from, run_dir_name

try:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from openenv.core.env_server import Environment, create_fastapi_app
    from openenv.core.env_server.types import EnvironmentMetadata
except ImportError:
    raise PlaypenError("serving needs OpenEnv: pip install 'playpen[serve]'") from None

#: bytes; a request body (or WebSocket message) larger than this is refused (413)
MAX_BODY = 4 << 20


class UnknownEpisode(PlaypenError):
    """``step`` named an ``episode_id`` the server does not hold (never started, finished, or expired)."""


class NotRunning(PlaypenError):
    """``step`` without a running episode in this session, or while another request steps the same one."""


class NoRoom(PlaypenError):
    """Every slot for named episodes (or open matches) is taken."""


@dataclass
class Recorder:
    """Writes each finished episode under ``results`` in the clembench layout: one run folder per (learner,
    partners) pairing, as ``playpen run`` names it; a repeated instance gets a folder of its own."""

    results: Path
    learner: str

    def record(self, master: GameMaster, row: InstanceRow, partners: Mapping[str, Model]) -> Path:
        """Write ``master``'s finished episode; the roles without a partner model are the learner's."""
        roles = master.roles
        names = {role: partners[role].name if role in partners else self.learner for role in roles}
        settings = {role: {"model": names[role], "temperature": None, "max_tokens": None} if role not in partners
                    else {"model": names[role], "temperature": partners[role].settings.temperature,
                          "max_tokens": partners[role].settings.max_tokens} for role in roles}
        infos = {str(i): {"model_name": self.learner, "backend": "openenv client"} if role not in partners else
                 {**partners[role].info(), "gen_args": {k: settings[role][k] for k in ("temperature", "max_tokens")}}
                 for i, role in enumerate(roles)}
        store = ResultsStore(self.results, run_dir_name([names[role] for role in roles]))
        return store.write_episode(row, master, names, infos, played_from(row, settings),
                                   episode_dir=store.new_episode_dir(row))


@dataclass
class Served:
    """What every session of one server shares: the games, the instances, the learner's role per game, the
    partner models (loaded once), the reward, the recorder, and the episodes named over plain HTTP."""

    specs: Sequence[GameSpec]
    sampler: InstanceSampler
    roles: Mapping[str, str]
    partners: Mapping[str, Model] | Model | None
    reward: str = "main_score"
    abort_penalty: float = 0.0
    recorder: Recorder | None = None
    episodes: "Episodes" = field(default_factory=lambda: Episodes())
    matches: "Matches" = field(default_factory=lambda: Matches())

    @property
    def clients_play_every_role(self) -> bool:
        """No partner models: every role of a game with several is played by a client (self-play, ``match``)."""
        return self.partners is None and any(len(spec.roles) > 1 for spec in self.specs)

    def new_env(self) -> TextEnv:
        return TextEnv(list(self.specs), role=dict(self.roles), partners=self.partners, sampler=self.sampler,
                       reward=self.reward, abort_penalty=self.abort_penalty)

    def new_match(self, options: Mapping[str, Any], seed: int | None) -> "Match":
        row = self.sampler.choose(options, random.Random(seed))
        spec = next(spec for spec in self.specs if spec.name == row.game)
        env = MultiAgentTextEnv(spec, sampler=self.sampler, reward=self.reward, abort_penalty=self.abort_penalty)
        env.reset(options={"instance": row})
        return Match(env)


@dataclass
class _Named:
    env: TextEnv
    lock: threading.Lock = field(default_factory=threading.Lock)
    used: float = field(default_factory=time.monotonic)


class Episodes:
    """Episodes continued over plain HTTP, by ``episode_id``: at most ``limit``, each dropped once finished or
    after ``idle_s`` seconds without a request."""

    def __init__(self, limit: int = 1024, idle_s: float = 600.0):
        self.limit, self.idle_s = limit, idle_s
        self._held: dict[str, _Named] = {}
        self._lock = threading.Lock()

    def put(self, episode_id: str, env: TextEnv) -> None:
        with self._lock:
            now = time.monotonic()
            for key in [k for k, held in self._held.items() if now - held.used > self.idle_s]:
                del self._held[key]
            if episode_id not in self._held and len(self._held) >= self.limit:
                raise NoRoom(f"the server holds {self.limit} named episodes; finish one or wait {self.idle_s:.0f} s")
            self._held[episode_id] = _Named(env)  # a reset of a held id starts it again

    def take(self, episode_id: str) -> _Named:
        with self._lock:
            held = self._held.get(episode_id)
        if held is None:
            raise UnknownEpisode(f"no running episode '{episode_id}' (never reset, finished, or expired)")
        if not held.lock.acquire(blocking=False):
            raise NotRunning(f"episode '{episode_id}' is being stepped by another request")
        held.used = time.monotonic()
        return held

    def drop(self, episode_id: str, held: _Named) -> None:
        with self._lock:
            if self._held.get(episode_id) is held:
                del self._held[episode_id]

    def __len__(self) -> int:
        return len(self._held)


class Match:
    """One episode whose every role a client plays (self-play through the server): each client's request waits
    until it is its role's turn again, or the episode is over."""

    def __init__(self, env: MultiAgentTextEnv):
        self.env = env
        self.joined: set[str] = set()
        self.left: str | None = None  # a role whose client went away: the episode cannot go on
        self.turn = threading.Condition()
        self.recorded: Path | None = None

    def wait_for_turn(self, role: str, wait_s: float, name: str) -> None:
        """Wait (holding ``turn``) until ``role`` is to act or the episode is over."""
        if not self.turn.wait_for(lambda: self.left is not None or self.env.done
                                  or self.env.agent_selection == role, timeout=wait_s):
            raise NotRunning(f"match {name!r}: the other roles did not reply within {wait_s:.0f} s")
        if self.left is not None and not self.env.done:
            raise NotRunning(f"match {name!r}: the client playing {self.left} left")


class Matches:
    """Open matches by name: at most ``limit``; a client waits at most ``wait_s`` seconds for the others."""

    def __init__(self, limit: int = 1024, wait_s: float = 300.0):
        self.limit, self.wait_s = limit, wait_s
        self._open: dict[str, Match] = {}
        self._lock = threading.Lock()

    def join(self, name: str, role: str | None, create) -> Match:
        """Take ``role`` in match ``name`` (``create()`` makes it if it is not open) and wait for every role."""
        with self._lock:
            match = self._open.get(name)
            if match is None:
                if len(self._open) >= self.limit:
                    raise NoRoom(f"the server holds {self.limit} open matches")
                match = create()
            roles = match.env.agents
            if role not in roles:
                raise PlaypenError(f"match {name!r} plays {match.env.spec.name}: reset with role= one of "
                                   f"{', '.join(roles)}")
            if role in match.joined:
                raise NotRunning(f"role {role} of match {name!r} is taken")
            self._open[name] = match
            match.joined.add(role)
        with match.turn:
            match.turn.notify_all()
            if not match.turn.wait_for(lambda: match.joined == set(roles), timeout=self.wait_s):
                missing = ", ".join(sorted(set(roles) - match.joined))
                self.leave(name, match, role)
                raise NotRunning(f"match {name!r}: no client took {missing} within {self.wait_s:.0f} s")
        return match

    def leave(self, name: str, match: Match, role: str) -> None:
        """``role``'s client is gone: a running match ends for everyone (its episode is not recorded)."""
        with self._lock:
            match.joined.discard(role)
            if not match.env.done:
                match.left = role
            if self._open.get(name) is match and (match.env.done or match.left is not None):
                del self._open[name]
        with match.turn:
            match.turn.notify_all()

    def end(self, name: str, match: Match) -> None:
        with self._lock:
            if self._open.get(name) is match:
                del self._open[name]


class PlaypenEnvironment(Environment):
    """One session: one learner's episodes, one at a time. Made by OpenEnv for every WebSocket session."""

    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self, served: Served):
        super().__init__()
        self.served = served
        self.env: TextEnv | None = None
        self.episode_id: str | None = None
        self.steps = 0
        self.recorded: Path | None = None
        self.match: tuple[str, str, Match] | None = None  # (name, role, match) while this session plays one
        self._seen_events = 0

    def reset(self, seed: int | None = None, episode_id: str | None = None, game: str | None = None,
              index: int | None = None, match: str | None = None, role: str | None = None,
              **_: Any) -> PlaypenObservation:
        """Start an episode: ``game``/``index`` choose the instance (the index-th of that game, modulo), else
        one is drawn from ``seed`` (the same seed, the same instance), else at random. ``match``/``role``: join
        the match of that name in that role (its creator's choice of instance holds; every role a client)."""
        self.close()
        options: dict[str, Any] = {}
        if game is not None:
            options["game"] = game
        if index is not None:
            options["index"] = index
        if match is not None:
            return self._join(str(match), role, options, seed, episode_id)
        if self.served.clients_play_every_role:
            raise PlaypenError("this server has no partner models: clients play every role; reset with "
                               "match=<a name both clients use> and role=<your role>")
        env = self.served.new_env()
        messages, info = env.reset(seed=seed, options=options)
        self.env, self.episode_id, self.steps, self.recorded = env, episode_id or uuid.uuid4().hex, 0, None
        if episode_id is not None and not env.master.done:
            self.served.episodes.put(episode_id, env)
        return self._observe(env, messages, env.reward_fn(env.master) if env.master.done else None, False, info)

    def step(self, action: PlaypenAction, timeout_s: float | None = None, episode_id: str | None = None,
             **_: Any) -> PlaypenObservation:
        if self.match is not None:
            return self._match_step(action)
        if episode_id is None:
            env = self.env
            if env is None or env.master is None or env.master.done:
                raise NotRunning("no running episode in this session: reset first")
            return self._step(env, action)
        held = self.served.episodes.take(episode_id)
        try:
            observation = self._step(held.env, action)
        finally:
            held.lock.release()
        if observation.done:
            self.served.episodes.drop(episode_id, held)
        return observation

    @property
    def state(self) -> PlaypenState:
        env = self.env if self.match is None else self.match[2].env
        master = None if env is None else env.master
        role = self.match[1] if self.match is not None else None if env is None else env.learner_role
        return PlaypenState(episode_id=self.episode_id, step_count=self.steps,
                            game=None if master is None else master.name,
                            instance=None if env is None or env.row is None else env.row.key, role=role,
                            outcome=None if master is None else master.outcome.status.value,
                            recorded=None if self.recorded is None else str(self.recorded))

    def get_metadata(self) -> EnvironmentMetadata:
        games = ", ".join(f"{spec.name} (learner: {self.served.roles[spec.name]})" for spec in self.served.specs)
        return EnvironmentMetadata(name="playpen", description=f"Playpen's dialogue games: {games}")

    def close(self) -> None:
        self.env = None
        if self.match is not None:
            name, role, match = self.match
            self.match = None
            self.served.matches.leave(name, match, role)

    def _join(self, name: str, role: str | None, options: dict[str, Any], seed: int | None,
              episode_id: str | None) -> PlaypenObservation:
        matches = self.served.matches
        match = matches.join(name, role, lambda: self.served.new_match(options, seed))
        self.match, self.episode_id, self.steps, self.recorded = (name, role, match), episode_id or name, 0, None
        self._seen_events = 0
        with match.turn:
            match.wait_for_turn(role, matches.wait_s, name)
            return self._match_observation()

    def _match_step(self, action: PlaypenAction) -> PlaypenObservation:
        name, role, match = self.match
        env = match.env
        with match.turn:
            if env.done or env.agent_selection != role or match.left is not None:
                raise NotRunning(f"match {name!r} is over: reset" if env.done or match.left is not None
                                 else f"match {name!r}: it is {env.agent_selection}'s turn, not {role}'s")
            env.step(action.text)
            self.steps += 1
            if env.done:
                if self.served.recorder is not None:
                    match.recorded = self.served.recorder.record(env.master, env.row, {})
                self.served.matches.end(name, match)
            match.turn.notify_all()
            match.wait_for_turn(role, self.served.matches.wait_s, name)
            return self._match_observation()

    def _match_observation(self) -> PlaypenObservation:
        """Called holding the match's ``turn``: what this session's role sees now."""
        name, role, match = self.match
        env, master = match.env, match.env.master
        info = step_info(master, role, self._seen_events)
        self._seen_events = sum(len(events) for events in master.rounds)
        info["episode_id"] = self.episode_id
        if match.recorded is not None:
            self.recorded = match.recorded
            info["recorded"] = str(match.recorded)
        done = master.done
        return PlaypenObservation(messages=[] if done else env.observe(role), role=role, game=master.name, done=done,
                                  reward=env.rewards.get(role, 0.0),
                                  truncated=done and master.outcome.stop in TRUNCATIONS, info=info)

    def _step(self, env: TextEnv, action: PlaypenAction) -> PlaypenObservation:
        messages, reward, terminated, truncated, info = env.step(action.text)
        self.steps += 1
        return self._observe(env, messages, reward, truncated, info)

    def _observe(self, env: TextEnv, messages, reward: float | None, truncated: bool,
                 info: dict[str, Any]) -> PlaypenObservation:
        master = env.master
        done = master.done
        if done and self.served.recorder is not None:
            partners = {role: env.partners[(master.name, role)] for role in master.roles if role != env.learner_role}
            self.recorded = self.served.recorder.record(master, env.row, partners)
            info = {**info, "recorded": str(self.recorded)}
        return PlaypenObservation(messages=list(messages) if not done else [], role=env.learner_role or "",
                                  game=master.name, done=done, reward=reward, truncated=truncated,
                                  info={**info, "episode_id": self.episode_id})


def _refusal(status: int):
    async def answer(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=status)

    return answer


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is answered 413 before it reaches a handler
    (announced by Content-Length, or counted as it streams in)."""

    def __init__(self, app, limit: int = MAX_BODY):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(send)
            return
        seen, started, refused = 0, False, False

        async def counted():
            # FastAPI turns an exception raised while it reads the body into a 400: answer 413 here and tell
            # the app the client left, then drop whatever it still sends
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                refused = True
                if not started:
                    await self._refuse(send)
                return {"type": "http.disconnect"}
            return message

        async def watched(message):
            nonlocal started
            if not refused:
                started = started or message["type"] == "http.response.start"
                await send(message)

        try:
            await self.app(scope, counted, watched)
        except Exception:
            if not refused:
                raise

    async def _refuse(self, send) -> None:
        body = b'{"detail":"request body too large"}'
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def create_app(served: Served, *, max_sessions: int = 256, max_body: int = MAX_BODY) -> FastAPI:
    """The FastAPI app: OpenEnv's routes (``/ws``, ``/reset``, ``/step``, ``/state``, ``/schema``, ``/health``,
    ``/metadata``) over :class:`PlaypenEnvironment`, our refusals, and the body limit."""
    app = create_fastapi_app(lambda: PlaypenEnvironment(served), PlaypenAction, PlaypenObservation,
                             max_concurrent_envs=max_sessions, env_name="playpen", state_cls=PlaypenState)
    app.add_exception_handler(UnknownEpisode, _refusal(404))
    app.add_exception_handler(NotRunning, _refusal(409))
    app.add_exception_handler(NoRoom, _refusal(503))
    app.add_exception_handler(PlaypenError, _refusal(400))
    app.add_middleware(BodyLimit, limit=max_body)
    return app


def serve(app: FastAPI, *, host: str = "127.0.0.1", port: int = 8000, max_body: int = MAX_BODY,
          log_level: str = "warning") -> None:
    import uvicorn

    uvicorn.run(app, host=host, port=port, ws_max_size=max_body, log_level=log_level)


def served_rows(specs: Sequence[GameSpec], rows: Mapping[str, list[InstanceRow]]) -> InstanceSampler:
    """The instances a server draws from: ``playpen run``'s selection per game, every game weighted alike."""
    for spec in specs:
        if not rows[spec.name]:
            raise PlaypenError(f"{spec.name}: no instances selected")
    return InstanceSampler({spec.name: rows[spec.name] for spec in specs}, {spec.name: 1.0 for spec in specs})


@contextmanager
def running(app: FastAPI, *, host: str = "127.0.0.1", port: int = 0, max_body: int = MAX_BODY) -> Iterator[str]:
    """Serve ``app`` from a background thread (``port=0``: a free port) and yield its base URL; stops on exit.
    For notebooks, tests and benchmarks; ``playpen serve`` runs the server in the foreground."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, ws_max_size=max_body, log_level="warning"))
    thread = threading.Thread(target=server.run, name="playpen-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise PlaypenError(f"the server did not start on {host}:{port}")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)

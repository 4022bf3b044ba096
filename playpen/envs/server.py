"""``playpen serve``: games as an OpenEnv environment server (``pip install 'playpen[serve]'``).

Built on OpenEnv's ``create_fastapi_app``/``HTTPEnvServer``: each WebSocket session (``/ws``, what
``EnvClient``/:class:`~playpen.envs.openenv.PlaypenClient` speaks) gets its own :class:`PlaypenEnvironment`,
which holds one :class:`~playpen.envs.text_env.TextEnv` (one game master; the partners answered in-process by
models from the registry, loaded once and shared). OpenEnv's plain-HTTP ``/reset`` and ``/step`` make a fresh
environment per request; an episode can be continued over them by naming it: ``reset`` with an
``episode_id``, then ``step`` with the same ``episode_id`` (held in :class:`Episodes`, bounded and expiring).

Every finished episode is written in the clembench layout (``results.store``), so ``eval``, ``score``,
``transcribe`` and ``data`` read served episodes as they read ``playpen run``'s. Refused requests are
answered 4xx: malformed JSON or a wrong field 422, a body over the limit 413, an unknown ``episode_id`` 404, a
step without a running episode or on an episode another request is stepping 409, a bad game or index 400, no
room for another named episode 503.
"""

from __future__ import annotations

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
from playpen.core.registry import GameSpec
from playpen.envs.openenv import PlaypenAction, PlaypenObservation, PlaypenState
from playpen.envs.text_env import InstanceSampler, TextEnv
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
    """Every slot for named episodes is taken."""


@dataclass
class Recorder:
    """Writes each finished episode under ``results`` in the clembench layout: one run folder per (learner,
    partners) pairing, as ``playpen run`` names it; a repeated instance gets a folder of its own."""

    results: Path
    learner: str

    def record(self, env: TextEnv) -> Path:
        master, row = env.master, env.row
        assert master is not None and row is not None and master.done
        spec = env.specs[row.game]
        learner_role = env.learner_roles[row.game]
        models: dict[str, Model | None] = {role: (None if role == learner_role else env.partners[(row.game, role)])
                                           for role in spec.roles}
        names = {role: self.learner if model is None else model.name for role, model in models.items()}
        settings = {role: {"model": self.learner, "temperature": None, "max_tokens": None} if model is None else
                    {"model": model.name, "temperature": model.settings.temperature,
                     "max_tokens": model.settings.max_tokens} for role, model in models.items()}
        infos = {str(i): ({"model_name": self.learner, "backend": "openenv client"} if models[role] is None else
                          {**models[role].info(), "gen_args": {k: settings[role][k] for k in ("temperature", "max_tokens")}})
                 for i, role in enumerate(spec.roles)}
        store = ResultsStore(self.results, run_dir_name([names[role] for role in spec.roles]))
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

    def new_env(self) -> TextEnv:
        return TextEnv(list(self.specs), role=dict(self.roles), partners=self.partners, sampler=self.sampler,
                       reward=self.reward, abort_penalty=self.abort_penalty)


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

    def reset(self, seed: int | None = None, episode_id: str | None = None, game: str | None = None,
              index: int | None = None, **_: Any) -> PlaypenObservation:
        """Start an episode: ``game``/``index`` choose the instance (the index-th of that game, modulo), else
        one is drawn from ``seed`` (the same seed, the same instance), else at random."""
        env = self.served.new_env()
        options: dict[str, Any] = {}
        if game is not None:
            options["game"] = game
        if index is not None:
            options["index"] = index
        messages, info = env.reset(seed=seed, options=options)
        self.env, self.episode_id, self.steps, self.recorded = env, episode_id or uuid.uuid4().hex, 0, None
        if episode_id is not None and not env.master.done:
            self.served.episodes.put(episode_id, env)
        return self._observe(env, messages, env.reward_fn(env.master) if env.master.done else None, False, info)

    def step(self, action: PlaypenAction, timeout_s: float | None = None, episode_id: str | None = None,
             **_: Any) -> PlaypenObservation:
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
        env = self.env
        master = None if env is None else env.master
        return PlaypenState(episode_id=self.episode_id, step_count=self.steps,
                            game=None if master is None else master.name,
                            instance=None if env is None or env.row is None else env.row.key,
                            role=None if env is None else env.learner_role,
                            outcome=None if master is None else master.outcome.status.value,
                            recorded=None if self.recorded is None else str(self.recorded))

    def get_metadata(self) -> EnvironmentMetadata:
        games = ", ".join(f"{spec.name} (learner: {self.served.roles[spec.name]})" for spec in self.served.specs)
        return EnvironmentMetadata(name="playpen", description=f"Playpen's dialogue games: {games}")

    def close(self) -> None:
        self.env = None

    def _step(self, env: TextEnv, action: PlaypenAction) -> PlaypenObservation:
        messages, reward, terminated, truncated, info = env.step(action.text)
        self.steps += 1
        return self._observe(env, messages, reward, truncated, info)

    def _observe(self, env: TextEnv, messages, reward: float | None, truncated: bool,
                 info: dict[str, Any]) -> PlaypenObservation:
        master = env.master
        done = master.done
        if done and self.served.recorder is not None:
            self.recorded = self.served.recorder.record(env)
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

"""The rollout engine: plays many episodes at once.

Two schedules, chosen from the models:

* *lockstep* (any local, batched model involved): every open episode waits for one player; each tick groups
  the waiting (episode, role) pairs by the model that plays that role and answers each group with one call
  (``generate`` in chunks of ``batch_size``; a server model in the mix gets its group through ``agenerate``);
* *asynchronous* (only servers and programmatic players): every episode runs as its own coroutine and awaits
  its replies, so up to ``batch_size`` episodes are in flight and a slow reply holds up only its own episode.

Replies are stepped into their game masters; finished episodes go to ``on_end``.

Failures stay local to their episode: a backend error marks the episode *errored* (never scored), a
conversation that no longer fits the model's context aborts it with that reason, and an exception inside a
game master (a bug) marks only that episode errored.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from playpen.core.instances import InstanceRow
from playpen.core.master import GameMaster, StopReason
from playpen.core.registry import GameSpec
from playpen.models.base import GenerationRequest, GenerationResult, Model, clean_text


@dataclass
class EpisodeJob:
    spec: GameSpec
    row: InstanceRow
    #: role -> the model that plays it
    players: Mapping[str, Model]
    #: play on from a copy of this (unfinished) game state instead of a new episode (branching)
    start: GameMaster | None = None


@dataclass
class EpisodeResult:
    job: EpisodeJob
    master: GameMaster | None
    error: str | None = None
    generations: list[GenerationResult] = field(default_factory=list)
    #: why the episode stopped (``GAME_BUG`` also when it could not start)
    stop: StopReason | None = None
    #: the role that asked for each of ``generations``
    generation_roles: list[str] = field(default_factory=list)

    @property
    def errored(self) -> bool:
        return self.error is not None

    def generations_of(self, role: str) -> list[GenerationResult]:
        """The answers ``role``'s model gave in this episode, in order (from the start state on, if any)."""
        return [g for g, r in zip(self.generations, self.generation_roles) if r == role]


@dataclass
class _Open:
    job: EpisodeJob
    master: GameMaster
    generations: list[GenerationResult] = field(default_factory=list)
    generation_roles: list[str] = field(default_factory=list)


def _request(episode: _Open) -> GenerationRequest:
    master = episode.master
    role = master.current_role
    assert role is not None
    row = episode.job.row
    return GenerationRequest(
        # the other side of the model boundary: text from an instance file may hold a lone surrogate too
        messages=[{**m, "content": clean_text(m["content"])} if isinstance(m.get("content"), str) else m
                  for m in master.messages_for(role)],
        game=row.game,
        role=role,
        episode=row.key,
        experiment=row.experiment,
        instance=row.instance,
    )


def _answer(model: Model, requests: list[GenerationRequest], batch_size: int,
            loop: asyncio.AbstractEventLoop | None = None) -> list[GenerationResult]:
    if model.concurrent:
        if loop is None:
            return asyncio.run(model.agenerate(requests))
        return loop.run_until_complete(model.agenerate(requests))
    results: list[GenerationResult] = []
    for start in range(0, len(requests), batch_size):
        chunk = requests[start:start + batch_size]
        try:
            answers = model.generate(chunk)
        except Exception as error:  # a backend must not raise, but one that does fails only its requests
            answers = [GenerationResult(error=f"{type(error).__name__}: {error}", error_kind="backend")] * len(chunk)
        results.extend(answers)
    return results


def run_episodes(
    jobs: Iterable[EpisodeJob],
    *,
    batch_size: int = 16,
    max_open: int | None = None,
    on_end: Callable[[EpisodeResult], None] | None = None,
    before_reply: Callable[[EpisodeJob, GameMaster], None] | None = None,
) -> list[EpisodeResult]:
    """Play every job to its end and return the results in the order the episodes finished.

    ``max_open`` bounds how many episodes are open at once (default: ``batch_size``, so that batches stay
    full and episodes finish roughly in the order given, which keeps resume and progress meaningful).
    ``before_reply(job, master)`` sees every game state just before a player is asked (``master.current_role``);
    it must not change it (copy it to branch from it later).
    """
    jobs = list(jobs)
    models = {id(m): m for job in jobs for m in job.players.values()}.values()
    limit = max(1, max_open or batch_size)
    finished: list[EpisodeResult] = []

    def finish(result: EpisodeResult) -> None:
        finished.append(result)
        if on_end is not None:
            on_end(result)

    loop = asyncio.new_event_loop()
    try:
        if any(m.concurrent for m in models) and not any(m.batched for m in models):
            with _fewer_collections():
                loop.run_until_complete(_run_async(jobs, limit, finish, before_reply))
        else:
            _run_lockstep(jobs, limit, batch_size, finish, loop, before_reply)
    finally:
        # as asyncio.run does: lets server backends close the connections they opened on this loop
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return finished


_gc_lock = threading.Lock()
_gc_runs = 0  # asynchronous runs in progress (threads may run several); the first raises, the last restores
_gc_default: tuple[int, int, int] = gc.get_threshold()

#: how much the cyclic collector's youngest-generation threshold is raised while servers are driven
GC_FACTOR = 10


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Every reply and its record stay alive until the run ends, so with the default threshold (700 new
    objects) the collector walks them again and again. Against a local server on 2 cores, 64 requests in
    flight, collections took 0.11 ms per request, 0.04 ms with a threshold ten times higher (client CPU
    0.38 -> 0.35 ms per request). Only when collections run changes, not what they collect."""
    global _gc_runs, _gc_default
    with _gc_lock:
        if _gc_runs == 0:
            _gc_default = gc.get_threshold()
            gc.set_threshold(_gc_default[0] * GC_FACTOR, *_gc_default[1:])
        _gc_runs += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_runs -= 1
            if _gc_runs == 0:
                gc.set_threshold(*_gc_default)


def _start(job: EpisodeJob) -> _Open | EpisodeResult:
    try:
        if job.start is not None:
            return _Open(job, job.start.copy())
        return _Open(job, job.spec.new_episode(job.row.experiment, job.row.instance))
    except Exception as error:  # a broken instance fails only its own episode
        return EpisodeResult(job, None, f"could not start the episode: {type(error).__name__}: {error}",
                             stop=StopReason.GAME_BUG)


def _run_lockstep(jobs: list[EpisodeJob], limit: int, batch_size: int,
                  finish: Callable[[EpisodeResult], None], loop: asyncio.AbstractEventLoop,
                  before_reply: Callable[[EpisodeJob, GameMaster], None] | None = None) -> None:
    pending = list(reversed(jobs))  # pop() from the end takes them in the given order
    open_episodes: list[_Open] = []
    while pending or open_episodes:
        while pending and len(open_episodes) < limit:
            started = _start(pending.pop())
            if isinstance(started, EpisodeResult):
                finish(started)
            else:
                open_episodes.append(started)
        groups: dict[int, tuple[Model, list[_Open]]] = {}
        for episode in open_episodes:
            model = episode.job.players[episode.master.current_role]
            groups.setdefault(id(model), (model, []))[1].append(episode)
        still_open: list[_Open] = []
        for model, episodes in groups.values():
            if before_reply is not None:
                for episode in episodes:
                    before_reply(episode.job, episode.master)
            answers = _answer(model, [_request(e) for e in episodes], batch_size, loop)
            for episode, answer in zip(episodes, answers):
                outcome = _apply(episode, answer)
                if outcome is None:
                    still_open.append(episode)
                else:
                    finish(outcome)
        open_episodes = still_open


async def _run_async(jobs: list[EpisodeJob], limit: int, finish: Callable[[EpisodeResult], None],
                     before_reply: Callable[[EpisodeJob, GameMaster], None] | None = None) -> None:
    slots = asyncio.Semaphore(limit)

    async def play(job: EpisodeJob) -> None:
        async with slots:
            started = _start(job)
            if isinstance(started, EpisodeResult):
                finish(started)
                return
            while True:
                model = job.players[started.master.current_role]
                if before_reply is not None:
                    before_reply(job, started.master)
                request = [_request(started)]
                try:
                    answer = (await model.agenerate(request) if model.concurrent else model.generate(request))[0]
                except Exception as error:  # a backend must not raise; if one does, only this episode fails
                    answer = GenerationResult(error=f"{type(error).__name__}: {error}", error_kind="backend")
                outcome = _apply(started, answer)
                if outcome is not None:
                    finish(outcome)
                    return

    await asyncio.gather(*(play(job) for job in jobs))


@dataclass(frozen=True)
class Step:
    """What one answer did to its episode."""

    #: why the episode stopped; None: it goes on
    stop: StopReason | None = None
    #: why the episode cannot be scored (a backend error, a game bug); None when it was played
    error: str | None = None


def apply_reply(master: GameMaster, answer: GenerationResult) -> Step:
    """Step one model answer into ``master`` — the one place a reply reaches a game master (engine, TextEnv).

    A conversation that no longer fits the model's context ends the episode (aborted, scored). A backend error
    leaves the game state as it was (``BACKEND_ERROR``, with the error): the engine marks the episode errored,
    ``TextEnv`` ends it with ``GameMaster.interrupt``. An exception inside the game master is ``GAME_BUG``."""
    if answer.error is not None:
        if answer.error_kind == "context":
            master.interrupt(StopReason.CONTEXT_EXCEEDED, answer.error)
            return Step(StopReason.CONTEXT_EXCEEDED)
        return Step(StopReason.BACKEND_ERROR, f"backend error: {answer.error}")
    try:
        master.step(answer.text)
    except Exception as error:  # the first line says what failed (a one-line summary shows only it)
        return Step(StopReason.GAME_BUG, f"game error: {type(error).__name__}: {error}\n"
                                         f"{traceback.format_exc(limit=3)}")
    return Step(master.outcome.stop if master.done else None)


def _apply(episode: _Open, answer: GenerationResult) -> EpisodeResult | None:
    """Step one reply into its episode; return a result when the episode is over, else None."""
    episode.generations.append(answer)
    episode.generation_roles.append(episode.master.current_role or "")
    step = apply_reply(episode.master, answer)
    if step.stop is None:
        return None
    return EpisodeResult(episode.job, episode.master, step.error, episode.generations, step.stop,
                         episode.generation_roles)

"""Rollout benchmarks (``playpen bench rollout``): how close the engine gets to the machine's limit.

A local OpenAI-compatible test server, in a process of its own like a real server, answers every request
with the game's scripted player after a fixed delay ``l``. With ``c`` requests in flight the ideal
throughput is ``c / l`` requests per second. On a small machine the client's CPU, not the server, is the
limit, so the same run also measures baselines against the same server:

* ``playpen``: episodes played by the rollout engine with the OpenAI-compatible backend;
* ``raw``: a bare aiohttp loop (``c`` tasks on one session) posting pre-encoded bodies — those Playpen sent
  in an untimed run of the same game, so the server's work is the same — which is what any Python client
  can reach on this machine;
* ``openai``: the official ``AsyncOpenAI`` client with the same bodies (only if ``openai`` is installed).

The clients take turns (``repeats`` rounds, every other one in reverse order), since other load on the
machine changes over minutes; Playpen's figure is reported as its ratio to the bare loop of the same round,
with the client process's CPU time per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from playpen.core.errors import PlaypenError
from playpen.core.instances import InstanceRow, iter_rows, load_instances
from playpen.models.base import GenerationSettings
from playpen.rollout.engine import EpisodeJob, run_episodes

CLIENTS = ("playpen", "raw", "openai")
MODEL_ID = "playpen-test"
SETTINGS = GenerationSettings()


@dataclass
class ClientRun:
    client: str
    requests: int
    seconds: float
    cpu_seconds: float
    errors: int

    def figures(self, ideal: float) -> dict[str, Any]:
        per_s = self.requests / self.seconds
        return {"client": self.client, "requests": self.requests, "errors": self.errors,
                "requests_per_s": round(per_s, 1), "of_ideal": round(per_s / ideal, 3),
                "cpu_ms_per_request": round(1000 * self.cpu_seconds / self.requests, 3)}


class _Rows:
    """Instance rows of one game, handed out with fresh episode numbers (the scripted server keeps one player
    per episode key, so no two runs may share one)."""

    def __init__(self, game: str, split: str):
        from playpen.games import get_game

        self.spec = get_game(game)
        self.rows = list(iter_rows(self.spec.name, load_instances(self.spec.instances_file(split))))
        self.next_index = 0

    def take(self, count: int) -> list[InstanceRow]:
        start, self.next_index = self.next_index, self.next_index + count
        return [InstanceRow(row.game, row.experiment_index, row.experiment, index, row.instance)
                for index, row in ((i, self.rows[i % len(self.rows)]) for i in range(start, start + count))]


@contextlib.contextmanager
def test_server_process(latency_ms: float) -> Iterator[str]:
    """``python -m playpen.testing.server`` on a free port; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "playpen.testing.server", "--port", str(port),
                                "--latency", str(latency_ms / 1000)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=1):
                    break
            except (urllib.error.URLError, OSError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the benchmark's test server did not start") from None
                time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _timed(client: str, run: Callable[[], tuple[int, int]]) -> ClientRun:
    """Wall and process CPU time of ``run() -> (requests, errors)`` (all threads of this process)."""
    cpu, wall = time.process_time(), time.perf_counter()
    requests, errors = run()
    return ClientRun(client, requests, time.perf_counter() - wall, time.process_time() - cpu, errors)


# ---------------------------------------------------------------------- the clients
def _model(base_url: str, concurrency: int):
    from playpen.models.openai_compat import OpenAICompatibleModel

    return OpenAICompatibleModel(base_url, MODEL_ID, name="bench-server", settings=SETTINGS,
                                 max_concurrency=concurrency, send_request_context=True, max_retries=0)


def _run_playpen(base_url: str, rows: _Rows, concurrency: int, requests: int, per_episode: float) -> ClientRun:
    model = _model(base_url, concurrency)
    try:
        players = {role: model for role in rows.spec.roles}
        # warm-up, untimed: imports, first-call caches (connections belong to a run's own event loop, so
        # opening them is part of the timed run, as it is of every run)
        run_episodes([EpisodeJob(rows.spec, row, players) for row in rows.take(concurrency)], batch_size=concurrency)
        jobs = [EpisodeJob(rows.spec, row, players) for row in rows.take(math.ceil(requests / per_episode))]

        def play() -> tuple[int, int]:
            results = run_episodes(jobs, batch_size=concurrency)
            return sum(len(r.generations) for r in results), sum(r.errored for r in results)

        return _timed("playpen", play)
    finally:
        model.close()


@dataclass
class _Recording:
    """The request bodies Playpen sent in an untimed run: the baselines replay them, so the server does the
    same work for every client (the scripted players answer from the messages alone)."""

    bodies: list[dict[str, Any]]
    requests_per_episode: float


def _record(base_url: str, rows: _Rows, concurrency: int, count: int) -> _Recording:
    model = _model(base_url, concurrency)
    players = {role: model for role in rows.spec.roles}
    bodies: list[dict[str, Any]] = []
    episodes = 0
    while len(bodies) < count:
        batch = rows.take(max(concurrency, 32))
        results = run_episodes([EpisodeJob(rows.spec, row, players) for row in batch], batch_size=concurrency)
        answered = [g.prompt for r in results for g in r.generations if g.error is None]
        if not answered:
            raise PlaypenError(f"the benchmark's test server at {base_url} answered no request: "
                               f"{next((r.error for r in results if r.errored), 'no answers')}")
        bodies += answered
        episodes += len(batch)
    model.close()
    return _Recording(bodies[:count], len(bodies) / episodes)


def _content(data: Any) -> str:
    return data["choices"][0]["message"]["content"]


async def _replay(client: str, items: list[Any], concurrency: int, post: Callable[[Any], Awaitable[bool]]) -> ClientRun:
    """``concurrency`` tasks ``post`` the items (``post`` says whether the answer was good); a first wave of
    ``concurrency`` items warms up (connections) untimed."""

    async def drain(queue: Iterator[Any]) -> int:
        failed = 0
        for item in queue:
            failed += not await post(item)
        return failed

    async def wave(batch: list[Any]) -> int:
        queue = iter(batch)
        return sum(await asyncio.gather(*(drain(queue) for _ in range(concurrency))))

    await wave(items[:concurrency])
    cpu, wall = time.process_time(), time.perf_counter()
    errors = await wave(items)
    return ClientRun(client, len(items), time.perf_counter() - wall, time.process_time() - cpu, errors)


def _run_raw(base_url: str, recording: _Recording, concurrency: int) -> ClientRun:
    import aiohttp

    payloads = [json.dumps(b, default=str).encode() for b in recording.bodies]
    url = f"{base_url}/chat/completions"

    async def main() -> ClientRun:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector, headers={"Content-Type": "application/json"}) as session:
            async def post(payload: bytes) -> bool:
                async with session.post(url, data=payload) as response:
                    return response.status == 200 and isinstance(_content(json.loads(await response.read())), str)

            return await _replay("raw", payloads, concurrency, post)

    return asyncio.run(main())


def _run_openai(base_url: str, recording: _Recording, concurrency: int) -> ClientRun:
    from openai import AsyncOpenAI

    bodies = json.loads(json.dumps(recording.bodies, default=str))
    standard = ("model", "messages", "temperature", "max_tokens")

    async def main() -> ClientRun:
        client = AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0)

        async def post(body: dict[str, Any]) -> bool:
            completion = await client.chat.completions.create(
                **{k: body[k] for k in standard}, extra_body={k: v for k, v in body.items() if k not in standard})
            return isinstance(completion.choices[0].message.content, str)

        try:
            return await _replay("openai", bodies, concurrency, post)
        finally:
            await client.close()

    return asyncio.run(main())


# ---------------------------------------------------------------------- the benchmark
def bench_rollout(game: str = "taboo", *, latency_ms: float = 50, concurrency: int = 64,
                  requests: int | None = None, clients: tuple[str, ...] = CLIENTS, repeats: int = 3,
                  split: str = "validation") -> dict[str, Any]:
    """Each client in turn, ``repeats`` rounds, against one test server; returns the figures (JSON-able).

    ``requests`` defaults to 128 per unit of concurrency, at most 2,048 (a few seconds per run)."""
    unknown = sorted(set(clients) - set(CLIENTS))
    if unknown:
        raise PlaypenError(f"unknown client {', '.join(unknown)} (choose from {', '.join(CLIENTS)})")
    requests = requests or min(2048, 128 * concurrency)
    notes = []
    if "openai" in clients and importlib.util.find_spec("openai") is None:
        clients = tuple(c for c in clients if c != "openai")
        notes.append("openai client skipped: the openai package is not installed (pip install openai)")
    ideal = concurrency / (latency_ms / 1000)
    rows = _Rows(game, split)
    runs: list[dict[str, Any]] = []
    with test_server_process(latency_ms) as base_url:
        recording = _record(base_url, rows, concurrency, requests)
        per_episode = recording.requests_per_episode
        for repeat in range(repeats):
            # every other round in reverse order, so that a drifting load favours no client
            for client in (clients if repeat % 2 == 0 else clients[::-1]):
                if client == "playpen":
                    run = _run_playpen(base_url, rows, concurrency, requests, per_episode)
                elif client == "raw":
                    run = _run_raw(base_url, recording, concurrency)
                else:
                    run = _run_openai(base_url, recording, concurrency)
                runs.append({"repeat": repeat, **run.figures(ideal)})
    summary = {}
    for client in clients:
        mine = [r for r in runs if r["client"] == client]
        summary[client] = {key: round(statistics.median(r[key] for r in mine), 3)
                           for key in ("requests_per_s", "of_ideal", "cpu_ms_per_request")}
    figures: dict[str, Any] = {
        "game": game, "latency_ms": latency_ms, "concurrency": concurrency, "requests": requests,
        "ideal_requests_per_s": round(ideal, 1), "requests_per_episode": round(per_episode, 2), "repeats": repeats,
        "summary": summary, "runs": runs, "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(), "notes": notes,
    }
    if "playpen" in clients and "raw" in clients:
        # each round's ratio, then their median: the two ran minutes apart at most
        ratios = [p["requests_per_s"] / r["requests_per_s"]
                  for p, r in zip((x for x in runs if x["client"] == "playpen"), (x for x in runs if x["client"] == "raw"))]
        figures["playpen_vs_raw"] = round(statistics.median(ratios), 3)
    return figures


def format_figures(figures: dict[str, Any]) -> list[str]:
    """The figures as a small text table (what ``playpen bench rollout`` prints before the JSON line)."""
    load = " ".join(f"{x:g}" for x in figures["load_average"])
    lines = [f"{figures['game']} at {figures['latency_ms']:g} ms/request, concurrency {figures['concurrency']}, "
             f"{figures['requests']} requests per run, ideal {figures['ideal_requests_per_s']:g} requests/s "
             f"(load average {load}, {figures['cpus']} CPUs; medians of {figures['repeats']} rounds)",
             f"{'client':<10}{'requests/s':>12}{'of ideal':>10}{'CPU ms/request':>16}"]
    for client, summary in figures["summary"].items():
        lines.append(f"{client:<10}{summary['requests_per_s']:>12.1f}{summary['of_ideal']:>10.2f}"
                     f"{summary['cpu_ms_per_request']:>16.2f}")
    if "playpen_vs_raw" in figures:
        lines.append(f"playpen / raw (a bare aiohttp loop, same rounds): {figures['playpen_vs_raw']:.2f}")
    errors = sum(r["errors"] for r in figures["runs"])
    if errors:
        lines.append(f"{errors} requests failed: the figures are not comparable")
    lines.extend(f"note: {note}" for note in figures["notes"])
    return lines

"""Rollout benchmarks (``playpen bench rollout``): how close the engine gets to ideal concurrency.

A local OpenAI-compatible test server, in a process of its own like a real server, answers every request
with the game's scripted player after a fixed delay. With ``c`` episodes in flight, each needing ``r``
sequential requests of latency ``l``, the ideal throughput is ``c / (r · l)`` episodes per second;
``efficiency`` = measured / ideal.
"""

from __future__ import annotations

import contextlib
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx

from playpen.core.instances import iter_rows, load_instances
from playpen.models.base import GenerationSettings
from playpen.rollout.engine import EpisodeJob, run_episodes


def _jobs(game: str, model: Any, episodes: int, split: str) -> list[EpisodeJob]:
    from playpen.games import get_game

    spec = get_game(game)
    rows = list(iter_rows(spec.name, load_instances(spec.instances_file(split))))
    players = {role: model for role in spec.roles}
    jobs = []
    for index in range(episodes):
        row = rows[index % len(rows)]
        # distinct episode keys, so the scripted server keeps one player per episode
        row = type(row)(row.game, row.experiment_index, row.experiment, index, row.instance)
        jobs.append(EpisodeJob(spec, row, players))
    return jobs


@contextlib.contextmanager
def test_server_process(latency_ms: float) -> Iterator[str]:
    """``python -m playpen.models.testserver`` on a free port; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "playpen.models.testserver", "--port", str(port),
                                "--latency", str(latency_ms / 1000)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base_url}/models", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the benchmark's test server did not start") from None
                time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


def measure(game: str, *, latency_ms: float, concurrency: int, episodes: int, split: str = "validation") -> dict[str, float]:
    from playpen.models.openai_compat import OpenAICompatibleModel

    with test_server_process(latency_ms) as base_url:
        model = OpenAICompatibleModel(base_url, "playpen-test", name="bench-server",
                                      settings=GenerationSettings(0.0, 300), max_concurrency=concurrency,
                                      send_request_context=True, max_retries=0)
        jobs = _jobs(game, model, episodes, split)
        run_episodes(jobs[: min(concurrency, len(jobs))], batch_size=concurrency)  # warm-up: connections, imports
        start = time.perf_counter()
        results = run_episodes(jobs, batch_size=concurrency)
        elapsed = time.perf_counter() - start
        model.close()
    errored = sum(r.errored for r in results)
    requests = [r.master.requests for r in results if r.master is not None]
    mean_requests = statistics.fmean(requests)
    measured = len(results) / elapsed
    # episodes run in waves of `concurrency`; each takes mean_requests round trips of `latency`
    ideal = min(concurrency, episodes) / (mean_requests * latency_ms / 1000)
    return {"episodes": len(results), "errored": errored, "seconds": elapsed, "episodes_per_s": measured,
            "ideal_episodes_per_s": ideal, "efficiency": measured / ideal, "mean_requests": mean_requests}


def bench_rollout(game: str = "taboo", *, latency_ms: float = 50, concurrency: int = 64, episodes: int = 256,
                  sequential_episodes: int = 16) -> dict[str, Any]:
    """Concurrency ``concurrency`` vs 1 in the same run; returns the figures (the last line's JSON)."""
    concurrent = measure(game, latency_ms=latency_ms, concurrency=concurrency, episodes=episodes)
    sequential = measure(game, latency_ms=latency_ms, concurrency=1, episodes=sequential_episodes)
    return {
        "game": game,
        "latency_ms": latency_ms,
        "concurrency": concurrency,
        "episodes": concurrent["episodes"],
        "errored": concurrent["errored"],
        "episodes_per_s": round(concurrent["episodes_per_s"], 2),
        "ideal_episodes_per_s": round(concurrent["ideal_episodes_per_s"], 2),
        "efficiency": round(concurrent["efficiency"], 3),
        "sequential_episodes_per_s": round(sequential["episodes_per_s"], 3),
        "sequential_efficiency": round(sequential["efficiency"], 3),
        "speedup_vs_sequential": round(concurrent["episodes_per_s"] / sequential["episodes_per_s"], 1),
        "mean_requests_per_episode": round(concurrent["mean_requests"], 2),
    }

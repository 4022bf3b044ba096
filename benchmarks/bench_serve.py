"""The HTTP door's overhead: episodes per second played through `playpen serve` by 64 concurrent OpenEnv clients
vs `playpen run` playing the same episodes in-process, scripted players everywhere, every episode recorded.

The server runs as its own process (`playpen serve -g all -p scripted`); the clients are asyncio
`PlaypenClient`s in this process, each answering as the game's scripted learner. Usage:
    python benchmarks/bench_serve.py [--clients 64] [--per-game 8]
"""

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playpen.envs.openenv import PlaypenAction, PlaypenClient
from playpen.games import resolve_games
from playpen.models.scripted import ScriptedModel
from playpen.rollout.planner import run_benchmark, select_rows


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(results: Path, port: int, sessions: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "playpen.cli", "serve", "-g", "all", "-p", "scripted", "--split", "validation",
               "-r", str(results), "--port", str(port), "--max-sessions", str(sessions)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).close()
            return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start: {server.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)


async def play_served(url: str, jobs: list[tuple], clients: int) -> list[float]:
    queue: asyncio.Queue = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    rewards: list[float] = []

    async def client() -> None:
        async with PlaypenClient(base_url=url, message_timeout_s=120) as env:
            while not queue.empty():
                spec, index, row = queue.get_nowait()
                policy = spec.scripted(spec.learner_role(), "competent", row.experiment, row.instance, 0)
                result = await env.reset(game=spec.name, index=index)
                while not result.done:
                    result = await env.step(PlaypenAction(text=policy(result.observation.messages)))
                rewards.append(result.reward)

    await asyncio.gather(*(client() for _ in range(clients)))
    return rewards


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--per-game", type=int, default=8, help="instances of each of the 14 games")
    args = parser.parse_args()
    specs = resolve_games(["all"])
    rows = {spec.name: select_rows(spec, split="validation")[:args.per_game] for spec in specs}
    jobs = [(spec, index, row) for spec in specs for index, row in enumerate(rows[spec.name])]
    with tempfile.TemporaryDirectory() as folder:
        # both sides warm up first (the games' packages load lazily): one episode of each game in-process,
        # one reset of each game on the server
        run_benchmark(specs, [ScriptedModel()], Path(folder) / "warm-up", lambda spec: rows[spec.name][:1])
        start = time.perf_counter()
        summary = run_benchmark(specs, [ScriptedModel()], Path(folder) / "run", lambda spec: rows[spec.name])
        in_process_s = time.perf_counter() - start
        assert summary.played == len(jobs), summary

        port = free_port()
        server = start_server(Path(folder) / "served", port, max(args.clients, 1) * 2)
        try:
            for spec in specs:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/reset", method="POST",
                                                 data=json.dumps({"game": spec.name}).encode(),
                                                 headers={"content-type": "application/json"})
                urllib.request.urlopen(request, timeout=60).close()
            start = time.perf_counter()
            rewards = asyncio.run(play_served(f"http://127.0.0.1:{port}", jobs, args.clients))
            served_s = time.perf_counter() - start
        finally:
            server.terminate()
            server.wait(timeout=30)
        recorded = len(list((Path(folder) / "served").rglob("scores.json")))
    assert len(rewards) == len(jobs) == recorded, (len(rewards), len(jobs), recorded)
    figures = {
        "episodes": len(jobs),
        "clients": args.clients,
        "in_process_episodes_per_s": round(len(jobs) / in_process_s, 1),
        "served_episodes_per_s": round(len(jobs) / served_s, 1),
        "served_over_in_process": round(in_process_s / served_s, 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    print(f"{len(jobs)} episodes (14 games, scripted players, recorded): playpen run in-process "
          f"{figures['in_process_episodes_per_s']} episodes/s; playpen serve with {args.clients} OpenEnv clients "
          f"{figures['served_episodes_per_s']} episodes/s ({figures['served_over_in_process']:.0%} of in-process); "
          f"load {figures['load_average_1min']} on {figures['cpus']} CPUs")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

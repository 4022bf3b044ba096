"""vLLM against the local Hugging Face backend on the same machine: the embedded model plays the same validation
episodes (self-play, temperature 0, the same max tokens) through both; episodes per second of each, their ratio,
and the fraction of identical replies and of equal scores.

    .venv-vllm/bin/python benchmarks/bench_vllm.py [-g all] [--per-experiment 1] [--max-tokens 32]
        [--batch-size 16] [--url http://127.0.0.1:8000/v1]

The default is the full evaluation: every game of clembench 2.0 (``-g all``: 14 games, 63 episodes), one
validation instance per experiment. vLLM plays through the managed backend (``vllm:smollm2-135m``: the server is
started for the run and stopped after it, as ``playpen run -m vllm:smollm2-135m`` does; its start-up, minutes on a
CPU, is reported apart and also counted in ``vllm_episodes_per_s_with_startup``), or through ``--url``, a running
server that serves ``smollm2-135m``. Needs vLLM (found as ``playpen run`` finds it: this interpreter, the venv of
``make vllm-venv``, or ``PLAYPEN_VLLM_PYTHON``; without it the last line says so and nothing is measured). The
1-minute load average is recorded at the start and the end: compare figures taken on a quiet machine. The last
line is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

from playpen.core.errors import PlaypenError
from playpen.games import resolve_games
from playpen.models.base import GenerationSettings
from playpen.models.openai_compat import OpenAICompatibleModel
from playpen.models.registry import load_model
from playpen.models.vllm_server import find_vllm_python
from playpen.rollout.engine import EpisodeJob, run_episodes
from playpen.rollout.planner import select_rows

NAME = "smollm2-135m"


def play(model, specs_rows, batch_size):
    """Seconds, and per episode: (replies in order, scores as JSON)."""
    jobs = [EpisodeJob(spec, row, {role: model for role in spec.roles}) for spec, rows in specs_rows for row in rows]
    start = time.perf_counter()
    results = run_episodes(jobs, batch_size=batch_size)
    seconds = time.perf_counter() - start
    outcome = {}
    for result in results:
        master = result.master
        replies = [m["content"] for role in master.history_of for m in master.history_of[role] if m["role"] == "assistant"]
        outcome[(result.job.spec.name, result.job.row.key)] = (replies, json.dumps(master.scores(), sort_keys=True,
                                                                                    default=str))
    return seconds, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-g", "--games", default="all", help="'all', 'in', 'out' or game names, comma-separated")
    parser.add_argument("--per-experiment", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--url", default=None, help="a running vLLM server (serving smollm2-135m)")
    args = parser.parse_args()
    specs_rows = [(spec, select_rows(spec, split="validation", per_experiment=args.per_experiment))
                  for spec in resolve_games(args.games.split(","))]
    settings = GenerationSettings(temperature=0.0, max_tokens=args.max_tokens)
    figures: dict = {"games": len(specs_rows), "episodes": sum(len(rows) for _, rows in specs_rows),
                     "per_experiment": args.per_experiment, "max_tokens": args.max_tokens,
                     "batch_size": args.batch_size, "cpus": os.cpu_count(), "load_average_1min": os.getloadavg()[0]}

    if not args.url:
        try:
            find_vllm_python()
        except PlaypenError as error:  # `make bench` on a machine without vLLM: said, not failed
            print(json.dumps({"skipped": str(error)}))
            return
    started = time.perf_counter()
    if args.url:
        served = OpenAICompatibleModel(args.url, NAME, settings=settings, max_concurrency=args.batch_size)
    else:
        served = load_model(f"vllm:{NAME}", settings)
        figures["vllm_startup_s"] = round(time.perf_counter() - started, 1)
        print(f"vLLM server up in {figures['vllm_startup_s']:.0f} s")
    try:
        served_seconds, served_outcome = play(served, specs_rows, args.batch_size)
    finally:
        served.close()  # the managed server stops here, before the local model loads
    print(f"vLLM: {len(served_outcome)} episodes in {served_seconds:.1f} s")
    local = load_model(NAME, settings)
    local_seconds, local_outcome = play(local, specs_rows, args.batch_size)
    local.close()
    print(f"HF: {len(local_outcome)} episodes in {local_seconds:.1f} s")

    pairs = [(a, b) for key in local_outcome for a, b in zip(local_outcome[key][0], served_outcome[key][0], strict=False)]
    identical = sum(a == b for a, b in pairs)
    equal_scores = sum(local_outcome[key][1] == served_outcome[key][1] for key in local_outcome)
    episodes = len(local_outcome)
    figures.update({
        "hf_seconds": round(local_seconds, 1), "vllm_seconds": round(served_seconds, 1),
        "hf_episodes_per_s": round(episodes / local_seconds, 3),
        "vllm_episodes_per_s": round(episodes / served_seconds, 3),
        "speedup": round(local_seconds / served_seconds, 2),
        "identical_replies": identical, "compared_replies": len(pairs),
        "identical_replies_fraction": round(identical / len(pairs), 4) if pairs else math.nan,
        "episodes_identical": sum(local_outcome[k][0] == served_outcome[k][0] for k in local_outcome),
        "equal_scores": equal_scores, "equal_scores_fraction": round(equal_scores / episodes, 4),
        "load_average_1min_end": os.getloadavg()[0],
    })
    if "vllm_startup_s" in figures:
        figures["vllm_episodes_per_s_with_startup"] = round(episodes / (served_seconds + figures["vllm_startup_s"]), 3)
    per_game: dict[str, list[int]] = {}
    for (game, _), (replies, scores) in local_outcome.items():
        tally = per_game.setdefault(game, [0, 0])
        tally[0] += 1
        tally[1] += served_outcome[(game, _)] == (replies, scores)
    for game, (total, same) in per_game.items():
        print(f"  {game}: {same}/{total} episodes identical (replies and scores)")
    print(f"vLLM {served_seconds:.1f} s, HF {local_seconds:.1f} s for {episodes} episodes ({figures['speedup']}x); "
          f"identical replies {identical}/{len(pairs)}, equal scores {equal_scores}/{episodes}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

"""vLLM's CPU build against the local Hugging Face backend on the same machine: the embedded model plays the
same validation episodes (self-play, temperature 0) through both; episodes per second, and how many replies and
scores are identical.

    .venv-vllm/bin/python benchmarks/bench_vllm.py [--games referencegame,taboo] [--per-game 8] [--max-tokens 32]
        [--url http://127.0.0.1:8000/v1]

Needs the venv of ``scripts/vllm-venv.sh`` (``make vllm-venv``). Without ``--url`` it starts vLLM's server on
127.0.0.1 (minutes on a CPU: torch.compile warm-up; reported, not counted) and stops it at the end. The served
model is ``smollm2-135m`` with ``--max-model-len 2048 --dtype float32`` (float32: the local backend's CPU dtype).
The last line is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from playpen.games import get_game
from playpen.models.base import GenerationSettings
from playpen.models.embedded import prepare_embedded_model
from playpen.models.openai_compat import OpenAICompatibleModel
from playpen.models.registry import load_model
from playpen.rollout.engine import EpisodeJob, run_episodes
from playpen.rollout.planner import select_rows
from playpen.models.vllm_server import VLLMServer

NAME = "smollm2-135m"


def play(model, specs_rows, batch_size):
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
    parser.add_argument("--games", default="referencegame,taboo")
    parser.add_argument("--per-game", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--url", default=None, help="a running vLLM server (serving smollm2-135m)")
    args = parser.parse_args()
    specs_rows = [(spec, select_rows(spec, split="validation", per_game=args.per_game))
                  for spec in map(get_game, args.games.split(","))]
    settings = GenerationSettings(temperature=0.0, max_tokens=args.max_tokens)
    server = None
    if args.url is None:
        server = VLLMServer(prepare_embedded_model(), NAME).start()
        print(f"vLLM server up in {server.startup_seconds:.0f} s")
    figures: dict = {"games": args.games, "episodes": sum(len(r) for _, r in specs_rows),
                     "max_tokens": args.max_tokens, "load_average_1min": os.getloadavg()[0]}
    try:
        served = OpenAICompatibleModel(args.url or server.base_url, NAME, settings=settings,
                                       max_concurrency=args.batch_size)
        served_seconds, served_outcome = play(served, specs_rows, args.batch_size)
        served.close()
    finally:
        if server is not None:
            figures["server_startup_seconds"] = round(server.startup_seconds or 0, 1)
            server.stop()
    local = load_model(NAME, settings)
    local_seconds, local_outcome = play(local, specs_rows, args.batch_size)
    replies = [(a, b) for key in local_outcome
               for a, b in zip(local_outcome[key][0], served_outcome[key][0], strict=False)]
    same_length = sum(len(local_outcome[k][0]) == len(served_outcome[k][0]) for k in local_outcome)
    figures.update({
        "vllm_episodes_per_s": round(len(served_outcome) / served_seconds, 3),
        "hf_episodes_per_s": round(len(local_outcome) / local_seconds, 3),
        "speedup": round(local_seconds / served_seconds, 2),
        "identical_replies": sum(a == b for a, b in replies), "compared_replies": len(replies),
        "episodes_same_turns": same_length,
        "identical_scores": sum(local_outcome[k][1] == served_outcome[k][1] for k in local_outcome),
        "load_average_1min_end": os.getloadavg()[0],
    })
    print(f"vLLM {served_seconds:.1f} s, HF {local_seconds:.1f} s for {len(local_outcome)} episodes "
          f"({figures['speedup']}x); identical replies {figures['identical_replies']}/{len(replies)}, "
          f"identical scores {figures['identical_scores']}/{len(local_outcome)}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

"""Does the demo's GRPO training really help? The demo's training for several seeds (default 3), and the mean and
spread of the trained game's validation clemscore before and after (greedy, all 15 validation instances of
referencegame, the learner as Instruction Giver against the scripted follower).

    .venv/bin/python benchmarks/bench_grpo_seeds.py [--seeds 0,1,2] [--steps 10] [--output DIR]

About 12–15 minutes per seed on a 2-core CPU. The runs register their adapters in ``<output>/registry`` (not in
your model registry). The last line of the output is a JSON object: per-seed figures, mean / sample std /
min / max before and after, and ``beats_spread`` = the mean gain exceeds the larger of the before and after
ranges across seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path


def stats(values: list[float]) -> dict[str, float]:
    return {
        "mean": round(statistics.fmean(values), 2),
        "std": round(statistics.stdev(values), 2) if len(values) > 1 else 0.0,
        "min": round(min(values), 2),
        "max": round(max(values), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--output", type=Path, default=None, help="Keep the runs here (default: a temporary folder).")
    parser.add_argument("--ood", default="", help="Comma-separated out-of-domain games to evaluate too (slower).")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    output = args.output or Path(tempfile.mkdtemp(prefix="bench_grpo_seeds_"))
    output.mkdir(parents=True, exist_ok=True)
    os.environ["PLAYPEN_HOME"] = str(output / "registry")  # the runs' aliases stay out of the user's registry

    from playpen.demo import GAME, run_demo

    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    ood = [g for g in args.ood.split(",") if g.strip()]
    runs = []
    started = time.monotonic()
    for seed in seeds:
        result = run_demo(output / f"seed-{seed}", steps=args.steps, seed=seed, ood_games=ood, printer=None)
        run = {
            "seed": seed,
            "before": result.figure("before", GAME),
            "after": result.figure("after", GAME),
            "played_before": result.figure("before", GAME, "played"),
            "played_after": result.figure("after", GAME, "played"),
            "seconds": round(result.seconds, 1),
        }
        runs.append(run)
        print(f"seed {seed}: {GAME} clemscore {run['before']:.2f} -> {run['after']:.2f} "
              f"(% played {run['played_before']:.0f} -> {run['played_after']:.0f}), {run['seconds'] / 60:.1f} min",
              flush=True)
    before, after = stats([r["before"] for r in runs]), stats([r["after"] for r in runs])
    gain = round(after["mean"] - before["mean"], 2)
    spread = max(before["max"] - before["min"], after["max"] - after["min"])
    print(f"{GAME} validation clemscore over {len(runs)} seeds: before {before['mean']:.2f} ± {before['std']:.2f}, "
          f"after {after['mean']:.2f} ± {after['std']:.2f} (mean gain {gain:+.2f}, largest range {spread:.2f})")
    print(json.dumps({
        "benchmark": "grpo_seeds", "game": GAME, "role": "Instruction Giver", "partner": "scripted",
        "steps": args.steps, "seeds": runs, "clemscore_before": before, "clemscore_after": after,
        "mean_gain": gain, "largest_range": round(spread, 2), "beats_spread": gain > spread,
        "seconds": round(time.monotonic() - started, 1), "output": str(output),
    }))


if __name__ == "__main__":
    main()

"""The paper's comparison at CPU scale: ``playpen experiment`` with ``configs/recipes/experiment_cpu.toml``
(SmolLM2-135M-Instruct; SFT, SFT→DPO, GRPO, SFT→GRPO; several seeds), then the change vs base per method.

    .venv/bin/python benchmarks/bench_experiment.py [--recipe FILE] [--output DIR] [--seeds 0,1,2] [--methods ...]
        [--static-games eqbench,ifeval --static-instances path/to/clembench/static]

The CPU recipe's GRPO generates through vLLM (``use_vllm``): run the GRPO methods with the venv of
``make vllm-venv`` (``.venv-vllm/bin/python benchmarks/bench_experiment.py``). Resumable: run it again with the
same ``--output`` and finished stages are skipped. The trained models are
registered in ``<output>/registry`` (not in your model registry). Prints the report's scope rows and, last, a JSON
object with every figure: per method and scope (in / out / static) and per in-domain game, the change of
clemscore and quality vs the base with its 95 % interval, significance and per-seed values; the stage times.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", type=Path, default=ROOT / "configs" / "recipes" / "experiment_cpu.toml")
    parser.add_argument("--output", type=Path, default=Path("bench-experiment"))
    parser.add_argument("--seeds", default=None, help="Comma-separated seeds (default: the recipe's).")
    parser.add_argument("--methods", default=None, help="Comma-separated methods (default: the recipe's).")
    parser.add_argument("--static-games", default=None, help="Comma-separated reference tasks (statscore).")
    parser.add_argument("--static-instances", default=None, help="Folder laid out like clembench's static/.")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.output.mkdir(parents=True, exist_ok=True)
    os.environ["PLAYPEN_HOME"] = str(args.output.resolve() / "registry")

    from playpen.train.experiment import Experiment, json_safe, load_recipe

    overrides = {}
    if args.seeds:
        overrides["seeds"] = [int(s) for s in args.seeds.split(",")]
    if args.methods:
        overrides["methods"] = args.methods.split(",")
    if args.static_games:
        overrides["static_games"] = args.static_games.split(",")
    if args.static_instances:
        overrides["static_instances"] = args.static_instances
    recipe = load_recipe(args.recipe, overrides)
    started = time.monotonic()
    report = Experiment(recipe, args.output).run()
    rows = [r for r in report["rows"] if r["figure"] in ("clemscore", "quality", "played")]
    for row in rows:
        if not row["game"] and row["figure"] == "clemscore":
            print(f"{row['method']:>9} {row['scope']:>6}: {row['base']:6.2f} -> {row['trained']:6.2f} "
                  f"change {row['change']:+6.2f} [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]"
                  f"{' *' if row['significant'] else ''}")
    figures = {
        "recipe": str(args.recipe.relative_to(ROOT) if args.recipe.is_relative_to(ROOT) else args.recipe),
        "seeds": recipe.seeds,
        "rows": [{k: row[k] for k in ("method", "scope", "game", "figure", "base", "trained", "trained_ci_low",
                                      "trained_ci_high", "change", "ci_low", "ci_high", "significant", "seeds",
                                      "seed_sd", "per_seed")} for row in rows],
        "stage_seconds": report["stage_seconds"],
        "seconds_this_run": round(time.monotonic() - started, 1),
    }
    print(json.dumps(json_safe(figures)))


if __name__ == "__main__":
    main()

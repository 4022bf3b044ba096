"""How much could RL that sharpens a policy gain? Greedy play vs K sampled plays of every instance.

GRPO raises the probability of the replies that scored better than their group. If the model's own samples never
do better than its greedy reply on an instance, GRPO has nothing there to reinforce. This benchmark plays each
instance once greedily and ``--samples`` times at ``--temperature`` (the learner role against the scripted
partner, as the experiment's in-domain evaluation) and prints per game:

- the greedy mean score and the sampled mean score (aborted episodes count 0, as in the clemscore);
- best-of-K: the mean over instances of the best sampled score; the ceiling: of the better of the greedy and the
  best sampled score (a policy that kept every greedy win and added every sampled one: what sharpening can reach);
- of the instances the greedy reply scores 0 on, how many a sample scores on, and on how many half of the samples do.

    .venv-vllm/bin/python benchmarks/bench_sampling_headroom.py -m runs/exp/runs/sft/seed-0/train/final \\
        -g taboo,wordle_withclue --roles taboo=WordGuesser --samples 8 --split test [--backend vllm]

The last line of the output is a JSON object with these figures per game.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path


def main_scores(root: Path) -> dict[str, float]:
    """Episode key (``<game>/<experiment>/<episode>``) -> main score, 0 for an aborted or unscored episode."""
    from playpen.results.records import episodes

    scores = {}
    for episode in episodes(root):
        value = episode.scores.get("episode scores", {}).get("Main Score")
        number = float(value) if isinstance(value, (int, float)) else math.nan
        scores[episode.key] = 0.0 if math.isnan(number) else number
    return scores


def headroom(greedy: dict[str, float], sampled: list[dict[str, float]]) -> dict[str, float | int]:
    keys = sorted(greedy)
    best = {key: max(run[key] for run in sampled) for key in keys}
    missed = [key for key in keys if greedy[key] == 0]
    return {
        "instances": len(keys),
        "samples": len(sampled),
        "greedy": round(sum(greedy.values()) / len(keys), 2),
        "sampled": round(sum(run[key] for run in sampled for key in keys) / (len(keys) * len(sampled)), 2),
        "best_of_k": round(sum(best.values()) / len(keys), 2),
        # a policy that kept every greedy win and added every instance a sample won: what sharpening can reach
        "ceiling": round(sum(max(greedy[key], best[key]) for key in keys) / len(keys), 2),
        "greedy_zero": len(missed),
        "greedy_zero_a_sample_scores": sum(best[key] > 0 for key in missed),
        "greedy_zero_half_the_samples_score": sum(
            2 * sum(run[key] > 0 for run in sampled) >= len(sampled) for key in missed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", required=True, help="A model alias or a checkpoint / LoRA adapter folder.")
    parser.add_argument("-g", "--games", default="taboo,wordle_withclue")
    parser.add_argument("--roles", default="taboo=WordGuesser", help="game=role pairs for the learner, comma-separated")
    parser.add_argument("--split", default="test")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--backend", choices=("huggingface", "vllm"), default="huggingface")
    parser.add_argument("--output", type=Path, default=None, help="Keep the episodes here (default: a temporary folder).")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from playpen.eval.policy import evaluate_policy
    from playpen.games import resolve_games
    from playpen.models.base import GenerationSettings
    from playpen.models.registry import VLLM_PREFIX, load_model

    specs = resolve_games(args.games.split(","))
    wanted = dict(pair.split("=", 1) for pair in args.roles.split(",") if pair)
    roles = {spec.name: spec.learner_role(wanted.get(spec.name)) for spec in specs}
    name = f"{VLLM_PREFIX}{args.model}" if args.backend == "vllm" else args.model
    partner = load_model("scripted")
    output = args.output or Path(tempfile.mkdtemp(prefix="headroom-"))
    started = time.monotonic()
    runs = {}
    for label, temperature, count in (("greedy", 0.0, 1), ("sampled", args.temperature, args.samples)):
        model = load_model(name, GenerationSettings(temperature=temperature, max_tokens=args.max_new_tokens))
        try:
            for index in range(count):
                folder = output / f"{label}-{index}"
                evaluate_policy(model, specs, roles=roles, partner=partner, split=args.split, per_experiment=None,
                                results_dir=folder)
                runs.setdefault(label, []).append(main_scores(folder))
                print(f"{label} play {index + 1}/{count} done ({(time.monotonic() - started) / 60:.1f} min)", flush=True)
        finally:
            close = getattr(model, "close", None)
            if close is not None:
                close()
    figures = {}
    for spec in specs:
        prefix = f"{spec.name}/"

        def of_game(scores: dict[str, float]) -> dict[str, float]:
            return {key: value for key, value in scores.items() if key.startswith(prefix)}

        figures[spec.name] = headroom(of_game(runs["greedy"][0]), [of_game(run) for run in runs["sampled"]])
        row = figures[spec.name]
        print(f"{spec.name}: {row['instances']} instances; greedy {row['greedy']:.2f}, sampled mean {row['sampled']:.2f}, "
              f"best of {row['samples']} {row['best_of_k']:.2f}, ceiling {row['ceiling']:.2f}; greedy 0 on {row['greedy_zero']}: a sample scores on "
              f"{row['greedy_zero_a_sample_scores']}, half the samples on {row['greedy_zero_half_the_samples_score']}")
    print(json.dumps({"model": args.model, "split": args.split, "temperature": args.temperature,
                      "backend": args.backend, "minutes": round((time.monotonic() - started) / 60, 1),
                      "games": figures}))


if __name__ == "__main__":
    main()

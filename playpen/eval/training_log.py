"""A training run's log and curves: ``training_log.csv`` (the one writer, for SFT, DPO and GRPO), ``loss.png``
(SFT, DPO) and ``learning_curves.png`` (GRPO: rollouts, optimisation and the evaluations during training)."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from playpen.eval.html import png_of, pyplot
from playpen.eval.clemscore import as_number
from playpen.eval.policy import read_csv_rows

#: the columns of ``training_log.csv`` that come first, in this order (any other numeric key follows by name)
LOG_KEYS = ("step", "loss", "reward", "reward_std", "frac_reward_zero_std", "kl", "entropy", "rollout/played",
            "rollout/success", "rollout/partner_replaced", "rollout/resampled", "rollout/cut", "completions/mean_length", "grad_norm", "learning_rate")


def write_training_log(log_history: list[dict[str, Any]], output_dir: Path) -> Path | None:
    """``training_log.csv``: one row per logged step of a trainer's log history (the entries with a step and a
    loss, an evaluation loss or a reward: TRL's metrics, and GRPO's rollout metrics); None when there is none."""
    steps = [e for e in log_history if "step" in e and any(k in e for k in ("loss", "eval_loss", "reward"))]
    if not steps:
        return None
    keys = [k for k in LOG_KEYS if any(k in e for e in steps)]
    keys += sorted({k for e in steps for k in e if k not in keys and isinstance(e[k], (int, float))})
    path = output_dir / "training_log.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(steps)
    return path


def plot_loss(log_history: list[dict[str, Any]], output_dir: Path, title: str) -> Path:
    """``loss.png``: the training (and evaluation) loss per step."""
    plt = pyplot()

    figure, axis = plt.subplots(figsize=(7, 4))
    for key in ("loss", "eval_loss"):
        points = [(e["step"], e[key]) for e in log_history if key in e and "step" in e]
        if points:
            axis.plot(*zip(*points), marker="o" if len(points) < 30 else None, label=key)
    axis.set_xlabel("step")
    axis.set_ylabel("loss")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    path = output_dir / "loss.png"
    path.write_bytes(png_of(figure))
    return path


def plot_learning_curves(output_dir: Path) -> Path | None:
    """``learning_curves.png``: rollout reward and outcome rates, loss and KL per step, and the validation
    figures (clemscore per domain, % played of each trained game) at every evaluation."""
    output_dir = Path(output_dir)
    training = read_csv_rows(output_dir / "training_log.csv")
    evaluation = read_csv_rows(output_dir / "eval_metrics.csv")
    if not training and not evaluation:
        return None
    plt = pyplot()

    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4))
    steps = [as_number(r["step"]) for r in training]
    # reward_std: the spread within groups that GRPO learns from (0 in a group = no signal from it)
    panels = ((left, ("reward", "reward_std", "frac_reward_zero_std", "rollout/played", "rollout/success")),
              (middle, ("loss", "kl")))
    for axis, keys in panels:
        for key in keys:
            values = [as_number(r.get(key)) for r in training]
            if any(not math.isnan(v) for v in values):
                axis.plot(steps, values, marker="o" if len(steps) <= 30 else None, markersize=3, label=key)
    left.set_title("training rollouts (sampled)")
    middle.set_title("optimisation")
    for scope, style in (("all", "-o"), ("in", "--s"), ("out", ":^"), ("static", "-.d")):
        points = [(as_number(r["step"]), as_number(r["clemscore"])) for r in evaluation if r["scope"] == scope]
        if points:
            right.plot(*zip(*points), style, label="statscore" if scope == "static" else f"clemscore ({scope})")
    games = sorted({r["game"] for r in evaluation if r["scope"] == "game"})
    for game in games if len(games) <= 6 else []:
        points = [(as_number(r["step"]), as_number(r["played"])) for r in evaluation if r["scope"] == "game" and r["game"] == game]
        right.plot(*zip(*points), linestyle="-", alpha=0.5, marker=".", label=f"% played {game}")
    best = output_dir / "best" / "best.json"
    if best.is_file():
        import json

        chosen = json.loads(best.read_text(encoding="utf-8"))
        right.axvline(chosen["step"], color="#2a2", linestyle=":", label=f"kept (best by {chosen['select_by']})")
    if not evaluation:
        right.text(0.5, 0.5, "no evaluation during training\n(evaluate = false, or eval_steps = 0)",
                   ha="center", va="center", transform=right.transAxes, color="#666")
    right.set_title("validation (greedy)")
    for axis in (left, middle, right):
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
        if axis.lines:
            axis.legend(fontsize=7)
    figure.tight_layout()
    path = output_dir / "learning_curves.png"
    path.write_bytes(png_of(figure))
    return path

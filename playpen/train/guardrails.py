"""Guardrails while GRPO trains: keep the best evaluated checkpoint by a chosen scope, stop when the general
skills (the static suite's statscore) fall too far.

The evaluation callback (``train.callbacks.EvalCallback``) evaluates the policy before training, every
``eval_steps`` steps and at the end, and appends one row per scope to ``eval_metrics.csv``. These functions read
that history — ``{step: {scope: clemscore}}``, scopes ``in``, ``out``, ``static`` (the statscore) and ``all``
(the clemscore over the dialogue games played) — and decide; they are pure, so they are tested on hand-made
histories.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from playpen.core.errors import PlaypenError

#: what ``select_by`` may name, and the evaluation scope it reads
SELECT_SCOPES = {"in": "in", "out": "out", "static": "static", "clemscore": "all"}

History = Mapping[int, Mapping[str, float]]


def check_guardrails(select_by: str | None, stop_static_drop: float | None, *, evaluates: bool,
                     static_games: Sequence[str]) -> None:
    """Refuse settings that cannot work, before any training."""
    if select_by is not None and select_by not in SELECT_SCOPES:
        raise PlaypenError(f"select_by must be one of {', '.join(SELECT_SCOPES)}, not '{select_by}'")
    if (select_by is not None or stop_static_drop is not None) and not evaluates:
        raise PlaypenError("select_by and stop_static_drop need the evaluation during training (evaluate = true, "
                           "and eval_steps > 0 to evaluate between the start and the end)")
    if stop_static_drop is not None and (not math.isfinite(stop_static_drop) or stop_static_drop < 0):
        raise PlaypenError(f"stop_static_drop must be a number of points >= 0, not {stop_static_drop}")
    if (select_by == "static" or stop_static_drop is not None) and not static_games:
        raise PlaypenError("selecting by or stopping on the statscore needs reference tasks to evaluate "
                           "(eval_static_games and eval_static_instances)")


def history_from_rows(rows: Sequence[Mapping[str, Any]]) -> dict[int, dict[str, float]]:
    """``{step: {scope: clemscore}}`` from ``eval_metrics.csv`` rows (``read_eval_rows``); per-game rows skipped."""
    history: dict[int, dict[str, float]] = {}
    for row in rows:
        if row["scope"] != "game":
            history.setdefault(int(row["step"]), {})[row["scope"]] = float(row["clemscore"])
    return history


def best_step(history: History, select_by: str) -> tuple[int, float] | None:
    """The evaluated step with the highest figure of the chosen scope and that figure; a tie goes to the earlier
    step (fewer updates away from the start). None when no step has the figure."""
    scope = SELECT_SCOPES[select_by]
    scored = [(step, figures[scope]) for step, figures in sorted(history.items())
              if scope in figures and not math.isnan(figures[scope])]
    if not scored:
        return None
    return max(scored, key=lambda pair: (pair[1], -pair[0]))


def static_drop(history: History) -> float | None:
    """How many points the latest statscore lies below the one before training (the first evaluated step);
    None without two statscores."""
    scored = [(step, figures["static"]) for step, figures in sorted(history.items())
              if not math.isnan(figures.get("static", math.nan))]
    if len(scored) < 2:
        return None
    return scored[0][1] - scored[-1][1]


def should_stop(history: History, stop_static_drop: float | None) -> bool:
    """Whether the statscore has fallen by more than ``stop_static_drop`` points since before training."""
    if stop_static_drop is None:
        return False
    drop = static_drop(history)
    return drop is not None and drop > stop_static_drop

"""dond's scores, as clembench v3.0 computes them.

A player's points: the sum over item types of (items it proposed to take × its value of the type); both players get
points only when their proposals fit together (Success). ``coop``: the score is ``1 − (best possible sum − sum) /
best possible sum``; ``semi``: ``1 − (largest gain one player could still get without the other losing) / best
single-player score`` (after a failed agreement the gain is the best single-player score); ``comp``: always 1
(every outcome is Pareto-optimal). Main Score: 100 × score, NaN for an aborted episode.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Mapping, Sequence


def points(counts: Sequence[int], values: Sequence[int]) -> int:
    return sum(count * value for count, value in zip(counts, values))


def max_sum(counts: Sequence[int], values_a: Sequence[int], values_b: Sequence[int]) -> int:
    """Every item to the player who values it more."""
    return sum(count * max(a, b) for count, a, b in zip(counts, values_a, values_b))


def max_player(counts: Sequence[int], values_a: Sequence[int], values_b: Sequence[int]) -> int:
    return max(points(counts, values_a), points(counts, values_b))


def pareto_gain(counts: Sequence[int], values_a: Sequence[int], values_b: Sequence[int],
                taken_a: Sequence[int], taken_b: Sequence[int]) -> int:
    """The largest gain of one player over a split that leaves neither worse off (every split is tried)."""
    now_a, now_b = points(taken_a, values_a), points(taken_b, values_b)
    best = 0
    for share in itertools.product(*(range(count + 1) for count in counts)):
        gain_a = points(share, values_a) - now_a
        gain_b = points([c - s for c, s in zip(counts, share)], values_b) - now_b
        if gain_a >= 0 and gain_b >= 0:
            best = max(best, gain_a, gain_b)
    return best


def outcome_keys(mode: str, instance: Mapping[str, Any], success: bool,
                 proposal_a: Sequence[int] | None, proposal_b: Sequence[int] | None) -> dict[str, Any]:
    """The keys clembench's dond logs at the end of an episode, in its order (after the outcome flags)."""
    counts, values_a, values_b = instance["item_counts"], instance["player_a_values"], instance["player_b_values"]
    total = points(proposal_a, values_a) + points(proposal_b, values_b) if success else 0
    best_sum, best_player = max_sum(counts, values_a, values_b), max_player(counts, values_a, values_b)
    if mode == "coop":
        best_gain, gain = best_sum, best_sum - total
    elif mode == "semi":
        best_gain = best_player
        gain = pareto_gain(counts, values_a, values_b, proposal_a, proposal_b) if success else best_player
    elif mode == "comp":
        best_gain, gain = 0, 0
    else:
        raise ValueError(f"unknown dond mode '{mode}'")
    if mode == "comp":
        score = 1
    else:
        score = 1 - gain / best_gain if best_gain else math.nan
    return {
        "player_a_proposal": list(proposal_a) if proposal_a is not None else None,
        "player_b_proposal": list(proposal_b) if proposal_b is not None else None,
        "sum_of_scores": total,
        "max_sum_of_scores": best_sum,
        "max_player_scores": best_player,
        "max_pareto_improvement": best_gain,
        "pareto_improvement": gain,
        "pareto_optimal": int(gain == 0),
        "episode_score": score,
    }

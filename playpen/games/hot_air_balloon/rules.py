"""hot_air_balloon's arithmetic: knapsack optima and the normalised utilities clembench v3.0 scores a deal by."""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any, Iterable, Mapping


def best_value(weights: Mapping[str, int], values: Mapping[str, int], limit: int) -> tuple[int, frozenset[str]]:
    """The largest total value of items whose weights stay within ``limit`` (0/1 knapsack, by weight), and one
    such set."""
    best: dict[int, tuple[int, frozenset[str]]] = {0: (0, frozenset())}
    for item, weight in weights.items():
        for used, (value, chosen) in list(best.items()):
            total = used + weight
            if total <= limit and (total not in best or best[total][0] < value + values[item]):
                best[total] = (value + values[item], chosen | {item})
    return max(best.values(), key=lambda entry: entry[0])


def harmonic(a: float, b: float) -> float:
    return 2 * a * b / (a + b) if a + b > 0 else math.nan


def best_harmonic(weights: Mapping[str, int], values_1: Mapping[str, int], values_2: Mapping[str, int], limit: int,
                  max_1: int, max_2: int) -> float:
    """The best harmonic mean of the two normalised utilities (0–100) over the sets within ``limit`` (every subset
    is tried: for our instances of at most 13 items)."""
    items = list(weights)
    best = 0.0
    for size in range(len(items) + 1):
        for chosen in combinations(items, size):
            if sum(weights[i] for i in chosen) <= limit:
                u1 = 100 * sum(values_1[i] for i in chosen) / max_1
                u2 = 100 * sum(values_2[i] for i in chosen) / max_2
                if u1 + u2 > 0:
                    best = max(best, harmonic(u1, u2))
    return best


def deal_scores(instance: Mapping[str, Any], deal: Iterable[str] | None) -> dict[str, float]:
    """clembench's normalised utilities of a final deal (NaN without one): each player's utility in % of its best
    possible, their harmonic mean in % of the best one (``equal`` mode: player 1's utility), all 0 when the deal is
    heavier than allowed."""
    nan = math.nan
    if deal is None:
        return {"u1": nan, "u2": nan, "score": nan, "weight": 0}
    deal = set(deal)
    score_1 = sum(instance["player1_preferences"][item] for item in deal)
    score_2 = sum(instance["player2_preferences"][item] for item in deal)
    u1 = score_1 / instance["max_u1"] * 100 if instance["max_u1"] > 0 else nan
    u2 = score_2 / instance["max_u2"] * 100 if instance["max_u2"] > 0 else nan
    mean = harmonic(u1, u2) if not (math.isnan(u1) or math.isnan(u2)) else nan
    score = mean / instance["max_harmonic"] * 100 if instance["max_total_utility"] > 0 else nan
    if instance["negotiation_mode"] == "equal":
        score = u1
    weight = sum(instance["item_weights"][item] for item in deal)
    if weight > instance["max_weight"]:
        u1 = u2 = score = 0
    return {"u1": u1, "u2": u2, "score": score, "weight": weight}

"""clean_up's scores, as clembench v3.0 computes them from the logged "ingredients".

* Distance Score: 0 when the boards end further apart than objects dropped at random would be (End > Expected
  Distance Sum), else the mean of ``1 − End/Expected`` and ``1 − End/Init`` (each at least 0);
* Consistency Score: ``1 − (Shifts − Min Shifts) / (Max Shifts + 1 − Min Shifts)``, where a shift is a move
  of another object than the move before (both players' moves in order), Min Shifts ``n − 1`` and Max Shifts
  ``2(n − 1)`` for ``n`` objects; left out when Shifts < Min Shifts;
* Coverage Score: the product over both players of ``(objects it moved + 1) / (n + 1)``;
* Penalty Score: ``1 / (Penalties / Max Penalties − 2) + 1.5`` (1 without penalties, 0.5 at the maximum);
* Main Score: ``Distance Score × Penalty Score × 100`` for a finished game (NaN for an aborted one).
"""

from __future__ import annotations

from typing import Any, Mapping

MOVES = "Moves"
INIT_STATES = "Init States"
END_STATES = "End States"
SHIFTS = "Shifts"
MAX_SHIFTS = "Max Shifts"
MIN_SHIFTS = "Min Shifts"
END_DISTANCE_SUM = "End Distance Sum"
INIT_DISTANCE_SUM = "Init Distance Sum"
EXPECTED_DISTANCE_SUM = "Expected Distance Sum"
PENALTIES = "Penalties"
MAX_PENALTIES = "Max Penalties"
ROUNDS = "Rounds"
MAX_ROUNDS = "Max Rounds"
OBJECT_COUNT = "Object Count"
VALID_MOVES = "Valid Moves"
INVALID_MOVES = "Invalid Moves"
PARSE_ERRORS = "Parse Errors"

DISTANCE_SCORE = "Distance Score"
CONSISTENCY_SCORE = "Consistency Score"
COVERAGE_SCORE = "Coverage Score"
PENALTY_SCORE = "Penalty Score"


def shifts(moves: list[tuple[str, str]]) -> int:
    """How often a move targets another object than the move before it."""
    return sum(moves[i][1] != moves[i - 1][1] for i in range(1, len(moves)))


def distance_score(end: float, init: float, expected: float) -> float:
    if end > expected:
        return 0.0
    to_expected = max(0.0, 1 - end / expected)
    # an instance whose boards start aligned: nothing left to reduce
    to_init = max(0.0, 1 - end / init) if init else float(end == 0)
    return (to_expected + to_init) / 2


def consistency_score(shift_count: int, object_count: int) -> float | None:
    low, high = object_count - 1, 2 * (object_count - 1)
    if shift_count < low:
        return None
    return 1 - (shift_count - low) / (high + 1 - low)


def coverage_score(moves: list[tuple[str, str]], players: tuple[str, str], object_count: int) -> float:
    score = 1.0
    for player in players:
        moved = {obj for mover, obj in moves if mover == player}
        score *= (len(moved) + 1) / (object_count + 1)
    return score


def penalty_score(penalties: int, max_penalties: int) -> float:
    share = penalties / max_penalties if max_penalties else float(penalties > 0)
    return 1 / (share - 2) + 1.5


def sub_metrics(ingredients: Mapping[str, Any], players: tuple[str, str]) -> dict[str, float]:
    """The sub-scores clembench logs (Consistency Score only where defined), in its order."""
    count = ingredients[OBJECT_COUNT]
    scores = {DISTANCE_SCORE: distance_score(ingredients[END_DISTANCE_SUM], ingredients[INIT_DISTANCE_SUM],
                                             ingredients[EXPECTED_DISTANCE_SUM])}
    consistency = consistency_score(ingredients[SHIFTS], count)
    if consistency is not None:
        scores[CONSISTENCY_SCORE] = consistency
    scores[COVERAGE_SCORE] = coverage_score([tuple(m) for m in ingredients[MOVES]], players, count)
    scores[PENALTY_SCORE] = penalty_score(ingredients[PENALTIES], ingredients[MAX_PENALTIES])
    return scores


def main_score(scores: Mapping[str, float]) -> float:
    return scores[DISTANCE_SCORE] * scores[PENALTY_SCORE] * 100

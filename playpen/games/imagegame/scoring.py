"""How clembench v2.0 scores a drawn grid against the target (its ``evaluator`` module, re-implemented).

Grids are compared as text: rows are lines, cells are the pieces between single spaces, letters compare
case-insensitively and ``▢`` counts as empty. The quirks matter for the scores and are kept:

* a grid whose row count or first-row width differs from the target's scores 0 / 0 / 0;
* where clembench's evaluator raises (a drawn row shorter than the target's row, no filled cell in the
  drawn grid or in the target) the function returns ``None`` and the caller keeps the previous scores;
* precision, recall and F1 are rounded to 4 decimals, then scaled to 0-100 and rounded to integers.
"""

from __future__ import annotations

from playpen.games.grids import EMPTY, Grid, parse_grid


def _shape(grid: Grid) -> tuple[int, int]:
    # clembench measures the width on the first row only
    return len(grid), len(grid[0])


def precision_recall_f1(target: str, drawn: str) -> tuple[float, float, float] | None:
    """Precision, recall and F1 (0-100) of ``drawn``; None where clembench's evaluator fails."""
    target_grid, drawn_grid = parse_grid(target), parse_grid(drawn)
    if _shape(target_grid) != _shape(drawn_grid):
        return 0.0, 0.0, 0.0
    target_filled = target_hits = drawn_filled = drawn_hits = 0
    for target_row, drawn_row in zip(target_grid, drawn_grid):
        if len(drawn_row) < len(target_row):
            return None
        for wanted, got in zip(target_row, drawn_row):
            same = wanted == got or wanted.lower() == got.lower()
            if wanted != EMPTY:
                target_filled += 1
                target_hits += same
            if got != EMPTY:
                drawn_filled += 1
                drawn_hits += same
    if not target_filled or not drawn_filled:
        return None
    recall = round(target_hits / target_filled, 4)
    precision = round(drawn_hits / drawn_filled, 4)
    f1 = 0 if precision == 0 or recall == 0 else round(2 * precision * recall / (precision + recall), 4)
    return round(100 * precision, 0), round(100 * recall, 0), round(100 * f1, 0)


def changed_cell_count(previous: str, current: str) -> int:
    """Cells that differ between two consecutive drawn grids (0 where clembench's count fails)."""
    before, after = parse_grid(previous), parse_grid(current)
    if len(after) < len(before) or any(len(new) < len(old) for old, new in zip(before, after)):
        return 0
    return sum(
        old != new and old.lower() != new.lower()
        for old_row, new_row in zip(before, after) for old, new in zip(old_row, new_row)
    )

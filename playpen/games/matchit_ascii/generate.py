"""Seeded matchit_ascii instances: grid pairs for the four v2.0 experiments.

* ``same_grid``: a grid and itself;
* ``similar_grid_1``: a grid and its mirror image (left-right or top-bottom) or a quarter turn, never equal;
* ``similar_grid_2``: a grid and a copy with two cells inverted;
* ``different_grid``: two grids of different shape families that differ in at least three cells.

Grids are the hand-made shapes of :data:`playpen.games.grids.SHAPES` with all their turns and mirror
images. Each symmetry family belongs to one split, and an inverted copy is rejected if it falls into another
split's family, so no grid is shared between splits.

Run ``python -m playpen.games.matchit_ascii.generate`` to rewrite ``in/{train,validation,test}.json``.
"""

from __future__ import annotations

import random
from typing import Callable

from playpen.games.grids import (
    SHAPES, Grid, canonical, differing_cells, flip_horizontal, flip_vertical, from_pattern, invert_cells,
    render_grid, rotate, symmetries,
)
from playpen.games.matchit_ascii.master import DEFAULT_DECISION_TURN, DEFAULT_FLAGS, DIFFERENT_VERDICT, SAME_VERDICT

SIZE = 5
EXPERIMENTS = ("same_grid", "similar_grid_1", "similar_grid_2", "different_grid")
#: instances per experiment (test = clembench v2.0's 10)
PER_EXPERIMENT = {"train": 40, "validation": 3, "test": 10}
#: share of the symmetry families each split draws its grids from
FAMILY_SHARE = {"test": 0.3, "validation": 0.15}
MIN_DIFFERENT_CELLS = 3
TRANSFORMS: tuple[Callable[[Grid], Grid], ...] = (
    flip_horizontal, flip_vertical, rotate, lambda grid: rotate(rotate(rotate(grid))),
)


def _families(rng: random.Random) -> dict[str, list[Grid]]:
    """Grids per split, whole symmetry families at a time."""
    families: dict[Grid, list[Grid]] = {}
    for pattern in SHAPES:
        shape = from_pattern(pattern)
        families.setdefault(canonical(shape), symmetries(shape))
    ordered = [families[key] for key in sorted(families)]
    rng.shuffle(ordered)
    test_end = round(len(ordered) * FAMILY_SHARE["test"])
    validation_end = test_end + round(len(ordered) * FAMILY_SHARE["validation"])
    parts = {"test": ordered[:test_end], "validation": ordered[test_end:validation_end], "train": ordered[validation_end:]}
    return {split: [grid for family in part for grid in family] for split, part in parts.items()}


def _pair(experiment: str, grid: Grid, pool: list[Grid], foreign: set[Grid], rng: random.Random) -> tuple[Grid, Grid] | None:
    """A partner grid for ``grid`` under the experiment's rule, or None if this grid cannot make one."""
    if experiment == "same_grid":
        return grid, grid
    if experiment == "similar_grid_1":
        images = [image for image in (t(grid) for t in TRANSFORMS) if image != grid]
        return (grid, rng.choice(images)) if images else None
    if experiment == "similar_grid_2":
        cells = [(r, c) for r in range(SIZE) for c in range(SIZE)]
        for _ in range(20):
            other = invert_cells(grid, rng.sample(cells, 2))
            if canonical(other) not in foreign:
                return grid, other
        return None
    candidates = [
        other for other in pool
        if canonical(other) != canonical(grid) and len(differing_cells(grid, other)) >= MIN_DIFFERENT_CELLS
    ]
    return (grid, rng.choice(candidates)) if candidates else None


def _pairs(name: str, count: int, pool: list[Grid], foreign: set[Grid], rng: random.Random) -> list[tuple[Grid, Grid]]:
    pairs: list[tuple[Grid, Grid]] = []
    order = pool[:]
    rng.shuffle(order)
    attempts = 0
    while len(pairs) < count:
        if attempts > 50 * count:
            raise ValueError(f"cannot build {count} distinct '{name}' pairs from {len(pool)} grids")
        grid = order[attempts % len(order)]
        attempts += 1
        pair = _pair(name, grid, pool, foreign, rng)
        if pair is None:
            continue
        if rng.random() < 0.5:
            pair = pair[1], pair[0]
        if pair not in pairs:
            pairs.append(pair)
    return pairs


def _experiment(name: str, pairs: list[tuple[Grid, Grid]]) -> dict:
    same = name == "same_grid"
    return {
        "name": name,
        "flags": dict(DEFAULT_FLAGS),
        "solution": SAME_VERDICT if same else DIFFERENT_VERDICT,
        "wrong_solution": DIFFERENT_VERDICT if same else SAME_VERDICT,
        "game_instances": [
            {"game_id": game_id, "grid_a": render_grid(a), "grid_b": render_grid(b), "decision_turn": DEFAULT_DECISION_TURN}
            for game_id, (a, b) in enumerate(pairs)
        ],
    }


def generate(seed: int = 0) -> dict[str, dict]:
    rng = random.Random(f"matchit_ascii-{seed}")
    pools = _families(rng)
    #: symmetry families in use per split, including those of the inverted copies made so far
    families = {split: {canonical(grid) for grid in pool} for split, pool in pools.items()}
    splits = {}
    for split in ("test", "validation", "train"):
        foreign = set().union(*(used for other, used in families.items() if other != split))
        experiments = []
        for name in EXPERIMENTS:
            pairs = _pairs(name, PER_EXPERIMENT[split], pools[split], foreign, rng)
            families[split] |= {canonical(grid) for pair in pairs for grid in pair}
            experiments.append(_experiment(name, pairs))
        splits[split] = {"experiments": experiments}
    return {split: splits[split] for split in ("train", "validation", "test")}

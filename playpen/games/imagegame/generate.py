"""Seeded imagegame instances: ``compact_grids`` (hand-made shapes) and ``random_grids`` (scattered cells),
each grid drawn in one random uppercase letter, as in clembench v2.0.

Compact shapes come from :data:`playpen.games.grids.SHAPES`, grouped into symmetry families (a shape, its
turns and mirror images); each family belongs to exactly one split, so no shape is shared between splits.
Random grids are drawn fresh and never repeat a cell layout, within or across splits.

Run ``python -m playpen.games.imagegame.generate`` to rewrite ``in/{train,validation,test}.json``.
"""

from __future__ import annotations

import random
import string

from playpen.games.grids import EMPTY, SHAPES, Grid, canonical, from_pattern, relabel, render_grid, symmetries
from playpen.games.imagegame.master import DONE_PATTERN, GRID_PATTERN, INSTRUCTION_PATTERN

SIZE = 5
#: instances per experiment; test mirrors clembench v2.0 (30 compact, 29 random)
SIZES = {
    "train": {"compact_grids": 120, "random_grids": 116},
    "validation": {"compact_grids": 4, "random_grids": 4},
    "test": {"compact_grids": 30, "random_grids": 29},
}
#: random grids: this many draws of a cell (with replacement, so a few may coincide), as clembench does
RANDOM_DRAWS = (5, 10)


def _instance(game_id: int, grid: Grid) -> dict:
    return {
        "game_id": game_id,
        "grid_dimension": SIZE,
        "number_of_letters": 0,  # unused; v2.0 files carry 0
        "player_1_response_pattern": INSTRUCTION_PATTERN,
        "player_1_terminate_pattern": DONE_PATTERN,
        "player_2_response_pattern": GRID_PATTERN,
        "fill_row": False,
        "fill_column": False,
        "target_grid": render_grid(grid),
    }


def _shape_families(rng: random.Random) -> list[list[Grid]]:
    families: dict[Grid, list[Grid]] = {}
    for pattern in SHAPES:
        shape = from_pattern(pattern)
        families.setdefault(canonical(shape), symmetries(shape))
    ordered = [families[key] for key in sorted(families)]
    rng.shuffle(ordered)
    return ordered


def _compact_shapes(rng: random.Random) -> dict[str, list[Grid]]:
    """Shapes per split: test and validation take one variant of a family each, train the rest in full."""
    families = _shape_families(rng)
    test_count, validation_count = SIZES["test"]["compact_grids"], SIZES["validation"]["compact_grids"]
    if len(families) < test_count + validation_count + 1:
        raise ValueError("grids.SHAPES has too few shape families for disjoint splits")
    test = [rng.choice(family) for family in families[:test_count]]
    validation = [rng.choice(family) for family in families[test_count:test_count + validation_count]]
    train_pool = [shape for family in families[test_count + validation_count:] for shape in family]
    rng.shuffle(train_pool)
    train = [train_pool[i % len(train_pool)] for i in range(SIZES["train"]["compact_grids"])]
    return {"train": train, "validation": validation, "test": test}


def _random_shapes(rng: random.Random, count: int, taken: set[Grid]) -> list[Grid]:
    shapes = []
    while len(shapes) < count:
        cells = {divmod(rng.randrange(SIZE * SIZE), SIZE) for _ in range(rng.randint(*RANDOM_DRAWS))}
        shape = tuple(tuple("X" if (r, c) in cells else EMPTY for c in range(SIZE)) for r in range(SIZE))
        if shape not in taken:
            taken.add(shape)
            shapes.append(shape)
    return shapes


def generate(seed: int = 0) -> dict[str, dict]:
    rng = random.Random(f"imagegame-{seed}")
    compact = _compact_shapes(rng)
    # a random layout must not repeat one from another split, nor look like a hand-made shape
    taken = {image for pattern in SHAPES for image in symmetries(from_pattern(pattern))}
    splits = {}
    for split in ("test", "validation", "train"):
        shapes = {"compact_grids": compact[split], "random_grids": _random_shapes(rng, SIZES[split]["random_grids"], taken)}
        splits[split] = {
            "experiments": [
                {
                    "name": name,
                    "game_instances": [
                        _instance(game_id, relabel(shape, rng.choice(string.ascii_uppercase)))
                        for game_id, shape in enumerate(shapes[name])
                    ],
                }
                for name in ("compact_grids", "random_grids")
            ]
        }
    return {split: splits[split] for split in ("train", "validation", "test")}

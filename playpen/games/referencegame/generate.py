"""Seeded reference-game instance generator: ``python -m playpen.games.referencegame.generate`` writes
``in/{train,validation,test}.json``.

The five experiments of clembench v2.0, one grid family each (``grids.py``). Each family is shuffled and cut
into disjoint pools, one per split (test: 6 grids as in clembench, validation: 3, train: up to 30). Every grid
of a test or train pool is a target once (validation: only the first one); its distractors are the two grids
of the same pool nearest to it by edit distance of the grid text, and each triplet is emitted three times,
with the target shown to the follower first, second and third. No grid appears in two splits.
"""

from __future__ import annotations

import random
from typing import Any

from playpen.games.referencegame import grids
from playpen.games.referencegame.master import FOLLOWER_PATTERN, GIVER_PATTERN

POSITION_NAMES = (["first", "1"], ["second", "2"], ["third", "3"])
#: grids per experiment and split, and how many of them are targets (each target gives three instances)
POOL_SIZES = {"test": 6, "validation": 3, "train": 30}
TARGETS = {"test": 6, "validation": 1, "train": 30}
RANDOM_GRIDS = sum(POOL_SIZES.values())


def families(rng: random.Random) -> dict[str, list[str]]:
    """Experiment name -> its grids; a grid belongs to one family only."""
    built = {
        "letter_grids": grids.letter_grids(),
        "number_grids": grids.number_grids(),
        "line_grids_rows": grids.row_line_grids(),
        "line_grids_columns": grids.column_line_grids(),
    }
    seen: set[str] = set()
    for name, members in built.items():
        built[name] = [grid for grid in dict.fromkeys(members) if grid not in seen]
        seen.update(built[name])
    built["random_grids"] = grids.random_grids(rng, RANDOM_GRIDS, seen)
    return built


def triplet_instances(first_id: int, target: str, distractors: list[str]) -> list[dict[str, Any]]:
    """The three instances of one target: for the follower, the target takes the place of grid 1, 2 or 3 of
    (target, distractor 1, distractor 2), as clembench arranges them."""
    giver_grids = [target, *distractors]
    instances = []
    for position, names in enumerate(POSITION_NAMES):
        follower_grids = list(giver_grids)
        follower_grids[0], follower_grids[position] = follower_grids[position], follower_grids[0]
        instances.append({
            "game_id": first_id + position,
            "player_1_target_grid": giver_grids[0],
            "player_1_second_grid": giver_grids[1],
            "player_1_third_grid": giver_grids[2],
            "player_2_first_grid": follower_grids[0],
            "player_2_second_grid": follower_grids[1],
            "player_2_third_grid": follower_grids[2],
            "target_grid_name": list(names),
            "player_1_response_pattern": GIVER_PATTERN,
            "player_2_response_pattern": FOLLOWER_PATTERN,
            "lang": "en",
            "p1_mode": "strict",
            "p2_mode": "strict",
        })
    return instances


def generate(seed: int = 0) -> dict[str, dict[str, Any]]:
    rng = random.Random(f"referencegame-{seed}")
    splits: dict[str, dict[str, Any]] = {split: {"experiments": []} for split in POOL_SIZES}
    for name, members in families(rng).items():
        members = list(members)
        rng.shuffle(members)
        start = 0
        for split, size in POOL_SIZES.items():
            pool = members[start:start + size]
            if len(pool) < 3:
                raise ValueError(f"{name}: too few grids left for the {split} split")
            start += size
            instances: list[dict[str, Any]] = []
            for target in pool[:TARGETS[split]]:
                instances += triplet_instances(len(instances), target, grids.nearest(target, pool))
            splits[split]["experiments"].append({"name": name, "game_instances": instances})
    return splits

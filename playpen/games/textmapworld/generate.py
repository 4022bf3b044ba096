"""Seeded instance generator for the three textmapworld games (clembench v2.0 experiments and fields).

A house is a random walk on a 4x4 grid: the walk starts in a random cell and moves to random neighbouring
cells; each step into a new cell adds a room and a door, so the doors form a tree, until the house has N
rooms. ``*_cycle`` houses then get one extra door between two neighbouring rooms (one cycle). Rooms are
named with distinct home room types from ``ROOM_TYPES``; the start room is random. specificroom adds a
target room at graph distance 0 (``on``), 1 (``close``) or 3-4 (``far``) from the start.

Splits are disjoint: no house layout (the shape of rooms and doors, wherever it lies on the grid, together
with the start cell within it) appears in two splits. Instances carry clembench's structured fields only
(no prompt texts: the game master writes its own prompts).

Run ``python -m playpen.games.textmapworld.generate`` to rewrite ``in/<game>/{train,validation,test}.json``.
"""

from __future__ import annotations

import random
from typing import Any


from playpen.games.textmapworld.maps import STEP
from playpen.games.textmapworld.master import MOVE_PATTERN, RESPONSE_PATTERN, STOP_PATTERN

GRID = 4
SEED = 2025

ROOM_TYPES = (
    "Kitchen", "Pantry", "Dining room", "Living room", "Bedroom", "Guest room", "Nursery", "Bathroom",
    "Laundry room", "Mudroom", "Foyer", "Hallway", "Study room", "Home office", "Library", "Attic",
    "Basement", "Cellar", "Wine cellar", "Garage", "Workshop", "Storage room", "Closet", "Walk-in closet",
    "Sunroom", "Conservatory", "Balcony", "Porch", "Home gym", "Sauna", "Music room", "Art studio",
    "Craft room", "Playroom", "Game room", "Media room", "Home theater", "Billiard room", "Bar",
    "Utility room", "Boiler room", "Dressing room",
)

#: game -> [(experiment, rooms, cycle, target distances)]
EXPERIMENTS: dict[str, list[tuple[str, int, bool, tuple[int, ...] | None]]] = {
    "textmapworld": [
        ("small", 4, False, None),
        ("medium", 6, False, None),
        ("large", 8, False, None),
        ("medium_cycle", 6, True, None),
        ("large_cycle", 8, True, None),
    ],
    "textmapworld_graphreasoning": [
        ("small", 4, False, None),
        ("medium", 6, False, None),
        ("large", 8, False, None),
    ],
    "textmapworld_specificroom": [
        ("on", 8, False, (0,)),
        ("close", 8, False, (1,)),
        ("far", 8, False, (3, 4)),
    ],
}
#: instances per experiment: test as clembench v2.0, train 4x test
SPLIT_SIZES = {"test": 10, "validation": 3, "train": 40}

Cell = tuple[int, int]


def _random_layout(rng: random.Random, rooms: int, cycle: bool) -> tuple[list[Cell], list[tuple[Cell, Cell]]] | None:
    here = (rng.randrange(GRID), rng.randrange(GRID))
    cells, doors = [here], []
    while len(cells) < rooms:
        x, y = here
        dx, dy = rng.choice(list(STEP.values()))
        there = (x + dx, y + dy)
        if not (0 <= there[0] < GRID and 0 <= there[1] < GRID):
            continue
        if there not in cells:
            cells.append(there)
            doors.append((here, there))
        here = there
    if cycle:
        linked = {frozenset(door) for door in doors}
        extra = [
            (a, b) for i, a in enumerate(cells) for b in cells[i + 1:]
            if abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1 and frozenset((a, b)) not in linked
        ]
        if not extra:
            return None
        doors.append(rng.choice(extra))
    return cells, doors


def _direction(a: Cell, b: Cell) -> str:
    offset = (b[0] - a[0], b[1] - a[1])
    return next(direction for direction, step in STEP.items() if step == offset)


def _shape_key(cells: list[Cell], doors: list[tuple[Cell, Cell]], start: Cell) -> tuple:
    """The layout wherever it lies on the grid, with the start cell."""
    x0, y0 = min(x for x, _ in cells), min(y for _, y in cells)
    shift = lambda cell: (cell[0] - x0, cell[1] - y0)  # noqa: E731
    return frozenset(frozenset((shift(a), shift(b))) for a, b in doors), shift(start)


def _distances(doors: list[tuple[Cell, Cell]], start: Cell) -> dict[Cell, int]:
    around: dict[Cell, list[Cell]] = {}
    for a, b in doors:
        around.setdefault(a, []).append(b)
        around.setdefault(b, []).append(a)
    distance, queue = {start: 0}, [start]
    for cell in queue:
        for other in around[cell]:
            if other not in distance:
                distance[other] = distance[cell] + 1
                queue.append(other)
    return distance


def _instance(
    game: str, game_id: int, cells: list[Cell], doors: list[tuple[Cell, Cell]], start: Cell,
    names: list[str], cycle: bool, target: Cell | None, target_distance: int | None,
) -> dict[str, Any]:
    room = dict(zip(cells, names))
    directions: dict[str, list[str]] = {name: [] for name in names}
    moves: dict[str, list[tuple[str, str]]] = {name: [] for name in names}
    for a, b in doors:
        for here, there in ((a, b), (b, a)):
            directions[room[here]].append(_direction(here, there))
            moves[room[here]].append((_direction(here, there), room[there]))
    instance: dict[str, Any] = {
        "game_id": game_id,
        "Move_Construction": MOVE_PATTERN,
        "Stop_Construction": STOP_PATTERN,
    }
    if game == "textmapworld_graphreasoning":
        instance["Response_Construction"] = RESPONSE_PATTERN
    instance.update({
        "Grid_Dimension": str(GRID),
        "Graph_Nodes": str(names),
        "Graph_Edges": str([(room[a], room[b]) for a, b in doors]),
        "Current_Position": room[start],
        "Directions": str([(name, directions[name]) for name in names]),
        "Moves": str([{"node": name, "node_moves": moves[name]} for name in names]),
        "Cycle": "cycle_true" if cycle else "cycle_false",
        "Ambiguity": None,
        "Game_Type": "named_graph",
        "Loop_Reminder": False,
        "Max_Turns_Reminder": False,
        "Mapping": str(room),
        "Strict": True,
    })
    if target is not None:
        instance["Specific_Room"] = room[target]
        instance["Specific_Room_Distance"] = str(target_distance)
    return instance


def generate_game(game: str, seed: int = SEED) -> dict[str, dict[str, Any]]:
    """``{split: instances document}`` for one of the three games."""
    rng = random.Random(f"textmapworld-{game}-{seed}")
    taken: set[tuple] = set()
    splits: dict[str, dict[str, Any]] = {}
    for split, size in SPLIT_SIZES.items():
        experiments = []
        game_id = 0
        for name, rooms, cycle, target_distances in EXPERIMENTS[game]:
            instances = []
            attempts = 0
            while len(instances) < size:
                attempts += 1
                if attempts > 200_000:
                    raise RuntimeError(f"{game}/{split}/{name}: not enough distinct layouts")
                layout = _random_layout(rng, rooms, cycle)
                if layout is None:
                    continue
                cells, doors = layout
                start = rng.choice(cells)
                key = _shape_key(cells, doors, start)
                if key in taken:
                    continue
                target, distance = None, None
                if target_distances is not None:
                    distances = _distances(doors, start)
                    options = sorted(cell for cell, d in distances.items() if d in target_distances)
                    if not options:
                        continue
                    target = rng.choice(options)
                    distance = distances[target]
                taken.add(key)
                names = rng.sample(ROOM_TYPES, rooms)
                instances.append(_instance(game, game_id, cells, doors, start, names, cycle, target, distance))
                game_id += 1
            experiments.append({"name": name, "game_instances": instances})
        splits[split] = {"experiments": experiments}
    return splits

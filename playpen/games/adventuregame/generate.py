"""Seeded generator of home delivery adventures in clembench v2.0's instance format.

An adventure: six rooms joined by passages (a random connected layout within each room type's allowed
neighbours and passage count), furniture in one of its usual rooms, every takeable object on or in a random
receptacle of one of its usual rooms, a random start room, and three delivery goals — *easy*: three objects onto
the same table; *hard*: three objects to three different receptacles (containers included). The optimal plan is
found by breadth-first search (:mod:`planner`; put may move an object straight from a support or open container
in the same room, as in clembench's solutions); adventures whose optimum is outside 5–30 actions are redrawn.

As in v2.0 every adventure is played in four experiments (basic/planning × with/without the two-object inventory
limit); ``optimal_turns`` is computed for each limit. Splits never share an adventure.

Run ``python -m playpen.games.adventuregame.generate`` to rewrite ``in/{train,validation,test}.json``.
"""

from __future__ import annotations

import random
from typing import Any

from playpen.games.adventuregame import planner
from playpen.games.adventuregame.definitions import definitions
from playpen.games.adventuregame.world import Adventure, World

EXPERIMENTS = (
    ("home_deliver_three_basic_easy", "basic", "easy", False),
    ("home_deliver_three_planning_easy", "plan", "easy", False),
    ("home_deliver_three_basic_easy_invlimittwo", "basic", "easy", True),
    ("home_deliver_three_planning_easy_invlimittwo", "plan", "easy", True),
    ("home_deliver_three_basic_hard", "basic", "hard", False),
    ("home_deliver_three_planning_hard", "plan", "hard", False),
    ("home_deliver_three_basic_hard_invlimittwo", "basic", "hard", True),
    ("home_deliver_three_planning_hard_invlimittwo", "plan", "hard", True),
)
#: adventures per difficulty in each split (test: clembench's 16 per experiment)
SPLIT_SIZES = {"train": 24, "validation": 2, "test": 16}
MAX_TURNS = 50
MIN_OPTIMAL, MAX_OPTIMAL = 5, 30
FURNITURE = ("table", "sidetable", "counter", "refrigerator", "cupboard", "wardrobe", "shelf", "freezer",
             "chair", "bed", "couch")
TAKEABLES = ("pottedplant", "broom", "mop", "sandwich", "apple", "banana", "orange", "peach", "plate", "book",
             "pillow")
#: objects that may be delivered (as in clembench's adventures)
DELIVERABLE = ("sandwich", "apple", "banana", "orange", "peach", "plate", "book", "pillow", "mop", "broom",
               "pottedplant")


def _layout(rng: random.Random) -> list[tuple[str, str]]:
    """A connected set of two-way passages respecting each room type's neighbours and passage count."""
    rooms = definitions(False).room_types
    while True:
        order = list(rooms)
        rng.shuffle(order)
        connected = [order[0]]
        degree = dict.fromkeys(rooms, 0)
        edges: list[tuple[str, str]] = []
        for room in order[1:]:
            options = [r for r in connected if r in rooms[room]["connects_to"]
                       and degree[r] < rooms[r]["max_passages"] and degree[room] < rooms[room]["max_passages"]]
            if not options:
                break
            other = rng.choice(options)
            edges.append((other, room))
            degree[other] += 1
            degree[room] += 1
            connected.append(room)
        else:
            return edges


def _adventure(rng: random.Random, difficulty: str) -> tuple[list[str], list[str]]:
    defs = definitions(False)
    entities = defs.entity_types
    facts: list[str] = []
    room_id = {room: f"{room}1" for room in defs.room_types}
    for room, rid in room_id.items():
        facts.append(f"room({rid},{room})")
    for a, b in _layout(rng):
        facts += [f"exit({room_id[a]},{room_id[b]})", f"exit({room_id[b]},{room_id[a]})"]
    receptacles: dict[str, list[str]] = {room: [f"{rid}floor1"] for room, rid in room_id.items()}
    containers: set[str] = set()
    for kind in FURNITURE:
        room = rng.choice(entities[kind]["rooms"])
        facts += [f"type({kind}1,{kind})", f"at({kind}1,{room_id[room]})"]
        receptacles[room].append(f"{kind}1")
        if "openable" in entities[kind]["traits"]:
            facts.append(f"closed({kind}1)")
            containers.add(f"{kind}1")
    holder_of: dict[str, str] = {}
    for kind in TAKEABLES:
        room = rng.choice(entities[kind]["rooms"])
        holder = rng.choice(receptacles[room])
        holder_of[kind] = holder
        relation = "in" if holder in containers else "on"
        facts += [f"type({kind}1,{kind})", f"at({kind}1,{room_id[room]})", f"{relation}({kind}1,{holder})"]
    facts += ["type(player1,player)", f"at(player1,{room_id[rng.choice(list(room_id))]})"]

    things = rng.sample(DELIVERABLE, 3)
    if difficulty == "easy":
        targets = ["table1"] * 3
    else:
        targets = rng.sample([f"{kind}1" for kind in FURNITURE], 3)
    goals = []
    for thing, target in zip(things, targets):
        if holder_of[thing] == target:
            return _adventure(rng, difficulty)
        goals.append(f"{'in' if target in containers else 'on'}({thing}1,{target})")
    return facts, goals


def _instance(game_id: int, variant: str, limit: bool, facts: list[str], goals: list[str], steps, world: World) -> dict[str, Any]:
    return {
        "game_id": game_id,
        "variant": variant,
        "initial_state": facts,
        "goal_state": goals,
        "max_turns": MAX_TURNS,
        "optimal_turns": len(steps),
        "optimal_solution": [list(step) for step in steps],
        "optimal_commands": _commands(world, steps),
        "action_definitions": ["basic_actions_v2_invlimit.json" if limit else "basic_actions_v2.json"],
        "room_definitions": ["home_rooms.json"],
        "entity_definitions": ["home_entities.json"],
        "domain_definitions": ["home_domain_invlimit.json" if limit else "home_domain.json"],
    }


def _commands(world: World, steps) -> list[str]:
    world = world.copy()
    commands = []
    for step in steps:
        text = planner.command(world, step)
        world.process(text)
        commands.append(text)
    return commands


def _solve(facts: list[str], goals: list[str], limit: bool):
    instance = {"initial_state": facts, "goal_state": goals,
                "action_definitions": ["basic_actions_v2_invlimit.json" if limit else "basic_actions_v2.json"]}
    world = World.start(Adventure.from_instance(instance))
    return planner.plan(world, direct_put=True), world


def generate(seed: int = 0, sizes: dict[str, int] | None = None) -> dict[str, dict]:
    """``{split: instances}``; ``sizes`` overrides the adventures per difficulty of each split."""
    sizes = {**SPLIT_SIZES, **(sizes or {})}
    rng = random.Random(f"adventuregame-{seed}")
    seen: set[tuple] = set()
    adventures: dict[str, dict[str, list]] = {split: {"easy": [], "hard": []} for split in sizes}
    for split, size in sizes.items():
        for difficulty in ("easy", "hard"):
            while len(adventures[split][difficulty]) < size:
                facts, goals = _adventure(rng, difficulty)
                key = (tuple(sorted(facts)), tuple(sorted(goals)))
                if key in seen:
                    continue
                solved = {limit: _solve(facts, goals, limit) for limit in (False, True)}
                if any(steps is None or not MIN_OPTIMAL <= len(steps) <= MAX_OPTIMAL for steps, _ in solved.values()):
                    continue
                seen.add(key)
                adventures[split][difficulty].append((facts, goals, solved))
    result = {}
    for split in sizes:
        experiments = []
        for name, variant, difficulty, limit in EXPERIMENTS:
            instances = []
            for game_id, (facts, goals, solved) in enumerate(adventures[split][difficulty]):
                steps, world = solved[limit]
                instances.append(_instance(game_id, variant, limit, facts, goals, steps, world))
            experiments.append({"name": name, "game_instances": instances})
        result[split] = {"experiments": experiments}
    return result

"""Breadth-first planning over an abstract delivery state (for optimal plans and the competent player).

The abstract state is the player's room, where each goal object is (the inventory or a receptacle) and which
containers are open. Moves: go, open, take (from a support or an open container), put into the object's goal
receptacle (from the inventory, and, when ``direct_put`` is on, straight from a support or open container in the
same room, as clembench's optimal solutions do). Only the goal objects move and only towards their goals, so the
search space stays tiny.
"""

from __future__ import annotations

from collections import deque
from typing import Iterator

from playpen.games.adventuregame.definitions import INVENTORY, PLAYER
from playpen.games.adventuregame.world import World

Step = tuple[str, ...]  # ("go", room) | ("open", container) | ("take", thing) | ("put", thing, receptacle)


class DeliveryProblem:
    """The abstract problem read off a world: static geography plus the current positions."""

    def __init__(self, world: World, direct_put: bool = False):
        facts = world.facts
        self.world = world
        self.direct_put = direct_put
        self.things = tuple(dict.fromkeys(goal[1] for goal in world.adventure.goals))
        self.goals = tuple((goal[1], goal[2]) for goal in world.adventure.goals)
        self.target = {goal[1]: goal[2] for goal in world.adventure.goals}
        self.exits: dict[str, list[str]] = {}
        self.room_of: dict[str, str] = {}
        for fact in facts:
            if fact[0] == "exit" and len(fact) == 3:
                self.exits.setdefault(fact[1], []).append(fact[2])
            elif fact[0] == "at" and len(fact) == 3 and fact[1] not in self.things and fact[1] != PLAYER:
                self.room_of[fact[1]] = fact[2]
        self.supports = frozenset(f[1] for f in facts if f[0] == "support")
        self.containers = frozenset(f[1] for f in facts if f[0] == "container" and f[1] != INVENTORY)
        self.capacity = world.defs.inventory_capacity
        self.other_held = sum(1 for t in world.inventory() if t not in self.things)

    def start(self) -> tuple:
        world = self.world
        positions = []
        for thing in self.things:
            holder = None
            for fact in world.facts:  # the most recent placement, as the interpreter reads it
                if fact[0] in ("in", "on") and len(fact) == 3 and fact[1] == thing:
                    holder = fact[2]
            positions.append(holder)
        opened = frozenset(c for c in self.containers if world.holds(("open", c)))
        return world.player_room(), tuple(positions), opened

    def is_goal(self, state: tuple) -> bool:
        positions = dict(zip(self.things, state[1]))
        return all(positions[thing] == target for thing, target in self.goals)

    def reachable(self, holder: str | None, opened: frozenset) -> bool:
        return holder in self.supports or (holder in self.containers and holder in opened)

    def moves(self, state: tuple) -> Iterator[tuple[Step, tuple]]:
        room, positions, opened = state
        for target in self.exits.get(room, ()):
            yield ("go", target), (target, positions, opened)
        here = [r for r, where in self.room_of.items() if where == room]
        for container in here:
            if container in self.containers and container not in opened:
                yield ("open", container), (room, positions, opened | {container})
        held = self.other_held + sum(1 for p in positions if p == INVENTORY)
        for index, holder in enumerate(positions):
            thing = self.things[index]
            if holder != INVENTORY:
                reachable = self.room_of.get(holder) == room and self.reachable(holder, opened)
                if reachable and (self.capacity is None or held < self.capacity):
                    yield ("take", thing), (room, _replace(positions, index, INVENTORY), opened)
                if not (reachable and self.direct_put):
                    continue
            target = self.target[thing]  # objects only ever go to their goal receptacle
            if target != holder and self.room_of.get(target) == room and self.reachable(target, opened):
                yield ("put", thing, target), (room, _replace(positions, index, target), opened)


def _replace(values: tuple, index: int, value) -> tuple:
    return values[:index] + (value,) + values[index + 1:]


def plan(world: World, direct_put: bool = False, limit: int = 200_000) -> list[Step] | None:
    """A shortest list of steps that reaches the goal from the world's state, or None."""
    problem = DeliveryProblem(world, direct_put)
    start = problem.start()
    if problem.is_goal(start):
        return []
    parents: dict[tuple, tuple[tuple, Step] | None] = {start: None}
    queue = deque([start])
    while queue and len(parents) < limit:
        state = queue.popleft()
        for step, successor in problem.moves(state):
            if successor in parents:
                continue
            parents[successor] = (state, step)
            if problem.is_goal(successor):
                steps = []
                node = successor
                while parents[node] is not None:
                    node, taken = parents[node]
                    steps.append(taken)
                return steps[::-1]
            queue.append(successor)
    return None


def command(world: World, step: Step) -> str:
    """The command text for a step, e.g. ``put plate on table``."""
    label = world.adventure.label
    if step[0] == "put":
        relation = "in" if step[2] in {f[1] for f in world.facts if f[0] == "container"} else "on"
        return f"put {label(step[1])} {relation} {label(step[2])}"
    return f"{step[0]} {label(step[1])}"

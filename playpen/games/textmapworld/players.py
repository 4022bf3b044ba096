"""Scripted explorers. They play from the messages they received, never from the hidden instance.

The competent explorer rebuilds the house from the position reports it got (placing rooms on the grid,
so a door into an already known cell is recognised as such), then takes the first step of a shortest walk
that enters every unexplored cell next to a known room, and says DONE when there is none left. The
specificroom variant walks to the target once it knows where it is, otherwise to the nearest unexplored
cell. The bad explorer picks random directions (often blocked ones), sometimes breaks the format and
usually forgets DONE.
"""

from __future__ import annotations

import json
import random
import re
from collections import deque
from functools import partial
from typing import Any, Mapping

from playpen.core.messages import Policy
from playpen.games.textmapworld import prompts
from playpen.games.textmapworld.maps import DIRECTIONS, STEP

Cell = tuple[int, int]

EXPLORE, GRAPH, TARGET = "explore", "graph", "target"

_GO = re.compile(r"^GO:\s*(north|east|west|south)$", re.IGNORECASE)
_ACTION = re.compile(r'"action"\s*:\s*"([^"]*)"')

BAD_REPLIES = (
    "I think I will go north.",
    "GO north",
    "go: up",
    "Let me look around first.",
    "GO: east\nDONE",
    "Move: south",
)


class HouseSketch:
    """What an explorer knows: rooms placed on grid cells, the doors it has seen, where it stands."""

    def __init__(self) -> None:
        self.rooms: dict[str, Cell] = {}
        self.cells: dict[Cell, str] = {}
        self.exits: dict[str, list[str]] = {}
        self.order: list[str] = []
        self.walked: list[tuple[str, str, str]] = []  # (from room, direction, to room)
        self.position: str | None = None
        self.target: str | None = None

    @classmethod
    def from_messages(cls, messages: list[dict[str, str]]) -> "HouseSketch":
        sketch = cls()
        last_direction: str | None = None
        for message in messages:
            if message["role"] == "assistant":
                last_direction = _direction_of(message["content"])
                continue
            if sketch.target is None:
                targets = prompts.TARGET.findall(message["content"])
                sketch.target = targets[-1] if targets else None
            reports = list(prompts.POSITION.finditer(message["content"]))
            if reports:
                report = reports[-1]
                sketch.arrive(report["room"], report["how"] == "now " or bool(report["entered"]), last_direction)
                sketch.exits[report["room"]] = [d for d in report["directions"].split(", ") if d in STEP]
            last_direction = None
        return sketch

    def arrive(self, room: str, moved: bool, direction: str | None) -> None:
        if room not in self.rooms:
            if moved and direction and self.position in self.rooms:
                x, y = self.rooms[self.position]
                dx, dy = STEP[direction]
                cell = (x + dx, y + dy)
            else:
                cell = (0, 0) if not self.rooms else (10_000 + len(self.rooms), 0)  # no way to place it
            self.rooms[room] = cell
            self.cells.setdefault(cell, room)
            self.order.append(room)
        if moved and direction and self.position is not None and self.position != room:
            self.walked.append((self.position, direction, room))
        self.position = room

    def neighbours(self) -> dict[Any, set[Any]]:
        """Known rooms and unexplored cells (as grid cells), joined by the doors seen so far."""
        graph: dict[Any, set[Any]] = {cell: set() for cell in self.cells}
        for room, directions in self.exits.items():
            x, y = self.rooms[room]
            for direction in directions:
                dx, dy = STEP[direction]
                other = (x + dx, y + dy)
                graph.setdefault(other, set())
                graph[self.rooms[room]].add(other)
                graph[other].add(self.rooms[room])
        return graph

    def unexplored(self, graph: dict[Any, set[Any]]) -> set[Cell]:
        return {cell for cell in graph if cell not in self.cells}

    def direction_to(self, cell: Cell) -> str:
        x, y = self.rooms[self.position]
        return next(d for d, (dx, dy) in STEP.items() if (x + dx, y + dy) == cell)

    def map_report(self) -> dict[str, Any]:
        """The map in graphreasoning's format: each door once, in the direction it was first walked."""
        edges: dict[str, list[list[str]]] = {direction: [] for direction in DIRECTIONS}
        known: set[frozenset[str]] = set()
        for origin, direction, target in self.walked:
            if frozenset((origin, target)) not in known:
                known.add(frozenset((origin, target)))
                edges[direction].append([origin, target])
        return {"nodes": list(self.order), "edges": edges}


def _direction_of(reply: str) -> str | None:
    action = _ACTION.search(reply)
    found = _GO.search((action.group(1) if action else reply).strip())
    return found.group(1).lower() if found else None


def covering_first_steps(graph: dict[Any, set[Any]], start: Any, goals: set[Any]) -> set[Any]:
    """First steps of the shortest walks from ``start`` that pass through every goal."""
    goal_list = sorted(goals)
    bit = {goal: 1 << i for i, goal in enumerate(goal_list)}
    everything = (1 << len(goal_list)) - 1
    level = {(step, bit.get(step, 0)): {step} for step in graph[start]}
    seen: set[tuple[Any, int]] = set()
    while level:
        done = set().union(*(firsts for (_, covered), firsts in level.items() if covered == everything))
        if done:
            return done
        seen.update(level)
        following: dict[tuple[Any, int], set[Any]] = {}
        for (node, covered), firsts in level.items():
            for step in graph[node]:
                state = (step, covered | bit.get(step, 0))
                if state not in seen:
                    following.setdefault(state, set()).update(firsts)
        level = following
    return set()


def nearest_first_steps(graph: dict[Any, set[Any]], start: Any, goals: set[Any]) -> set[Any]:
    """First steps of the shortest paths from ``start`` to the nearest goal."""
    first: dict[Any, set[Any]] = {step: {step} for step in graph[start]}
    distance = {start: 0, **{step: 1 for step in graph[start]}}
    queue = deque(graph[start])
    best: set[Any] = set()
    best_distance = None
    while queue:
        node = queue.popleft()
        if best_distance is not None and distance[node] > best_distance:
            break
        if node in goals:
            best_distance = distance[node]
            best |= first[node]
            continue
        for step in graph[node]:
            if step not in distance:
                distance[step] = distance[node] + 1
                first[step] = set(first[node])
                queue.append(step)
            elif distance[step] == distance[node] + 1:
                first[step] |= first[node]
    return best


class CompetentExplorer:
    def __init__(self, variant: str, seed: int):
        self.variant = variant
        self.rng = random.Random(f"textmapworld-competent-{seed}")

    def __call__(self, messages: list[dict[str, str]]) -> str:
        sketch = HouseSketch.from_messages(messages)
        if sketch.position is None:
            return self._reply(sketch, None)
        graph = sketch.neighbours()
        here = sketch.rooms[sketch.position]
        unexplored = sketch.unexplored(graph)
        if self.variant == TARGET:
            if sketch.position == sketch.target:
                return self._reply(sketch, None)
            goals = {sketch.rooms[sketch.target]} if sketch.target in sketch.rooms else unexplored
            steps = nearest_first_steps(graph, here, goals)
        else:
            steps = covering_first_steps(graph, here, unexplored) if unexplored else set()
        if not steps:
            return self._reply(sketch, None)
        return self._reply(sketch, sketch.direction_to(self.rng.choice(sorted(steps))))

    def _reply(self, sketch: HouseSketch, direction: str | None) -> str:
        action = f"GO: {direction}" if direction else "DONE"
        if self.variant == GRAPH:
            return json.dumps({"action": action, "graph": sketch.map_report()})
        return action


class BadExplorer:
    def __init__(self, variant: str, seed: int):
        self.variant = variant
        self.rng = random.Random(f"textmapworld-bad-{seed}")

    def __call__(self, messages: list[dict[str, str]]) -> str:
        replies = sum(1 for m in messages if m["role"] == "assistant")
        roll = self.rng.random()
        if roll < 0.1:
            return self.rng.choice(BAD_REPLIES)
        action = "DONE" if replies >= 3 and roll < 0.18 else f"GO: {self.rng.choice(DIRECTIONS)}"
        if self.variant == GRAPH:
            return json.dumps({"action": action, "graph": {"nodes": [], "edges": {}}})
        return action


def scripted(
    variant: str, role: str, skill: str, experiment: Mapping[str, Any], instance: Mapping[str, Any], seed: int
) -> Policy:
    if skill == "competent":
        return CompetentExplorer(variant, seed)
    if skill == "bad":
        return BadExplorer(variant, seed)
    raise ValueError(f"unknown skill {skill!r} (known: competent, bad)")


def factory(variant: str):
    """The ``ScriptedFactory`` of one variant."""
    return partial(scripted, variant)

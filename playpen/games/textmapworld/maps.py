"""The hidden house of one episode, read from a clembench instance, and the exploration measures of its scorer.

clembench stores the structured instance fields as Python literals inside strings (``"[('Kitchen', ...)]"``);
:func:`literal` accepts both that form and already-parsed values, so official and generated files share one path.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from typing import Any, Iterable, Mapping

DIRECTIONS = ("north", "south", "east", "west")
#: grid offset of one step; clembench's maps put north at (0, +1)
STEP = {"north": (0, 1), "south": (0, -1), "east": (1, 0), "west": (-1, 0)}
#: the longest walk clembench's search for good moves considers
MAX_WALK = 100
#: the instance fields a map is read from
MAP_FIELDS = ("Graph_Nodes", "Graph_Edges", "Current_Position", "Directions", "Moves")


def literal(value: Any) -> Any:
    """A structured instance field: clembench writes them as Python literals in strings."""
    return ast.literal_eval(value) if isinstance(value, str) else value


def is_loop(window: list[str]) -> bool:
    """clembench's loop test: the last four rooms of the walk hold fewer than three different rooms."""
    return len(window) >= 4 and len(set(window[-4:])) < 3


class RoomMap:
    """Rooms, doors and start room of one instance, plus the scorer's "good move" search."""

    def __init__(
        self,
        nodes: Iterable[str],
        edges: Iterable[tuple[str, str]],
        start: str,
        directions: Mapping[str, list[str]],
        exits: Mapping[str, Mapping[str, str]],
    ):
        self.nodes: list[str] = list(nodes)
        self.edges: list[tuple[str, str]] = [tuple(edge) for edge in edges]
        self.start = start
        self.directions = {room: list(dirs) for room, dirs in directions.items()}
        self.exits = {room: dict(moves) for room, moves in exits.items()}
        self.neighbours: dict[str, set[str]] = {node: set() for node in self.nodes}
        for a, b in self.edges:
            self.neighbours.setdefault(a, set()).add(b)
            self.neighbours.setdefault(b, set()).add(a)
        self._index = {node: i for i, node in enumerate(self.neighbours)}
        self._names = list(self.neighbours)
        self._adjacent = [
            sum(1 << self._index[n] for n in self.neighbours[node]) for node in self._names
        ]
        self._good_steps: dict[tuple[int, int], frozenset[str]] = {}

    def __deepcopy__(self, memo: dict) -> "RoomMap":
        return self  # never changed after construction (the step cache only memoises a pure function)

    @classmethod
    def from_instance(cls, instance: Mapping[str, Any]) -> "RoomMap":
        fields = tuple(instance[key] for key in MAP_FIELDS)
        if all(isinstance(field, str) for field in fields):
            return _parsed_map(fields)  # a map is never changed, so episodes of one instance share it
        return cls.from_fields(*fields)

    @classmethod
    def from_fields(cls, nodes: Any, edges: Any, start: str, directions_field: Any, moves_field: Any) -> "RoomMap":
        directions: dict[str, list[str]] = {}
        for room, dirs in literal(directions_field):
            directions.setdefault(room, list(dirs))  # clembench takes the first entry of a room
        exits: dict[str, dict[str, str]] = {}
        for entry in literal(moves_field):
            for direction, target in entry["node_moves"]:
                exits.setdefault(entry["node"], {})[direction] = target  # ... and the last matching move
        return cls(literal(nodes), literal(edges), start, directions, exits)

    def good_first_steps(self, current: str, visited: set[str]) -> frozenset[str]:
        """Rooms that start some shortest walk from ``current`` covering every frontier room.

        The frontier is every room next to a visited one but not visited itself. The walks are those of
        clembench's breadth-first search: a walk may only step back onto one of its own rooms when every
        neighbour of its last room is already on it. Walks with the same first step, last room and set of
        rooms continue identically, so the search runs over those states instead of over walks.
        """
        index = self._index
        visited_mask = 0
        for room in visited:
            if room in index:
                visited_mask |= 1 << index[room]
        frontier = 0
        for room in visited:
            if room in index:
                frontier |= self._adjacent[index[room]]
        frontier &= ~visited_mask
        start = index[current]
        key = (start, visited_mask)
        if key not in self._good_steps:
            self._good_steps[key] = self._search(start, frontier)
        return self._good_steps[key]

    def _search(self, start: int, frontier: int) -> frozenset[str]:
        states: set[tuple[int, int, int]] = {(-1, start, 1 << start)}
        for length in range(1, MAX_WALK + 1):
            if length > 1:
                found = {first for first, _, walk in states if walk & frontier == frontier}
                if found:
                    return frozenset(self._names[i] for i in found)
            following: set[tuple[int, int, int]] = set()
            for first, last, walk in states:
                around = self._adjacent[last]
                choices = around if around & ~walk == 0 else around & ~walk
                while choices:
                    low = choices & -choices
                    step = low.bit_length() - 1
                    following.add((step if first < 0 else first, step, walk | low))
                    choices ^= low
            states = following
            if not states:
                break
        return frozenset()


@lru_cache(maxsize=4096)
def _parsed_map(fields: tuple[str, ...]) -> RoomMap:
    return RoomMap.from_fields(*fields)

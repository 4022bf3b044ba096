"""One player's clean_up board: a framed character grid with lettered objects on it.

The background is a block of box-drawing characters; a cell is free when it shows the empty symbol. Objects sit
on free cells; ``(x, y)`` counts columns and rows of the whole block, frame included, so the first free cell
inside the frame is ``(1, 1)`` (the numbers printed along the top and right edges). As in clembench v3.0, a
cell holds its background character and the objects stacked on it, and shows the topmost one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from string import Template
from typing import Any, Mapping

EMPTY = "◌"


@dataclass(frozen=True)
class MoveResult:
    ok: bool
    #: the message for the mover, from the instance's ``move_messages``
    message: str


class Board:
    def __init__(self, background: str, objects: list[Mapping[str, Any]], move_messages: Mapping[str, str]):
        self.cells: list[list[list[str]]] = [[[char] for char in row] for row in background.strip().split("\n")]
        self.height = len(self.cells)
        self.width = len(self.cells[0])
        self.move_messages = move_messages
        #: object id -> (x, y), in the instance's order
        self.objects: dict[str, tuple[int, int]] = {}
        for obj in objects:
            x, y = (int(c) for c in obj["coord"])
            self.cells[y][x].append(obj["id"])
            self.objects[obj["id"]] = (x, y)

    def render(self) -> str:
        """The board as the players see it: column numbers on top, row numbers on the right."""
        lines = [" " + "".join(str(i + 1) for i in range(self.width - 2))]
        for y, row in enumerate(self.cells):
            line = "".join(cell[-1] for cell in row)
            lines.append(line if y in (0, self.height - 1) else f"{line} {y}")
        return "\n".join(lines) + "\n"

    def move(self, obj: str, x: int, y: int) -> MoveResult:
        """Move ``obj`` to ``(x, y)``: the cell must exist and show the empty symbol."""
        if obj not in self.objects:
            return MoveResult(False, Template(self.move_messages["obj_not_found"]).substitute(object=obj))
        if not (0 <= x < self.width and 0 <= y < self.height):
            return MoveResult(False, Template(self.move_messages["out_of_bounds"]).substitute(object=obj, x=x, y=y))
        if self.cells[y][x][-1] != EMPTY:
            shown = self.cells[y][x][-1]
            return MoveResult(False, Template(self.move_messages["not_empty"]).substitute(object=shown, x=x, y=y))
        old_x, old_y = self.objects[obj]
        self.cells[old_y][old_x].pop()
        self.cells[y][x].append(obj)
        self.objects[obj] = (x, y)
        return MoveResult(True, Template(self.move_messages["successful"]).substitute(
            object=obj, x=x, y=y, grid=self.render()))

    def is_free(self, x: int, y: int) -> bool:
        return 0 <= x < self.width and 0 <= y < self.height and self.cells[y][x][-1] == EMPTY

    def state(self) -> list[dict[str, Any]]:
        """The objects as clembench logs them (``Init States`` / ``End States``)."""
        return [{"id": obj, "coord": [x, y]} for obj, (x, y) in self.objects.items()]

    def distance_sum(self, other: "Board") -> float:
        """Sum over the shared objects of the Euclidean distance between their places on the two boards."""
        return sum(math.dist(self.objects[obj], other.objects[obj]) for obj in self.objects if obj in other.objects)

    def expected_distance_sum(self) -> float:
        """The distance sum to expect from objects dropped at random: the mean distance of two uniform points on
        a ``width`` × ``height`` lattice (per axis ``(n² − 1) / 3n``, frame included, as clembench counts it),
        times the number of objects."""
        mean_x = (self.width ** 2 - 1) / (3 * self.width)
        mean_y = (self.height ** 2 - 1) / (3 * self.height)
        return math.hypot(mean_x, mean_y) * len(self.objects)

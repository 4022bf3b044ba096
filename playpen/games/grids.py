"""Square ASCII grids shared by the grid games (imagegame, matchit_ascii).

A grid is written one row per line with the cells separated by single spaces; ``▢`` marks an empty cell:

    X ▢ ▢ ▢ X
    ▢ X ▢ X ▢
    ...

In code a grid is a tuple of rows, each a tuple of cell strings, so it can be hashed, compared and used
as a dictionary key. ``SHAPES`` holds the hand-made 5x5 patterns our instance generators draw from.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable

EMPTY = "▢"
Grid = tuple[tuple[str, ...], ...]


def parse_grid(text: str) -> Grid:
    """Split ``text`` into rows (lines) and cells (single spaces), as clembench's grid scorers do.

    No validation: rows may differ in length and cells may hold any text, so callers that compare grids
    must be ready for ragged input.
    """
    return tuple(tuple(row.split(" ")) for row in text.strip().split("\n"))


def render_grid(grid: Grid) -> str:
    return "\n".join(" ".join(row) for row in grid)


def empty_grid(size: int = 5) -> Grid:
    return tuple((EMPTY,) * size for _ in range(size))


def from_pattern(pattern: str, mark: str = "X") -> Grid:
    """``"X...X/.X.X./..."`` (rows separated by ``/``, ``.`` for empty) -> grid with ``mark`` in the filled cells."""
    return tuple(tuple(mark if char != "." else EMPTY for char in row) for row in pattern.split("/"))


def filled_cells(grid: Grid) -> list[tuple[int, int, str]]:
    """``(row, column, letter)`` of every non-empty cell, row by row."""
    return [(r, c, cell) for r, row in enumerate(grid) for c, cell in enumerate(row) if cell != EMPTY]


def relabel(grid: Grid, letter: str) -> Grid:
    """The same shape with every filled cell holding ``letter``."""
    return tuple(tuple(EMPTY if cell == EMPTY else letter for cell in row) for row in grid)


def with_cells(grid: Grid, cells: Iterable[tuple[int, int]], letter: str) -> Grid:
    """A copy of ``grid`` with ``letter`` written into ``cells`` (use ``EMPTY`` to clear them)."""
    rows = [list(row) for row in grid]
    for r, c in cells:
        rows[r][c] = letter
    return tuple(tuple(row) for row in rows)


def invert_cells(grid: Grid, cells: Iterable[tuple[int, int]], mark: str = "X") -> Grid:
    """Flip the given cells between empty and ``mark``."""
    rows = [list(row) for row in grid]
    for r, c in cells:
        rows[r][c] = mark if rows[r][c] == EMPTY else EMPTY
    return tuple(tuple(row) for row in rows)


def differing_cells(a: Grid, b: Grid) -> list[tuple[int, int]]:
    """Cells where two grids of the same shape differ."""
    return [(r, c) for r, (row_a, row_b) in enumerate(zip(a, b)) for c, (x, y) in enumerate(zip(row_a, row_b)) if x != y]


def flip_horizontal(grid: Grid) -> Grid:
    """Mirror left <-> right."""
    return tuple(tuple(reversed(row)) for row in grid)


def flip_vertical(grid: Grid) -> Grid:
    """Mirror top <-> bottom."""
    return tuple(reversed(grid))


def rotate(grid: Grid) -> Grid:
    """Turn 90 degrees clockwise."""
    return tuple(zip(*reversed(grid)))


def symmetries(grid: Grid) -> list[Grid]:
    """The distinct images of ``grid`` under the four turns and their mirror images, ``grid`` first."""
    images: list[Grid] = []
    current = grid
    for _ in range(4):
        for image in (current, flip_horizontal(current)):
            if image not in images:
                images.append(image)
        current = rotate(current)
    return images


@lru_cache(maxsize=4096)
def canonical(grid: Grid) -> Grid:
    """One representative per symmetry family (the smallest image), to tell shape families apart."""
    return min(symmetries(grid))


#: Hand-made 5x5 shapes (rows separated by "/", "." empty). Several lie in the same symmetry family;
#: generators group them with ``canonical``.
SHAPES: tuple[str, ...] = (
    "..X../..X../XXXXX/..X../..X..",  # plus
    "X...X/.X.X./..X../.X.X./X...X",  # saltire
    "XXXXX/X...X/X...X/X...X/XXXXX",  # frame
    "X..../.X.../..X../...X./....X",  # diagonal
    "XXXXX/..X../..X../..X../..X..",  # T
    "X..../X..../X..../X..../XXXXX",  # L
    "XXXXX/X..../X..../X..../X....",  # the L turned (same family)
    "X...X/X...X/XXXXX/X...X/X...X",  # H
    "X...X/X...X/X...X/X...X/.XXX.",  # U
    "X.X.X/.X.X./X.X.X/.X.X./X.X.X",  # chequer
    "...../XXXXX/...../XXXXX/.....",  # two bars
    ".X.X./.X.X./.X.X./.X.X./.X.X.",  # two columns
    "...../.XXX./.X.X./.XXX./.....",  # small ring
    "...../.XXX./.XXX./.XXX./.....",  # block
    "..X../.XXX./X.X.X/..X../..X..",  # arrow
    "..X../.X.X./X...X/.X.X./..X..",  # diamond outline
    "..X../.XXX./XXXXX/.XXX./..X..",  # diamond
    "...../..X../.XXX./XXXXX/.....",  # pyramid
    "X..../XX.../XXX../XXXX./XXXXX",  # staircase
    "XXXXX/...X./..X../.X.../XXXXX",  # Z
    "X...X/XX..X/X.X.X/X..XX/X...X",  # N
    "XXXXX/X..../XXXX./X..../XXXXX",  # E
    "XXXXX/X..../XXX../X..../X....",  # F
    ".XXXX/X..../X..../X..../.XXXX",  # C
    ".XXX./X...X/X...X/X...X/.XXX.",  # O
    ".XXXX/X..../.XXX./....X/XXXX.",  # S
    ".X.X./XXXXX/XXXXX/.XXX./..X..",  # heart
    "...../.X.X./...../X...X/.XXX.",  # smiley
    "X...X/...../...../...../X...X",  # corners
    "X...X/X...X/X...X/X...X/X...X",  # rails
    "....X/....X/....X/X...X/.XXX.",  # J
    "XXXX./X...X/XXXX./X..../X....",  # P
    "X..X./X.X../XX.../X.X../X..X.",  # K
    "X...X/XX.XX/X.X.X/X...X/X...X",  # M
    "X...X/X...X/X.X.X/XX.XX/X...X",  # W (M upside down: same family)
    "X...X/.X.X./..X../..X../..X..",  # Y
    ".XXX./X...X/XXXXX/X...X/X...X",  # A
    "XXXXX/.XXX./..X../.XXX./XXXXX",  # hourglass
    "X...X/XX.XX/XXXXX/XX.XX/X...X",  # bow tie
    "XXXXX/X.X.X/XXXXX/X.X.X/XXXXX",  # window
    "X.X.X/...../X.X.X/...../X.X.X",  # dots
    "XX.../XXX../.XXX./..XXX/...XX",  # band
    "XXXXX/XXXXX/XXXXX/...../.....",  # upper three rows
    "XX.../XX.../XX.../XX.../XX...",  # left two columns
    "X...X/X...X/.X.X./.X.X./..X..",  # V
    "XX.../.XX../..XX./...XX/....X",  # steps
    "XXXXX/....X/XXX.X/X...X/XXXXX",  # spiral
    "XXXXX/X.X.X/X.X.X/...../.....",  # comb
    "..X../.XXX./XXXXX/..X../..X..",  # tree
    "..X../.X.X./XXXXX/X...X/XXXXX",  # house
    "..X../..XX./..X../XXXXX/.XXX.",  # boat
    "XX.../X..../X..../X..../XX...",  # bracket
    ".X.X./XXXXX/.X.X./XXXXX/.X.X.",  # hash
    "...../..X../.XXX./...../.....",  # small hat
    "XX.../XX.../...../...XX/...XX",  # two blocks
    "X.X.X/.XXX./XXXXX/.XXX./X.X.X",  # sun
    ".XXXX/X..../X.XXX/X...X/.XXX.",  # G
    "XXXX./X...X/XXXX./X.X../X..XX",  # R
    "...XX/..XX./.XXXX/..XX./.XX..",  # bolt
    "X...X/X...X/XXXXX/.XXX./..X..",  # goblet
    "XXX../X.X../XXXXX/..X.X/..XXX",  # linked squares
    "....X/...XX/..X.X/.X..X/XXXXX",  # right triangle outline
    "XXXXX/...../..X../...../XXXXX",  # bars and a dot
    "X.X.X/X.X.X/X.X.X/X.X.X/X.X.X",  # three columns
    ".XXX./.X.X./.XXX./..X../..X..",  # key
)

"""The 5x5 grids of the reference game and the five families our instance generator draws them from.

A grid is written as clembench writes it: one row per line, cells separated by single spaces, ``X`` for a
filled cell and ``□`` (U+25A1) for an empty one. In code a grid is that string. Families are drawn by hand
here as five row patterns (``X`` filled, ``.`` empty); line and random grids are built.
"""

from __future__ import annotations

import random
import re

FILLED = "X"
EMPTY = "□"
SIZE = 5
ORDINALS = ("first", "second", "third", "fourth", "fifth")

_LETTERS = {
    "A": ".XXX./X...X/XXXXX/X...X/X...X",
    "B": "XXXX./X...X/XXXX./X...X/XXXX.",
    "C": ".XXXX/X..../X..../X..../.XXXX",
    "D": "XXXX./X...X/X...X/X...X/XXXX.",
    "E": "XXXXX/X..../XXXX./X..../XXXXX",
    "F": "XXXXX/X..../XXXX./X..../X....",
    "G": ".XXXX/X..../X..XX/X...X/.XXX.",
    "H": "X...X/X...X/XXXXX/X...X/X...X",
    "I": "XXXXX/..X../..X../..X../XXXXX",
    "J": "..XXX/...X./...X./X..X./.XX..",
    "K": "X..X./X.X../XX.../X.X../X..X.",
    "L": "X..../X..../X..../X..../XXXXX",
    "M": "X...X/XX.XX/X.X.X/X...X/X...X",
    "N": "X...X/XX..X/X.X.X/X..XX/X...X",
    "O": ".XXX./X...X/X...X/X...X/.XXX.",
    "P": "XXXX./X...X/XXXX./X..../X....",
    "Q": ".XXX./X...X/X.X.X/X..X./.XX.X",
    "R": "XXXX./X...X/XXXX./X.X../X..XX",
    "S": ".XXXX/X..../.XXX./....X/XXXX.",
    "T": "XXXXX/..X../..X../..X../..X..",
    "U": "X...X/X...X/X...X/X...X/.XXX.",
    "V": "X...X/X...X/X...X/.X.X./..X..",
    "W": "X...X/X...X/X.X.X/XX.XX/X...X",
    "X": "X...X/.X.X./..X../.X.X./X...X",
    "Y": "X...X/.X.X./..X../..X../..X..",
    "Z": "XXXXX/...X./..X../.X.../XXXXX",
    "a": "...../.XXX./X..X./X..X./.XX.X",
    "b": "X..../X..../XXXX./X...X/XXXX.",
    "d": "....X/....X/.XXXX/X...X/.XXXX",
    "e": ".XXX./X...X/XXXXX/X..../.XXX.",
    "h": "X..../X..../XXXX./X...X/X...X",
    "n": "...../...../XXXX./X...X/X...X",
    "r": "...../X.XX./XX.../X..../X....",
    "t": ".X.../XXXX./.X.../.X.../..XX.",
    "u": "...../...../X...X/X...X/.XXXX",
    "x": "...../X..X./.XX../.XX../X..X.",
}
# Digits five cells wide ...
_DIGITS = {
    "0": ".XXX./X..XX/X.X.X/XX..X/.XXX.",
    "1": "..X../.XX../X.X../..X../XXXXX",
    "2": ".XXX./X...X/..XX./.X.../XXXXX",
    "3": "XXXX./....X/.XXX./....X/XXXX.",
    "4": "X..X./X..X./XXXXX/...X./...X.",
    "5": "XXXXX/X..../XXXX./....X/XXXX.",
    "6": ".XXX./X..../XXXX./X...X/.XXX.",
    "7": "XXXXX/....X/...X./..X../..X..",
    "8": ".XXX./X...X/.XXX./X...X/.XXX.",
    "9": ".XXX./X...X/.XXXX/....X/.XXX.",
}
# ... and three cells wide, placed at the left, in the middle and at the right of the grid
_NARROW_DIGITS = {
    "0": "XXX/X.X/X.X/X.X/XXX",
    "1": ".X./XX./.X./.X./XXX",
    "2": "XXX/..X/XXX/X../XXX",
    "3": "XXX/..X/XXX/..X/XXX",
    "4": "X.X/X.X/XXX/..X/..X",
    "5": "XXX/X../XXX/..X/XXX",
    "6": "XXX/X../XXX/X.X/XXX",
    "7": "XXX/..X/..X/..X/..X",
    "8": "XXX/X.X/XXX/X.X/XXX",
    "9": "XXX/X.X/XXX/..X/XXX",
}


def from_pattern(pattern: str) -> str:
    """``"X...X/.X.X./..."`` -> the grid string."""
    return "\n".join(" ".join(FILLED if char == "X" else EMPTY for char in row) for row in pattern.split("/"))


def cells(grid: str) -> list[list[str]]:
    return [row.split(" ") for row in grid.split("\n")]


def from_cells(rows: list[list[str]]) -> str:
    return "\n".join(" ".join(row) for row in rows)


def letter_grids() -> list[str]:
    return [from_pattern(pattern) for pattern in _LETTERS.values()]


def number_grids() -> list[str]:
    wide = [from_pattern(pattern) for pattern in _DIGITS.values()]
    narrow = [
        from_pattern("/".join("." * offset + row + "." * (SIZE - 3 - offset) for row in pattern.split("/")))
        for offset in range(SIZE - 2)
        for pattern in _NARROW_DIGITS.values()
    ]
    return wide + narrow


def row_line_grids() -> list[str]:
    """Every grid whose rows are each completely filled or empty (not all of them the same)."""
    return [
        from_cells([[FILLED if mask >> r & 1 else EMPTY] * SIZE for r in range(SIZE)])
        for mask in range(1, 2**SIZE - 1)
    ]


def transpose(grid: str) -> str:
    return from_cells([list(column) for column in zip(*cells(grid))])


def column_line_grids() -> list[str]:
    return [transpose(grid) for grid in row_line_grids()]


def random_grids(rng: random.Random, count: int, exclude: set[str]) -> list[str]:
    """``count`` distinct random grids, between 8 and 17 filled cells, none of them in ``exclude``."""
    grids: list[str] = []
    while len(grids) < count:
        filled = set(rng.sample(range(SIZE * SIZE), rng.randint(8, 17)))
        grid = from_cells([[FILLED if r * SIZE + c in filled else EMPTY for c in range(SIZE)] for r in range(SIZE)])
        if grid not in exclude and grid not in grids:
            grids.append(grid)
    return grids


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions), computed a column at a time with bit vectors
    (Myers' algorithm in Hyyrö's formulation): one pass over ``b`` with ``a`` held in the bits of an int."""
    if not a:
        return len(b)
    mask = (1 << len(a)) - 1
    last = 1 << (len(a) - 1)
    positions: dict[str, int] = {}
    for index, char in enumerate(a):
        positions[char] = positions.get(char, 0) | 1 << index
    plus, minus, distance = mask, 0, len(a)  # vertical +1 / -1 deltas of the current column
    for char in b:
        match = positions.get(char, 0)
        vertical = match | minus
        horizontal = (((match & plus) + plus) ^ plus) | match
        horizontal_plus = minus | ~(horizontal | plus)
        horizontal_minus = plus & horizontal
        if horizontal_plus & last:
            distance += 1
        elif horizontal_minus & last:
            distance -= 1
        horizontal_plus = (horizontal_plus << 1) | 1
        horizontal_minus <<= 1
        plus = (horizontal_minus | ~(vertical | horizontal_plus)) & mask
        minus = horizontal_plus & vertical & mask
    return distance


def nearest(target: str, pool: list[str], count: int = 2) -> list[str]:
    """The ``count`` grids of ``pool`` (other than ``target``) closest to it by edit distance; ties keep pool order."""
    others = [grid for grid in pool if grid != target]
    return sorted(others, key=lambda grid: levenshtein(target, grid))[:count]


# ------------------------------------------------------------------ reading grids out of prompts
_GRID_LINE = re.compile(rf"^[{FILLED}{EMPTY}]( [{FILLED}{EMPTY}]){{{SIZE - 1}}}$")


def grids_in(text: str) -> list[str]:
    """Every block of five consecutive grid rows in ``text``, in order."""
    grids, block = [], []
    for line in text.split("\n") + [""]:
        if _GRID_LINE.match(line.strip()):
            block.append(line.strip())
            continue
        if len(block) == SIZE:
            grids.append("\n".join(block))
        block = []
    return grids

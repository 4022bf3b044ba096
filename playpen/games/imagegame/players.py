"""Scripted imagegame players.

* Giver, competent: fills uniform rows and columns with one command each, then every remaining letter cell
  with its own command, then says ``Command: DONE``. It reads the target from the instance (it is shown the
  target in its prompt). Bad: forgets about a third of the commands, misplaces some letters by one column and
  now and then echoes the follow-up question after its command (a format error).
* Follower, competent: replays every command it received so far on an empty grid and returns the grid;
  commands it cannot read change nothing. Bad: misplaces some letters and now and then introduces its grid
  with a sentence (a format error).

A policy is a pure function of the messages it sees and its seed.
"""

from __future__ import annotations

import random
import re
from typing import Any, Mapping

from playpen.core.messages import Policy
from playpen.games.grids import EMPTY, Grid, empty_grid, filled_cells, parse_grid, render_grid, with_cells
from playpen.games.imagegame.master import ImageGameMaster
from playpen.games.imagegame.prompts import NEXT_COMMAND


ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")
_NUMBER_WORDS = {word: index for index, word in enumerate(ORDINALS)}
_NUMBER_WORDS.update({"top": 0, "leftmost": 0})
_POSITION = r"(?:the )?(?:(\w+) {axis}|{axis} (\d+))"
_ROW, _COLUMN = _POSITION.format(axis="row"), _POSITION.format(axis="column")
_LETTER = r"(?:an? |the letter )?([A-Za-z])"
_PUT = re.compile(rf"(?:put|place|write|draw) {_LETTER} (?:in|at|into|on) {_ROW},? (?:and |in )?{_COLUMN}", re.IGNORECASE)
_FILL_ROW = re.compile(rf"fill {_ROW} with {_LETTER}", re.IGNORECASE)
_FILL_COLUMN = re.compile(rf"fill {_COLUMN} with {_LETTER}", re.IGNORECASE)
_FILL_ALL = re.compile(rf"fill (?:the )?(?:whole |entire )?grid with {_LETTER}", re.IGNORECASE)


def _article(letter: str) -> str:
    return "an" if letter in "AEFHILMNORSX" else "a"


# ---------------------------------------------------------------------------------------------- giver
def command_plan(target: Grid) -> list[str]:
    """The competent giver's commands: uniform rows, then uniform columns, then single cells."""
    size = len(target)
    commands: list[str] = []
    covered: set[tuple[int, int]] = set()
    for r, row in enumerate(target):
        if row[0] != EMPTY and len(set(row)) == 1:
            commands.append(f"Command: Fill the {ORDINALS[r]} row with {row[0]}")
            covered.update((r, c) for c in range(size))
    for c in range(size):
        column = {target[r][c] for r in range(size)}
        cells = {(r, c) for r in range(size)}
        if len(column) == 1 and EMPTY not in column and not cells <= covered:
            commands.append(f"Command: Fill the {ORDINALS[c]} column with {target[0][c]}")
            covered |= cells
    for r, c, letter in filled_cells(target):
        if (r, c) not in covered:
            commands.append(f"Command: Put {_article(letter)} {letter} in the {ORDINALS[r]} row, {ORDINALS[c]} column")
    return commands


def _sloppy_plan(target: Grid, rng: random.Random) -> list[str]:
    size = len(target)
    commands = []
    for r, c, letter in filled_cells(target):
        if rng.random() < 0.35:
            continue  # forgotten
        if rng.random() < 0.3:
            c = (c + 1) % size
        commands.append(f"Command: Put {_article(letter)} {letter} in the {ORDINALS[r]} row, {ORDINALS[c]} column")
    return commands


def _giver(plan: list[str], seed: int, sloppy: bool) -> Policy:
    def policy(messages: list[dict[str, str]]) -> str:
        turn = sum(m["role"] == "assistant" for m in messages)
        command = plan[turn] if turn < len(plan) else "Command: DONE"
        if sloppy and random.Random(f"{seed}-{turn}").random() < 0.05:
            command += f"\n\n{NEXT_COMMAND}"
        return command

    return policy


# ---------------------------------------------------------------------------------------------- follower
def _index(word: str | None, number: str | None, size: int) -> int | None:
    if number is not None:
        index = int(number) - 1
    elif word is not None:
        word = word.lower()
        index = size - 1 if word in ("last", "bottom", "rightmost") else _NUMBER_WORDS.get(word, -1)
    else:
        return None
    return index if 0 <= index < size else None


def command_cells(command: str, size: int) -> tuple[list[tuple[int, int]], str] | None:
    """The cells a command writes and the letter it writes there, or None if it is not understood."""
    if match := _PUT.search(command):
        letter, row_word, row_number, column_word, column_number = match.groups()
        r, c = _index(row_word, row_number, size), _index(column_word, column_number, size)
        return ([(r, c)], letter.upper()) if r is not None and c is not None else None
    if match := _FILL_ROW.search(command):
        r = _index(match.group(1), match.group(2), size)
        return ([(r, c) for c in range(size)], match.group(3).upper()) if r is not None else None
    if match := _FILL_COLUMN.search(command):
        c = _index(match.group(1), match.group(2), size)
        return ([(r, c) for r in range(size)], match.group(3).upper()) if c is not None else None
    if match := _FILL_ALL.search(command):
        return [(r, c) for r in range(size) for c in range(size)], match.group(1).upper()
    return None


def _follower(size: int, seed: int, sloppy: bool) -> Policy:
    def policy(messages: list[dict[str, str]]) -> str:
        grid = empty_grid(size)
        commands = [m["content"].strip().split("\n")[-1] for m in messages if m["role"] == "user"]
        for index, command in enumerate(commands):
            understood = command_cells(command, size)
            if understood is None:
                continue
            cells, letter = understood
            if sloppy and random.Random(f"{seed}-cell-{index}").random() < 0.3:
                cells = [(r, (c + 1) % size) for r, c in cells]
            grid = with_cells(grid, cells, letter)
        answer = render_grid(grid)
        if sloppy and random.Random(f"{seed}-say-{len(commands)}").random() < 0.05:
            answer = "Here is the grid after your command:\n" + answer
        return answer

    return policy


def scripted(role: str, skill: str, experiment: Mapping[str, Any], instance: Mapping[str, Any], seed: int) -> Policy:
    giver, follower = ImageGameMaster.roles
    if skill not in ("competent", "bad"):
        raise ValueError(f"unknown skill '{skill}' (competent, bad)")
    sloppy = skill == "bad"
    if role == giver:
        target = parse_grid(instance["target_grid"])
        plan = _sloppy_plan(target, random.Random(f"{seed}-plan")) if sloppy else command_plan(target)
        return _giver(plan, seed, sloppy)
    if role == follower:
        return _follower(int(instance.get("grid_dimension", 5)), seed, sloppy)
    raise ValueError(f"imagegame has no role '{role}' (roles: {giver}, {follower})")

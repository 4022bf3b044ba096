"""Scripted matchit_ascii players.

Competent: describes its grid row by row, cell by cell ("Row 1 is X ▢ ▢ ▢ X. ..."), asks for the
partner's rows one at a time, answers with its own row, and decides by comparing every row it has read
from the partner (description and answers) with its own grid. It reads its grid from the instance (it is
shown that grid in its prompt), never the partner's.

Bad: gives vague descriptions, questions and answers, mostly claims the grids are the same and now and
then breaks the format (a sentence without the flag, or a decision in its own words).

A policy is a pure function of the messages it sees and its seed.
"""

from __future__ import annotations

import random
import re
from typing import Any, Mapping

from playpen.core.messages import Policy
from playpen.games.grids import Grid, parse_grid
from playpen.games.matchit_ascii.master import (
    ANSWER, DECISION, DEFAULT_FLAGS, DESCRIPTION, DIFFERENT_VERDICT, QUESTION, SAME_VERDICT, MatchItMaster,
)


_ROW_STATEMENT = re.compile(r"\brow (\d+) is ((?:[^\s.]+ )*[^\s.]+)", re.IGNORECASE)
_ROW_NUMBER = re.compile(r"\brow (\d+)", re.IGNORECASE)


def requested_kind(context: str, flags: Mapping[str, str]) -> str:
    """The flag a context asks for: the one mentioned last (relayed texts come before the request)."""
    return max(flags, key=lambda kind: context.rfind(flags[kind]))


def _row_text(grid: Grid, index: int) -> str:
    return " ".join(grid[index])


def describe(grid: Grid) -> str:
    return " ".join(f"Row {r + 1} is {_row_text(grid, r)}." for r in range(len(grid)))


def partner_rows(messages: list[dict[str, str]]) -> dict[int, tuple[str, ...]]:
    """Every row the partner stated ("row N is ..."), later statements winning."""
    rows: dict[int, tuple[str, ...]] = {}
    for message in messages:
        if message["role"] == "user":
            for number, cells in _ROW_STATEMENT.findall(message["content"]):
                rows[int(number) - 1] = tuple(cells.split(" "))
    return rows


def _competent(grid: Grid, flags: Mapping[str, str], verdicts: tuple[str, str]) -> Policy:
    same, different = verdicts

    def policy(messages: list[dict[str, str]]) -> str:
        context = messages[-1]["content"]
        kind = requested_kind(context, flags)
        if kind == DESCRIPTION:
            return f"{flags[DESCRIPTION]} {describe(grid)}"
        if kind == QUESTION:
            asked = sum(m["role"] == "assistant" and m["content"].startswith(flags[QUESTION]) for m in messages)
            row = asked % len(grid) + 1
            return f"{flags[QUESTION]} What exactly is in your row {row}?"
        if kind == ANSWER:
            numbers = [int(n) - 1 for n in _ROW_NUMBER.findall(context) if 0 < int(n) <= len(grid)]
            if numbers:
                return f"{flags[ANSWER]} My row {numbers[-1] + 1} is {_row_text(grid, numbers[-1])}."
            return f"{flags[ANSWER]} {describe(grid)}"
        theirs = partner_rows(messages)
        mismatch = any(index >= len(grid) or cells != grid[index] for index, cells in theirs.items())
        return f"{flags[DECISION]} {different if mismatch else same}"

    return policy


def _bad(flags: Mapping[str, str], verdicts: tuple[str, str], seed: int) -> Policy:
    same, different = verdicts

    def policy(messages: list[dict[str, str]]) -> str:
        rng = random.Random(f"{seed}-{len(messages)}")
        kind = requested_kind(messages[-1]["content"], flags)
        if rng.random() < 0.05:
            return "Sure, happy to help with that!"
        if kind == DESCRIPTION:
            return f"{flags[DESCRIPTION]} There are some X's and some empty cells."
        if kind == QUESTION:
            return f"{flags[QUESTION]} Does your grid have X's in it?"
        if kind == ANSWER:
            return f"{flags[ANSWER]} Yes, it does."
        roll = rng.random()
        if roll < 0.1:
            return f"{flags[DECISION]} I think they are probably the same."
        return f"{flags[DECISION]} {same if roll < 0.75 else different}"

    return policy


def scripted(role: str, skill: str, experiment: Mapping[str, Any], instance: Mapping[str, Any], seed: int) -> Policy:
    player_a, player_b = MatchItMaster.roles
    if role not in (player_a, player_b):
        raise ValueError(f"matchit_ascii has no role '{role}' (roles: {player_a}, {player_b})")
    flags = {**DEFAULT_FLAGS, **experiment.get("flags", {})}
    verdicts = (SAME_VERDICT, DIFFERENT_VERDICT)
    if skill == "competent":
        return _competent(parse_grid(instance["grid_a" if role == player_a else "grid_b"]), flags, verdicts)
    if skill == "bad":
        return _bad(flags, verdicts, seed)
    raise ValueError(f"unknown skill '{skill}' (competent, bad)")

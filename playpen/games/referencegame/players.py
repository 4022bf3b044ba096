"""Scripted reference-game players; both read the grids out of their own prompt.

* Giver, competent: for each distractor it names the first cell (row by row) in which the target differs
  from it, and says whether that cell is filled or empty in the target. Bad: a vague expression; now and then
  it adds a second line (strict mode aborts) or forgets the ``Expression:`` tag.
* Giver, literal: states the filled/empty state of every cell of the target's first row, without looking at
  the distractors. It is weaker than the competent giver (the scripted follower finds the target in 74 of the
  90 test episodes) but it is a copy of the grid rather than a comparison of grids, which makes it a teacher
  a small model can imitate.
* Follower, competent (also for the literal skill): picks the grid that agrees with most of the cell
  statements in the expression (the first such grid on a tie). Bad: answers at random and now and then breaks
  the answer format.

A policy is a deterministic function of the messages it sees and its seed.
"""

from __future__ import annotations

import random
import re
from typing import Any, Mapping

from playpen.core.messages import Policy
from playpen.games.referencegame.grids import EMPTY, FILLED, ORDINALS, cells, grids_in
from playpen.games.referencegame.master import FOLLOWER, GIVER
from playpen.games.referencegame.prompts import ANSWER_TAG, EXPRESSION_TAG


BAD_FORMAT_RATE = 0.25
POSITIONS = ("first", "second", "third")
_ORDINAL = "|".join(ORDINALS)
_CELL_STATEMENT = re.compile(rf"the cell in the ({_ORDINAL}) row and ({_ORDINAL}) column is (filled|empty)")
VAGUE_EXPRESSIONS = (
    "The grid with a few X in it.",
    "The one that looks like a pattern.",
    "The grid that is different from the others.",
)


def scripted(role: str, skill: str, experiment: Mapping[str, Any], instance: Mapping[str, Any], seed: int) -> Policy:
    rng = random.Random(seed)
    competent = skill == "competent"
    if role == GIVER:
        if skill == "literal":
            return literal_giver
        return competent_giver if competent else bad_giver(rng)
    if role == FOLLOWER:
        return bad_follower(rng) if skill == "bad" else competent_follower
    raise ValueError(f"referencegame has no role {role!r}")


def _prompt_grids(messages: list[dict[str, str]]) -> list[str]:
    return grids_in(messages[-1]["content"]) if messages else []


def describe(target: str, distractors: list[str]) -> str:
    """A one-line expression naming, for each distractor, a cell in which the target differs from it."""
    target_cells = cells(target)
    statements: list[str] = []
    for distractor in distractors:
        other = cells(distractor)
        differing = [(r, c) for r in range(len(target_cells)) for c in range(len(target_cells[r]))
                     if target_cells[r][c] != other[r][c]]
        if not differing:
            continue
        r, c = differing[0]
        state = "filled" if target_cells[r][c] == FILLED else "empty"
        statement = f"the cell in the {ORDINALS[r]} row and {ORDINALS[c]} column is {state}"
        if statement not in statements:
            statements.append(statement)
    if not statements:
        return f"{EXPRESSION_TAG} The grid I see first."
    return f"{EXPRESSION_TAG} The grid where " + " and ".join(statements) + "."


def competent_giver(messages: list[dict[str, str]]) -> str:
    grids = _prompt_grids(messages)
    if len(grids) < 3:
        return f"{EXPRESSION_TAG} The target grid."
    return describe(grids[0], grids[1:3])


def literal_giver(messages: list[dict[str, str]]) -> str:
    grids = _prompt_grids(messages)
    if not grids:
        return f"{EXPRESSION_TAG} The target grid."
    first_row = cells(grids[0])[0]
    statements = [f"the cell in the first row and {ORDINALS[c]} column is {'filled' if cell == FILLED else 'empty'}"
                  for c, cell in enumerate(first_row)]
    return f"{EXPRESSION_TAG} The grid where " + " and ".join(statements) + "."


def bad_giver(rng: random.Random) -> Policy:
    def policy(messages: list[dict[str, str]]) -> str:
        expression = rng.choice(VAGUE_EXPRESSIONS)
        draw = rng.random()
        if draw < BAD_FORMAT_RATE / 2:
            return f"{EXPRESSION_TAG} {expression}\nI hope this helps!"
        if draw < BAD_FORMAT_RATE:
            return f"Here is my expression: {expression}"
        return f"{EXPRESSION_TAG} {expression}"

    return policy


def agreement(grid: str, statements: list[tuple[str, str, str]]) -> int:
    rows = cells(grid)
    wanted = {"filled": FILLED, "empty": EMPTY}
    return sum(rows[ORDINALS.index(r)][ORDINALS.index(c)] == wanted[state] for r, c, state in statements)


def competent_follower(messages: list[dict[str, str]]) -> str:
    grids = _prompt_grids(messages)[:3]
    statements = _CELL_STATEMENT.findall(messages[-1]["content"].lower()) if messages else []
    if not grids:
        return f"{ANSWER_TAG} first"
    best = max(range(len(grids)), key=lambda index: (agreement(grids[index], statements), -index))
    return f"{ANSWER_TAG} {POSITIONS[best]}"


def bad_follower(rng: random.Random) -> Policy:
    def policy(messages: list[dict[str, str]]) -> str:
        choice = rng.choice(POSITIONS)
        if rng.random() < BAD_FORMAT_RATE:
            return f"I would say the {choice} one."
        return f"{ANSWER_TAG} {choice}"

    return policy

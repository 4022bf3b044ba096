"""imagegame prompts (our own wording; the protocol markers ``Command:`` / ``Command: DONE`` and the
follow-up question are clembench's).

An official instance carries clembench's texts: the giver is sent ``player_1_prompt_header``, the target grid
and ``player_1_question`` (one per line), asked ``player_1_question`` after each drawn grid, and the follower
gets ``player_2_prompt_header`` before the first instruction."""

from __future__ import annotations

from functools import lru_cache
from string import Template
from typing import Any, Mapping

from playpen.games.official import official_text

from playpen.games.grids import empty_grid, render_grid

#: What the giver is asked after every drawn grid (clembench's ``player_1_question``).
NEXT_COMMAND = "What is your next command?"

_GIVER = Template("""\
Let's play a drawing game. You can see a target grid that I cannot see. Help me draw it on my own grid, \
which is $size by $size and starts out empty, like this:

$empty

Empty cells are written "▢"; you only need to tell me where the letters go. Give me one command at a time. \
A command may cover a single cell, several cells, a whole row or column, or even the whole grid. \
Write every command on one line that starts with "Command:", and write nothing else. \
After each command I will ask "$next_command". Once the whole target is described, reply "Command: DONE".

For example, with the target

$example

the conversation could go:

Command: Put an A in the second row, fourth column
$next_command
Command: Fill the fifth row with K
$next_command
Command: DONE

Now describe this target grid:

$target
$next_command""")

_FOLLOWER = Template("""\
Let's draw a picture together. You have a $size by $size grid that starts out empty:

$empty

I will give you commands such as "Command: Put a B in the top right corner". Apply each command to your \
grid and reply with the complete grid, written exactly like the one below (one row per line, cells \
separated by single spaces, "▢" for an empty cell), and with nothing before or after it:

$example

Cells keep their letters unless a command changes them. Here is the first command.""")


@lru_cache(maxsize=8)
def _empty(size: int) -> str:
    return render_grid(empty_grid(size))


@lru_cache(maxsize=8)
def _example_grids(size: int) -> tuple[str, str]:
    """The giver's example target and the follower's example answer, drawn on a grid of ``size``."""
    target = [list(row) for row in empty_grid(size)]
    target[1][size - 2] = "A"
    target[size - 1] = ["K"] * size
    corner = [list(row) for row in empty_grid(size)]
    corner[0][size - 1] = "B"
    return render_grid(tuple(map(tuple, target))), render_grid(tuple(map(tuple, corner)))


def next_command(instance: Mapping[str, Any]) -> str:
    question = official_text(instance, "player_1_question")
    return NEXT_COMMAND if question is None else question


def giver_prompt(instance: Mapping[str, Any], target_grid: str, size: int) -> str:
    header = official_text(instance, "player_1_prompt_header")
    if header is not None:
        return f"{header}\n{target_grid}\n{next_command(instance)}"
    example, _ = _example_grids(size)
    return _GIVER.substitute(
        size=size, empty=_empty(size), example=example,
        target=target_grid.strip(), next_command=NEXT_COMMAND,
    )


def follower_prompt(instance: Mapping[str, Any], size: int) -> str:
    header = official_text(instance, "player_2_prompt_header")
    return _our_follower_prompt(size) if header is None else header


@lru_cache(maxsize=8)
def _our_follower_prompt(size: int) -> str:
    _, example = _example_grids(size)
    return _FOLLOWER.substitute(size=size, empty=_empty(size), example=example)

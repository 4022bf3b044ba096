"""The reference game's prompts, in our own words. The protocol markers ``Expression:`` and ``Answer:`` and the
answer labels (first/second/third) are clembench's.

An official instance carries each player's whole prompt (``player_1_prompt_header`` with the grids in it,
``player_2_prompt_header`` with ``TARGET_EXPRESSION`` standing for the giver's reply): then those are sent."""

from __future__ import annotations

from string import Template

from typing import Any, Mapping

from playpen.games.official import fill, official_text
from playpen.games.referencegame.grids import EMPTY, FILLED

EXPRESSION_TAG = "Expression:"
ANSWER_TAG = "Answer:"

_GRID_KEY = f'Each grid has 5 rows of 5 cells; "{FILLED}" marks a filled cell and "{EMPTY}" an empty one.'

_GIVER = Template(f"""We are playing a reference game. Below are three grids. {_GRID_KEY}
The first one is the target; the other two are distractors. Your partner will see the same three grids in a \
different order, without knowing which one is the target.

Write a referring expression: one line that tells your partner which grid is the target, so that it cannot be \
confused with the two distractors.

Target grid:

$target

Distractor grid 1:

$first_distractor

Distractor grid 2:

$second_distractor

Reply with a single line that starts with "{EXPRESSION_TAG} " followed by your expression, and nothing else.""")

_FOLLOWER = Template(f"""We are playing a reference game. Below are three grids. {_GRID_KEY}
Your partner has written a referring expression for one of them. Find the grid it refers to.

First:

$first

Second:

$second

Third:

$third

$expression
Which grid does the expression refer to? Reply with a single line: "{ANSWER_TAG} " followed by first, second \
or third, and nothing else.""")


def giver_prompt(instance: Mapping[str, Any]) -> str:
    official = official_text(instance, "player_1_prompt_header")
    if official is not None:
        return official
    return _GIVER.substitute(target=instance["player_1_target_grid"], first_distractor=instance["player_1_second_grid"],
                             second_distractor=instance["player_1_third_grid"])


def follower_prompt(instance: Mapping[str, Any], expression: str) -> str:
    """``expression``: the giver's whole reply (stripped), ``Expression:`` tag included."""
    official = official_text(instance, "player_2_prompt_header")
    if official is not None:
        return fill(official, {"TARGET_EXPRESSION": expression})
    return _FOLLOWER.substitute(first=instance["player_2_first_grid"], second=instance["player_2_second_grid"],
                                third=instance["player_2_third_grid"], expression=expression)

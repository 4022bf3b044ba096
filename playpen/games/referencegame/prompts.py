"""The reference game's prompts, in our own words. The protocol markers ``Expression:`` and ``Answer:`` and the
answer labels (first/second/third) are clembench's."""

from __future__ import annotations

from string import Template

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


def giver_prompt(target: str, first_distractor: str, second_distractor: str) -> str:
    return _GIVER.substitute(target=target, first_distractor=first_distractor, second_distractor=second_distractor)


def follower_prompt(first: str, second: str, third: str, expression: str) -> str:
    return _FOLLOWER.substitute(first=first, second=second, third=third, expression=expression)

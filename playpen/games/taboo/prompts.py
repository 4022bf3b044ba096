"""Taboo's prompts, in our own words. The protocol markers ``CLUE:`` and ``GUESS:`` are clembench's.

An official experiment carries clembench's prompts (``describer_initial_prompt`` with ``$TARGET_WORD$``,
``$REL_WORD$`` and ``$N$``, ``guesser_initial_prompt`` with ``$N$``): then those are filled in and sent, with the
taboo list written as clembench writes it (its first three related words, one ``- word`` line each)."""

from __future__ import annotations

from string import Template
from typing import Any, Mapping

from playpen.games.official import fill, official_text
from playpen.games.taboo.clues import CLUE_TAG, GUESS_TAG

_DESCRIBER = Template(f"""Let's play a word game together. You describe a secret word and your partner tries to \
guess it from your descriptions.

How to answer: write "{CLUE_TAG}" followed by your description, e.g. "{CLUE_TAG} a place where you can borrow \
books". Your partner's guesses will start with "{GUESS_TAG}".

Taboo: your description must not contain the secret word, any part of it or any form of it (plural, past \
tense and so on). The same holds for the taboo words listed below.

The game ends
- in a loss for both of you as soon as a description contains a forbidden word;
- in a win for both of you if your partner names the secret word within $turns guesses.

The secret word your partner has to guess:

$target

Taboo words:

$related

Keep every description short and to the point, there is not much time!""")

_GUESSER = Template(f"""Let's play a word game together. Your partner knows a secret word and describes it to you; \
you try to guess it.

You have $turns tries, one guess per try. You win as soon as you name the secret word, and you lose if you \
have not found it after $turns tries. Each new description from your partner starts with "{CLUE_TAG}".

Answer with "{GUESS_TAG}" followed by a single word and nothing else, e.g. "{GUESS_TAG} library".

Here is the first description.""")


def describer_prompt(experiment: Mapping[str, Any], target: str, related: list[str], turns: int) -> str:
    official = official_text(experiment, "describer_initial_prompt")
    if official is not None:
        taboo_list = "\n".join(f"- {word}" for word in related[:3])
        return fill(official, {"$TARGET_WORD$": target, "$REL_WORD$": taboo_list, "$N$": str(turns)})
    taboo_list = "\n".join(f"- {word}" for word in related)
    return _DESCRIBER.substitute(target=target, related=taboo_list, turns=turns)


def guesser_prompt(experiment: Mapping[str, Any], turns: int) -> str:
    official = official_text(experiment, "guesser_initial_prompt")
    if official is not None:
        return fill(official, {"$N$": str(turns)})
    return _GUESSER.substitute(turns=turns)

"""Scripted taboo players.

* Describer, competent: first the curated description of the target (``data/targets.json``), then letter
  hints; every clue is checked against the taboo rule before it is given. Bad: now and then forgets the
  ``CLUE:`` tag (abort), now and then names a taboo word (loss), otherwise gives a vague clue.
* Guesser, competent: looks the clue up among the curated descriptions; when it does not know the clue (e.g.
  on clembench's own instances) it peeks at the instance's target. One time in five it first tries a related
  word, so some episodes take two rounds. Bad: guesses random words from the curated list (never the target)
  and now and then forgets the ``GUESS:`` tag (abort).

A policy is a deterministic function of the messages it sees, its instance and its seed.
"""

from __future__ import annotations

import random
from typing import Any, Mapping

from playpen.core.messages import Policy
from playpen.games.taboo.clues import CLUE_TAG, GUESS_TAG, STOPWORDS, normalise, taboo_breaches
from playpen.games.taboo.master import DESCRIBER, GUESSER
from playpen.games.taboo.targets import entries_by_word, words_by_clue


FIRST_GUESS_MISS_RATE = 0.2
BAD_FORMAT_RATE = 0.25
BAD_TABOO_RATE = 0.3
VAGUE_CLUES = (
    "It is something you might come across one day.",
    "Think about it, you surely know it.",
    "It is a word in English.",
)


def scripted(role: str, skill: str, experiment: Mapping[str, Any], instance: Mapping[str, Any], seed: int) -> Policy:
    target = str(instance["target_word"])
    related = [str(word) for word in instance["related_word"]]
    rng = random.Random(seed)
    competent = skill == "competent"
    if role == DESCRIBER:
        return competent_describer(target, related) if competent else bad_describer(target, related, rng)
    if role == GUESSER:
        return competent_guesser(target, related, rng) if competent else bad_guesser(target, rng)
    raise ValueError(f"taboo has no role {role!r}")


def scripted_limits(role: str, instance: Mapping[str, Any]) -> str | None:
    """The describer knows descriptions only of our curated targets; for others it gives letter hints only."""
    if role == DESCRIBER and str(instance.get("target_word")) not in entries_by_word():
        return "has no description of the target (not one of our curated words) and gives letter hints only"
    return None


def _turns_taken(messages: list[dict[str, str]]) -> int:
    return sum(1 for message in messages if message["role"] == "assistant")


def describer_clues(target: str, related: list[str]) -> list[str]:
    """The competent describer's clues, best first, all free of taboo words."""
    entry = entries_by_word().get(target)
    candidates = [entry.clue] if entry else []
    candidates += [
        f"It has {len(target)} letters and starts with the letter '{target[0]}'.",
        f"It has {len(target)} letters; the last one is '{target[-1]}'.",
        f"Its second letter is '{target[1:2]}' and its first is '{target[:1]}'.",
    ]
    clues = [f"{CLUE_TAG} {text}" for text in candidates if not taboo_breaches(text, target, related)]
    return clues or [f"{CLUE_TAG} ?"]  # an empty clue never breaks the taboo


def competent_describer(target: str, related: list[str]) -> Policy:
    clues = describer_clues(target, related)

    def policy(messages: list[dict[str, str]]) -> str:
        return clues[min(_turns_taken(messages), len(clues) - 1)]

    return policy


def bad_describer(target: str, related: list[str], rng: random.Random) -> Policy:
    # a forbidden word that survives the stopword filter, so naming it really breaks the taboo
    forbidden = next((w for w in related if w.lower() not in STOPWORDS), target)

    def policy(messages: list[dict[str, str]]) -> str:
        draw = rng.random()
        if draw < BAD_FORMAT_RATE:
            return f"My clue would be: {rng.choice(VAGUE_CLUES)}"
        if draw < BAD_FORMAT_RATE + BAD_TABOO_RATE:
            return f"{CLUE_TAG} It goes together with {forbidden}."
        return f"{CLUE_TAG} {rng.choice(VAGUE_CLUES)}"

    return policy


def _last_clue(messages: list[dict[str, str]]) -> str:
    content = messages[-1]["content"] if messages else ""
    return content[content.rfind(CLUE_TAG):].strip() if CLUE_TAG in content else ""


def competent_guesser(target: str, related: list[str], rng: random.Random) -> Policy:
    misses_first = rng.random() < FIRST_GUESS_MISS_RATE
    decoy = next((w for w in related if normalise(w, GUESS_TAG) != target), None)

    def policy(messages: list[dict[str, str]]) -> str:
        if misses_first and decoy and _turns_taken(messages) == 0:
            return f"{GUESS_TAG} {decoy}"
        known = words_by_clue().get(_last_clue(messages).removeprefix(CLUE_TAG).strip())
        return f"{GUESS_TAG} {known or target}"

    return policy


def bad_guesser(target: str, rng: random.Random) -> Policy:
    vocabulary = sorted(word for word in entries_by_word() if word != target)

    def policy(messages: list[dict[str, str]]) -> str:
        word = rng.choice(vocabulary)
        if rng.random() < BAD_FORMAT_RATE:
            return f"I think the word is {word}."
        return f"{GUESS_TAG} {word}"

    return policy

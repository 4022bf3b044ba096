"""Scripted taboo players.

* Describer, competent: first the curated description of the target (``data/targets.json``), then letter
  hints; every clue is checked against the taboo rule before it is given. Independent: the same, but its first
  clue comes from descriptions written separately from the curated list, for clembench v2.0's own test targets
  (``data/independent_clues.json``): a describer whose wording no training conversation contains.
  Bad: now and then forgets the ``CLUE:`` tag (abort), now and then names a taboo word (loss), otherwise gives a vague clue.
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
from playpen.games.taboo.targets import curated_clues, entries_by_word, independent_clues, words_by_clue


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
    bad = skill == "bad"
    if role == DESCRIBER:
        return bad_describer(target, related, rng) if bad else competent_describer(target, related, _descriptions(skill))
    if role == GUESSER:
        return bad_guesser(target, rng) if bad else competent_guesser(target, related, rng)
    raise ValueError(f"taboo has no role {role!r}")


def _descriptions(skill: str) -> Mapping[str, str]:
    """target -> the describer's first clue: curated (competent) or written independently (independent)."""
    return independent_clues() if skill == "independent" else curated_clues()


def scripted_limits(role: str, skill: str, instance: Mapping[str, Any]) -> str | None:
    """The describer knows descriptions only of its own list's targets; for others it gives letter hints only."""
    if role == DESCRIBER and skill != "bad" and str(instance.get("target_word")) not in _descriptions(skill):
        source = "written independently" if skill == "independent" else "of our curated words"
        return f"has no description of the target (not one {source}) and gives letter hints only"
    return None


def _turns_taken(messages: list[dict[str, str]]) -> int:
    return sum(1 for message in messages if message["role"] == "assistant")


def describer_clues(target: str, related: list[str], descriptions: Mapping[str, str] | None = None) -> list[str]:
    """The describer's clues, best first, all free of taboo words: the description of ``target`` from
    ``descriptions`` (default: the curated ones), then letter hints."""
    description = (curated_clues() if descriptions is None else descriptions).get(target)
    candidates = [description] if description else []
    candidates += [
        f"It has {len(target)} letters and starts with the letter '{target[0]}'.",
        f"It has {len(target)} letters; the last one is '{target[-1]}'.",
        f"Its second letter is '{target[1:2]}' and its first is '{target[:1]}'.",
    ]
    clues = [f"{CLUE_TAG} {text}" for text in candidates if not taboo_breaches(text, target, related)]
    return clues or [f"{CLUE_TAG} ?"]  # an empty clue never breaks the taboo


def competent_describer(target: str, related: list[str], descriptions: Mapping[str, str] | None = None) -> Policy:
    clues = describer_clues(target, related, descriptions)

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

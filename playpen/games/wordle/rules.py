"""Wordle's rules as pure functions: reply parsing, guess validation, colour feedback and the scores.

Everything here follows clembench v2.0 (``wordle``, ``wordle_withclue``, ``wordle_withcritic``); the game
masters in :mod:`playpen.games.wordle.master` only sequence these steps.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

from playpen.core.errors import ParseError, RuleViolation

# Protocol markers (clembench's ``lang_keywords`` for English).
EXPLANATION_TAG = "explanation:"
GUESS_TAG = "guess:"
AGREEMENT_TAG = "agreement:"
CLUE_TAG = "clue:"
FEEDBACK_TAG = "guess_feedback:"
GUESS_AGREEMENT_TAG = "guess_agreement:"
AGREEMENT_EXPLANATION_TAG = "agreement_explanation:"
AGREEMENT_WORDS = ("yes", "no")

GREEN, YELLOW, RED = "green", "yellow", "red"

# clembench's error keys (the ``key`` of the raised error).
INVALID_START_WORD = "INVALID_START_WORD"
UNKNOWN_TAGS = "UNKNOWN_TAGS"
MORE_THAN_ONE_GUESS = "MORE_THAN_ONE_GUESS"
INVALID_FORMAT = "INVALID_FORMAT"
INVALID_WORD_LENGTH = "INVALID_WORD_LENGTH"
NOT_VALID_WORD_FOR_GAME = "NOT_VALID_WORD_FOR_GAME"
NOT_VALID_CRITIC_WORD = "NOT_VALID_CRITIC_WORD"

# clembench's metric names.
CLOSENESS_SCORE = "Closeness Score"
STRATEGY_SCORE = "Strategy Score"
CHANGE_OF_OPINION = "Change-Of-Opinion"
GUESS_REPETITIONS = "Guess Repetitions"
REPETITION_ON_AGREEMENT = "Repetition-Guesser-On-Critic-Agreement"
NON_REPETITION_ON_AGREEMENT = "Non-Repetition-Guesser-On-Critic-Agreement"
REPETITION_ON_DISAGREEMENT = "Repetition-Guesser-On-Critic-Disagreement"
NON_REPETITION_ON_DISAGREEMENT = "Non-Repetition-Guesser-On-Critic-Disagreement"

#: wordle's Main Score by the round of the winning guess (clembench's speed table; rounds 1–3 score 100).
WORDLE_SPEED_SCORES = {1: 100, 2: 100, 3: 100, 4: 50, 5: 30, 6: 20}


class UnknownWord(RuleViolation):
    """A well-formed five-letter guess that is not in the game's vocabulary: the guesser is asked again."""


@dataclass(frozen=True)
class Reply:
    content: str  # the guess or the agreement, stripped and lower-cased
    explanation: str


_EXPLANATION_PATTERN = re.compile(rf"{re.escape(EXPLANATION_TAG)}([^\n]*)", re.IGNORECASE)
_CONTENT_PATTERNS = {
    tag: re.compile(rf"{re.escape(tag)}([^\n]*)", re.IGNORECASE) for tag in (GUESS_TAG, AGREEMENT_TAG)
}


def parse_reply(response: str, content_tag: str = GUESS_TAG) -> Reply:
    """Split a two-line ``explanation: …`` / ``<content_tag> …`` reply, in clembench's order of checks.

    The reply is stripped first, as clembench's model backends strip every output before the game sees it.
    """
    text = response.strip()
    if not text.startswith(EXPLANATION_TAG):  # case-sensitive, as in clembench
        raise ParseError(f"the reply must start with '{EXPLANATION_TAG}'", response, INVALID_START_WORD)
    if len(text.split("\n")) > 2:
        raise ParseError(
            f"the reply may only hold the '{EXPLANATION_TAG}' and '{content_tag}' lines", response, UNKNOWN_TAGS
        )
    contents = _CONTENT_PATTERNS[content_tag].findall(text)
    if len(contents) != 1:
        raise ParseError(f"the reply must contain '{content_tag}' exactly once", response, MORE_THAN_ONE_GUESS)
    explanation = _EXPLANATION_PATTERN.search(text)
    return Reply(contents[0].strip().lower(), explanation.group(1).strip() if explanation else "")


def validate_guess(guess: str, word_length: int, vocabulary) -> None:
    """Raise RuleViolation (or UnknownWord) unless ``guess`` is a vocabulary word of ``word_length`` letters."""
    if not guess.isalpha() or " " in guess:
        raise RuleViolation("the guess must be one word made of letters only", guess, INVALID_FORMAT)
    if len(guess) != word_length:
        raise RuleViolation(f"the guess must have exactly {word_length} letters", guess, INVALID_WORD_LENGTH)
    if guess not in vocabulary:
        raise UnknownWord("the guess is not a word of this game's vocabulary", guess, NOT_VALID_WORD_FOR_GAME)


def validate_agreement(agreement: str) -> None:
    if not agreement.isalpha() or " " in agreement:
        raise RuleViolation("the agreement must be one word made of letters only", agreement, INVALID_FORMAT)
    if agreement not in AGREEMENT_WORDS:
        raise RuleViolation("the agreement must be 'yes' or 'no'", agreement, NOT_VALID_CRITIC_WORD)


def colours(guess: str, target: str) -> list[str]:
    """Standard Wordle colouring: greens first, then yellows left to right, each using up one unmatched
    occurrence of its letter in the target; everything else is red."""
    result = [RED] * len(guess)
    unmatched: dict[str, int] = {}
    for i, (g, t) in enumerate(zip(guess, target)):
        if g == t:
            result[i] = GREEN
        else:
            unmatched[t] = unmatched.get(t, 0) + 1
    for i, g in enumerate(guess):
        if result[i] is RED and unmatched.get(g):
            result[i] = YELLOW
            unmatched[g] -= 1
    return result


def format_feedback(guess: str, colour_list: Sequence[str]) -> str:
    """``h<red> o<green> …`` — clembench's feedback string."""
    return " ".join(f"{letter}<{colour}>" for letter, colour in zip(guess, colour_list))


def feedback(guess: str, target: str) -> str:
    return format_feedback(guess, colours(guess, target))


_FEEDBACK_TOKEN = re.compile(r"(\w)<(green|yellow|red)>")


def parse_feedback(text: str) -> list[tuple[str, str]]:
    """``"a<green> b<red>"`` -> ``[("a", "green"), ("b", "red")]``."""
    return _FEEDBACK_TOKEN.findall(text)


# ---------------------------------------------------------------------------------------------- scores
def closeness(colour_list: Sequence[str]) -> int:
    """5 per green and 3 per yellow letter (0–25)."""
    return sum(5 if c == GREEN else 3 if c == YELLOW else 0 for c in colour_list)


def strategy_scores(guesses: Sequence[str], colour_lists: Sequence[Sequence[str]], aborted: bool) -> list[int]:
    """clembench's Strategy Score per committed guess.

    A single guess scores 100 (a first-guess win) unless the episode was aborted (0). Otherwise the first
    guess scores 0 and every later guess is judged against the previous one's colours, with letter *sets*:
    −20 per red letter used again, +20 per green letter kept, +10 per yellow letter used again.
    """
    if len(guesses) == 1:
        return [0 if aborted else 100]
    scores = [0] if guesses else []
    for previous, previous_colours, current in zip(guesses, colour_lists, guesses[1:]):
        letters = set(current)
        by_colour = {GREEN: set(), YELLOW: set(), RED: set()}
        for letter, colour in zip(previous, previous_colours):
            by_colour[colour].add(letter)
        scores.append(
            -20 * len(by_colour[RED] & letters) + 20 * len(by_colour[GREEN] & letters) + 10 * len(by_colour[YELLOW] & letters)
        )
    return scores


def wordle_main_score(rounds: int) -> int:
    """wordle's Main Score of a win in round ``rounds`` (clembench defines rounds 1–6; later rounds, possible
    only with a larger ``n_turns``, score like round 6)."""
    return WORDLE_SPEED_SCORES.get(rounds, WORDLE_SPEED_SCORES[6])


def variant_main_score(rounds: int) -> float:
    """wordle_withclue / wordle_withcritic Main Score of a win in round ``rounds``."""
    return round(100 / rounds, 2)


def guess_repetitions(guesses: Sequence[str]) -> int:
    return len(guesses) - len(set(guesses))


def critic_metrics(initial: Sequence[str], committed: Sequence[str], judgements: Sequence[str]) -> tuple[list[int], dict]:
    """Change-Of-Opinion per round and the four agreement ratios of wordle_withcritic.

    Rounds are paired with ``zip`` (so a round cut short by an abort drops out). Without any pair every ratio
    is NaN; with pairs but no agreement (disagreement) the two agreement (disagreement) ratios are 0.
    """
    changes: list[int] = []
    same = {"yes": 0, "no": 0}
    different = {"yes": 0, "no": 0}
    for first, final, judgement in zip(initial, committed, judgements):
        changed = int(first != final)
        changes.append(changed)
        verdict = "yes" if judgement == "yes" else "no"
        (different if changed else same)[verdict] += 1
    ratios: dict[str, float] = {}
    for verdict, repetition, non_repetition in (
        ("yes", REPETITION_ON_AGREEMENT, NON_REPETITION_ON_AGREEMENT),
        ("no", REPETITION_ON_DISAGREEMENT, NON_REPETITION_ON_DISAGREEMENT),
    ):
        total = same[verdict] + different[verdict]
        if not changes:
            ratios[repetition] = ratios[non_repetition] = math.nan
        elif total == 0:
            ratios[repetition] = ratios[non_repetition] = 0
        else:
            ratios[repetition] = round(same[verdict] / total, 2)
            ratios[non_repetition] = round(different[verdict] / total, 2)
    ordered = [REPETITION_ON_AGREEMENT, NON_REPETITION_ON_AGREEMENT, REPETITION_ON_DISAGREEMENT, NON_REPETITION_ON_DISAGREEMENT]
    return changes, {name: ratios[name] for name in ordered}

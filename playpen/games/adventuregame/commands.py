"""Command parsing: the text after ``>`` -> action, arguments, preposition (or None: not a command at all).

clembench v2.0 parses commands with a Lark Earley grammar. This is a hand-written equivalent over the same
vocabulary (verbs and synonyms, determiners, adjectives, prepositions), much faster, that reproduces the grammar's
language and its choice among ambiguous readings:

* a command is words (``[a-z]+``) separated by whitespace, optionally followed by whitespace; anything else
  (digits, punctuation, leading blanks) is not a command;
* a *thing* is an optional determiner, any adjectives, then one or two words;
* ``open|close|examine THING``; ``go [back]* [to]* THING``; ``take PREP* THING (PREP THING)*``;
  ``put THING [back]* PREP* THING``; ``done`` alone;
* when several readings exist the one with the most keyword tokens (verb, determiner, adjective, preposition)
  wins, as in Lark's forest resolution; remaining ties go to the grammar alternative with the optional parts
  present, then to the reading whose tokens start latest (this matches Lark on every recorded command, not on
  all word salad; see docs/games/adventuregame.md);
* any other all-word input is an *unknown* command whose first word is reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from playpen.games.adventuregame.definitions import definitions

_WORD = re.compile(r"([a-z]+)([ \t\n\r\f]*)")
DETERMINERS = frozenset({"the", "a", "an"})
PREPOSITIONS = frozenset({"on", "in", "from", "out", "into", "up"})


def _verbs() -> dict[str, str]:
    return {verb: action.name for action in definitions(False).actions.values() for verb in action.verbs}


VERBS = _verbs()
ADJECTIVES = definitions(False).adjectives


@dataclass(frozen=True)
class Command:
    """A parsed command. ``action`` is None for an unknown command (then ``arg1`` is its first word)."""

    action: str | None
    arg1: str | None = None
    arg2: str | None = None
    prep: str | None = None


def _tokenize(text: str) -> list[tuple[str, str]] | None:
    """Words with the whitespace that follows each; None if the text is not words and whitespace."""
    words = []
    position = 0
    while position < len(text):
        match = _WORD.match(text, position)
        if match is None:
            return None
        words.append((match.group(1), match.group(2)))
        position = match.end()
        if not match.group(2) and position < len(text):
            return None
    return words


@dataclass(frozen=True)
class _Reading:
    score: int  # keyword tokens used
    args: tuple[str, ...]
    prep: str | None
    trace: tuple  # (element, start word) of every token group, in order


def _things(words, start: int, end: int):
    """Readings of words[start:end] as one thing: (score, text)."""
    for determiner in (True, False):
        k = start
        if determiner:
            if words[k][0] not in DETERMINERS:
                continue
            k += 1
        adjectives = 0
        while k + adjectives < end and words[k + adjectives][0] in ADJECTIVES:
            adjectives += 1
        for used in range(adjectives, -1, -1):
            if end - (k + used) in (1, 2):
                yield determiner + used, " ".join(w for w, _ in words[k + used:end])


def _preposition(words, k: int) -> int:
    """Length in words of the preposition token at k (the lexer reads "out of" whole when it can)."""
    word, space = words[k]
    if word == "out" and space == " " and k + 1 < len(words) and words[k + 1][0] == "of" and words[k + 1][1]:
        return 2
    return 1 if word in PREPOSITIONS and space else 0


def _literal(words, k: int, literal: str) -> bool:
    return k < len(words) and words[k][0] == literal and bool(words[k][1])


def _readings(pattern: tuple, words, k: int, score: int, args: tuple, prep, trace: tuple):
    """Every reading of words[k:] by the pattern; ``trace`` records (element, start word) of each token."""
    if not pattern:
        if k == len(words):
            yield _Reading(score, args, prep, trace)
        return
    element, rest = pattern[0], pattern[1:]
    if element == "thing":
        for end in range(k + 1, min(len(words), k + 64) + 1):
            for gained, text in _things(words, k, end):
                yield from _readings(rest, words, end, score + gained, args + (text,), prep, trace + (("thing", k),))
    elif element in ("back*", "to*"):
        literal = element[:-1]
        if _literal(words, k, literal):
            yield from _readings(pattern, words, k + 1, score, args, prep, trace + ((element, k),))
        yield from _readings(rest, words, k, score, args, prep, trace)
    elif element in ("prep*", "(prep thing)*"):
        size = _preposition(words, k) if k < len(words) else 0
        if size:
            word = " ".join(w for w, _ in words[k:k + size])
            then = ("thing",) + pattern if element == "(prep thing)*" else pattern
            yield from _readings(then, words, k + size, score + 1, args, word, trace + ((element, k),))
        yield from _readings(rest, words, k, score, args, prep, trace)


def _preference(pattern: tuple, reading: _Reading) -> tuple:
    """Lark's choice among equally scored readings: first the grammar alternative (optional parts present
    before absent, in pattern order), then the reading whose tokens start latest, compared from the right."""
    used = {element for element, _ in reading.trace}
    alternative = tuple(element not in used for element in pattern if element.endswith("*"))
    starts = tuple(-start for _, start in reversed(reading.trace))
    return (-reading.score, alternative, starts)


_PATTERNS = {
    "open": ("thing",),
    "close": ("thing",),
    "examine": ("thing",),
    "go": ("back*", "to*", "thing"),
    "take": ("prep*", "thing", "(prep thing)*"),
    "put": ("thing", "back*", "prep*", "thing"),
}


@lru_cache(maxsize=4096)
def parse_command(text: str) -> Command | None:
    """Parse lower-cased command text; None when it is no command at all (clembench: ``lark_exception``)."""
    words = _tokenize(text)
    if not words:
        return None
    first, space = words[0]
    action = VERBS.get(first)
    if action == "done":
        if len(words) == 1:
            return Command("done")
    elif action is not None and space:
        pattern = _PATTERNS[action]
        readings = list(_readings(pattern, words, 1, 1, (), None, ()))
        if readings:
            best = min(readings, key=lambda reading: _preference(pattern, reading))
            args = best.args + (None, None)
            return Command(action, args[0], args[1], best.prep)
    return Command(None, first)

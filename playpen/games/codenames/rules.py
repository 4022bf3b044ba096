"""Reading the players' replies: clembench's validation rules, flag by flag.

Every rule failure raises :class:`ValidationError` (a ParseError): in clembench v2.0 any invalid reply
aborts the episode. The error ``type`` strings are clembench's labels (they appear in its records and
turn scores); the messages are ours.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any, Mapping, MutableMapping

from playpen.core.errors import ParseError
from playpen.games.codenames.lemmas import lemma

CLUE_PREFIX = "CLUE: "
TARGETS_PREFIX = "TARGETS: "
GUESS_PREFIX = "GUESS: "
CHARS_TO_STRIP = " .,<>\"'"
NUMBERS_TO_STRIP = " ," + string.digits

IGNORE_RAMBLING = "IGNORE RAMBLING"
IGNORE_FALSE = "IGNORE FALSE TARGETS OR GUESSES"
REPROMPT_ON_ERROR = "REPROMPT ON ERROR"
STRIP_WORDS = "STRIP WORDS"
IGNORE_NUMBER = "IGNORE NUMBER OF TARGETS"
#: the flags of every v2.0 experiment
V2_FLAGS = {
    IGNORE_RAMBLING: False,
    IGNORE_FALSE: False,
    REPROMPT_ON_ERROR: False,
    STRIP_WORDS: True,
    IGNORE_NUMBER: False,
}

CLUEGIVER = "Cluegiver"
GUESSER = "Guesser"

_NUMBER_IN_CLUE = re.compile(r", [0-9]+")
_COMMA_WITHOUT_SPACE = re.compile(r",(?=\S)")


class ValidationError(ParseError):
    """A reply that breaks the protocol; ``player`` is the role clembench's turn scores charge it to."""

    def __init__(self, player: str, kind: str, utterance: str, message: str, **details: Any):
        super().__init__(message, utterance, kind)
        self.player = player
        self.kind = kind
        self.details = details

    def record(self) -> dict[str, Any]:
        return {
            "player": self.player,
            "type": self.kind,
            "utterance": self.response,
            "message": self.reason,
            **self.details,
        }


def plural(noun: str) -> str:
    """"guess" -> "guesses", "target" -> "targets" (clembench's record keys)."""
    return f"{noun}es" if noun.endswith("s") else f"{noun}s"


@dataclass(frozen=True)
class Clue:
    word: str
    targets: list[str]


def space_after_commas(text: str) -> str:
    """clembench's normalisation: a comma directly followed by a visible character gets a space."""
    return _COMMA_WITHOUT_SPACE.sub(", ", text)


def _first_line(prefix: str, lines: list[str]) -> str | None:
    return next((line for line in lines if line.startswith(prefix)), None)


_STRIPPABLE = frozenset(CHARS_TO_STRIP)


def _has_strippable(word: str) -> bool:
    return not _STRIPPABLE.isdisjoint(word)


def read_clue(
    reply: str,
    flags: Mapping[str, bool],
    hidden: list[str],
    revealed_by_team: list[str],
    engaged: MutableMapping[str, int],
) -> Clue:
    """Validate a cluegiver reply (``CLUE: <word>`` / ``TARGETS: <w1, w2>``) and return the clue."""
    text = space_after_commas(reply)
    lines = text.split("\n")
    if len(lines) > 2:
        if not flags[IGNORE_RAMBLING]:
            raise ValidationError(
                CLUEGIVER, "rambling error", text, "Answer with exactly two lines: the clue line and the targets line."
            )
        engaged[IGNORE_RAMBLING] += 1
    clue_line = _first_line(CLUE_PREFIX, lines)
    targets_line = _first_line(TARGETS_PREFIX, lines)
    if clue_line is None:
        raise ValidationError(
            CLUEGIVER, "prefix error", text, f"No line starts with '{CLUE_PREFIX}'.", prefix=CLUE_PREFIX
        )
    if targets_line is None:
        raise ValidationError(
            CLUEGIVER, "prefix error", text, f"No line starts with '{TARGETS_PREFIX}'.", prefix=TARGETS_PREFIX
        )

    raw_clue = clue_line.removeprefix(CLUE_PREFIX)
    checked_clue = raw_clue.lower()
    if _has_strippable(checked_clue):
        if not flags[STRIP_WORDS]:
            raise ValidationError(
                CLUEGIVER,
                "clue contains non-alphabetical characters",
                text,
                f"The clue '{checked_clue}' has characters other than letters.",
                clue=checked_clue,
            )
        engaged[STRIP_WORDS] += 1
        checked_clue = checked_clue.strip(CHARS_TO_STRIP)
    if _NUMBER_IN_CLUE.search(checked_clue):
        if not flags[IGNORE_NUMBER]:
            # clembench charges this cluegiver error to the guesser in its turn scores (reproduced)
            raise ValidationError(
                GUESSER,
                "clue line contains the number of targets",
                text,
                "Give only the clue word; the targets line already tells how many words it is for.",
                clue=checked_clue,
            )
        engaged[IGNORE_NUMBER] += 1
        checked_clue = checked_clue.strip(NUMBERS_TO_STRIP)

    raw_targets = targets_line.removeprefix(TARGETS_PREFIX).split(", ")
    if flags[STRIP_WORDS]:
        engaged[STRIP_WORDS] += sum(_has_strippable(target) for target in raw_targets)
        checked_targets = [target.strip(CHARS_TO_STRIP).lower() for target in raw_targets]
    else:
        checked_targets = [target.lower() for target in raw_targets]

    if " " in checked_clue:
        raise ValidationError(
            CLUEGIVER,
            "clue contains spaces",
            text,
            f"The clue '{checked_clue}' is more than one word.",
            clue=checked_clue,
        )
    # comparing lemmas also catches a clue identical to a hidden word (clembench's separate
    # "clue is word on board" check comes after this one and can never fire)
    clue_lemma = lemma(checked_clue)
    for word in hidden:
        if lemma(word) == clue_lemma:
            raise ValidationError(
                CLUEGIVER,
                "clue is morphologically related to word on the board",
                text,
                f"The clue '{checked_clue}' is a form of the board word '{word}'.",
                clue=checked_clue,
                similar_board_word=word,
            )
    hidden_targets = sum(
        _check_choice(CLUEGIVER, "target", target, checked_targets, text, hidden, revealed_by_team, flags, engaged)
        for target in checked_targets
    )
    _require_one_hidden(CLUEGIVER, "target", checked_targets, hidden_targets, text, hidden)

    targets = [target.strip(CHARS_TO_STRIP).lower() for target in raw_targets]
    if flags[IGNORE_FALSE]:
        targets = [target for target in targets if target in hidden]
    return Clue(raw_clue.lower().strip(CHARS_TO_STRIP).strip(NUMBERS_TO_STRIP), targets)


def read_guesses(
    reply: str,
    flags: Mapping[str, bool],
    hidden: list[str],
    revealed_by_team: list[str],
    allowed: int,
    clue: str,
    engaged: MutableMapping[str, int],
) -> list[str]:
    """Validate a guesser reply (``GUESS: <w1, w2>``) and return the guesses in order."""
    text = space_after_commas(reply)
    if "\n" in text:
        if not flags[IGNORE_RAMBLING]:
            raise ValidationError(GUESSER, "rambling error", text, "Answer with a single line.")
        engaged[IGNORE_RAMBLING] += 1
        text = _first_line(GUESS_PREFIX, text.split("\n")) or text
    if not text.startswith(GUESS_PREFIX):
        raise ValidationError(
            GUESSER, "prefix error", text, f"The answer does not start with '{GUESS_PREFIX}'.", prefix=GUESS_PREFIX
        )
    body = text.removeprefix(GUESS_PREFIX)
    raw_guesses = body.split(", ")
    for guess in raw_guesses:
        if _has_strippable(guess):
            if not flags[STRIP_WORDS]:
                raise ValidationError(
                    GUESSER,
                    "guess contains non-alphabetical characters",
                    body,
                    f"The guess '{guess}' has characters other than letters.",
                    guess=guess,
                )
            engaged[STRIP_WORDS] += 1
    stripped = [guess.strip(CHARS_TO_STRIP) for guess in raw_guesses]
    checked = [guess.lower() for guess in (stripped if flags[STRIP_WORDS] else raw_guesses)]
    if not 0 < len(checked) <= allowed:
        raise ValidationError(
            GUESSER,
            "wrong number of guesses",
            body,
            f"{len(checked)} guesses, but the clue allows at most {allowed}.",
            guesses=checked,
            number_of_allowed_guesses=allowed,
        )
    hidden_guesses = 0
    for guess in checked:
        if guess == clue:
            if not flags[IGNORE_FALSE]:
                raise ValidationError(
                    GUESSER,
                    "guess is clue word",
                    body,
                    f"The guess '{guess}' is the clue itself, not a word from the list.",
                    guess=guess,
                    clue=clue,
                )
            engaged[IGNORE_FALSE] += 1
        hidden_guesses += _check_choice(
            GUESSER, "guess", guess, checked, body, hidden, revealed_by_team, flags, engaged
        )
    _require_one_hidden(GUESSER, "guess", checked, hidden_guesses, body, hidden)

    guesses = [guess.lower() for guess in stripped]
    if flags[IGNORE_FALSE]:
        guesses = [guess for guess in guesses if guess in hidden]
    return guesses


def _check_choice(
    player: str,
    noun: str,
    choice: str,
    choices: list[str],
    text: str,
    hidden: list[str],
    revealed_by_team: list[str],
    flags: Mapping[str, bool],
    engaged: MutableMapping[str, int],
) -> bool:
    """A target (or guess) must be a hidden word, named once. Returns whether it is a hidden word."""
    is_hidden = choice in hidden
    if not is_hidden:
        if flags[IGNORE_FALSE]:
            engaged[IGNORE_FALSE] += 1
        elif choice in revealed_by_team:
            raise ValidationError(
                player,
                f"{noun} was already guessed",
                text,
                f"'{choice}' was uncovered before; only words still in the list count.",
                **{noun: choice, f"previous_{plural(noun)}": list(revealed_by_team)},
            )
        else:
            label = "guess word" if noun == "guess" else noun
            raise ValidationError(
                player,
                f"{label} is hallucination",
                text,
                f"'{choice}' is not one of the listed words.",
                **{noun: choice, f"previous_{plural(noun)}": list(revealed_by_team), "remaining_words": list(hidden)},
            )
    if choices.count(choice) > 1:
        if not flags[IGNORE_FALSE]:
            raise ValidationError(
                player,
                f"{noun} appears more than once in utterance",
                text,
                f"'{choice}' is named more than once.",
                **{noun: choice, "remaining_words": list(hidden)},
            )
        engaged[IGNORE_FALSE] += 1
    return is_hidden


def _require_one_hidden(
    player: str, noun: str, choices: list[str], hidden_count: int, text: str, hidden: list[str]
) -> None:
    if hidden_count == 0:
        raise ValidationError(
            player,
            f"no correct {noun}",
            text,
            "None of the named words is in the list.",
            **{f"{noun}s": choices, "remaining_words": list(hidden)},
        )

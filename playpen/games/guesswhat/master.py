"""guesswhat: find the target among 8 candidate words with yes/no questions (clembench v2.0).

Each round the Guesser asks ``QUESTION: …`` (the Answerer replies ``ANSWER: yes|no``) or ends the game
with ``GUESS: <word>``. At most ``max_turns`` rounds (8). Any format or content violation aborts.
"""

from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass
from typing import Any

from playpen.core import metrics
from playpen.core.errors import ParseError
from playpen.core.master import GameMaster, Status
from playpen.games.guesswhat import prompts

GUESSER, ANSWERER = "Guesser", "Answerer"
INVALID_FORMAT, INVALID_CONTENT = "invalid format", "invalid content"

# clembench v2.0's experiment fields; official instance files carry them, and so do ours
DEFAULTS: dict[str, Any] = {
    "max_turns": 8,
    "question_tag": "QUESTION:",
    "answer_tag": "ANSWER:",
    "guess_tag": "GUESS:",
    "answer_variations": ["ANSWER: yes", "ANSWER: no", "ANSWER: Yes.", "ANSWER: Yes", "ANSWER: No.", "ANSWER: No"],
    "letter_based_pattern": r"(does the target word (start with the letter|contain the letter)|does the target "
                            r"word have the letter\s*[a-z]|is the (first|second|third|fourth|fifth) letter of "
                            r"the target word [a-z])",
    # clembench wrote the backreference \1 in a non-raw string: it became the control character \x01,
    # so the pattern never matches a real question (reproduced; see FIX_DIRECT_GUESS)
    "direct_guess_pattern": "^is the target word\\s*(['\"])[^'\"]+?\x01\\s*\\?",
    "length_question_pattern": r"does the target word (have|contain) (more|less|exactly) \d+ (letters|letter)",
    "syllable_question_pattern": r"does the target word (have|contain) (more than|less than|exactly) "
                                 r"(one|two|three|four|five|six|seven|eight|nine|ten|\d+) (syllable|syllables)",
    "pos_question_pattern": r"^is the target word (a|an)\s+(noun|verb|adjective|adverb|pronoun|preposition|"
                            r"conjunction|interjection)\s*\?",
}

#: content checks: (experiment field, how it is applied, message)
CONTENT_RULES = (
    ("letter_based_pattern", "search", "Invalid question. Asking about specific letters or their positions is not allowed."),
    ("direct_guess_pattern", "match", "Invalid question. Guessing without 'GUESS:' format is not allowed."),
    ("length_question_pattern", "search", "Invalid question. Asking about the length of the target word is not allowed."),
    ("syllable_question_pattern", "search", "Invalid question. Asking about the number of syllables is not allowed."),
    ("pos_question_pattern", "match", "Invalid question. Asking about the part of speech (POS) of the target word is not allowed."),
)

# Flags (instance or experiment) that switch off clembench v2.0 bugs; all off by default.
#: Main Score: level-specific lower bound (Level_2: log2(max_turns) + 1 = 4) instead of 5 for every level
FIX_LOWER_BOUND = "playpen_fix_lower_bound_turns"
#: the direct-guess check ("is the target word 'x'?") works as intended
FIX_DIRECT_GUESS = "playpen_fix_direct_guess_pattern"
#: a guess matches a target with punctuation ("Two-step") when both are compared without punctuation
FIX_PUNCTUATED_TARGET = "playpen_fix_punctuated_target"

#: clembench: lower_bound_turns = num_categories + 1 for every level (its `or` bug)
BUGGY_LOWER_BOUND = 5

_NO_PUNCTUATION = str.maketrans("", "", string.punctuation)


def remove_punctuation(text: str) -> str:
    return text.translate(_NO_PUNCTUATION)


@dataclass(frozen=True)
class Question:
    text: str


@dataclass(frozen=True)
class Guess:
    word: str


class InvalidContent(ParseError):
    """A well-formed question that the rules forbid (letters, length, syllables, part of speech, …)."""

    def __init__(self, messages: list[str], response: str):
        super().__init__("; ".join(messages), response, INVALID_CONTENT)
        self.messages = messages


class GuessWhatMaster(GameMaster):
    name = "guesswhat"
    roles = (GUESSER, ANSWERER)
    max_requests = 40

    def setup(self) -> None:
        def field(key: str) -> Any:
            return self.experiment.get(key, DEFAULTS[key])

        self.max_turns = int(field("max_turns"))
        self.question_tag, self.guess_tag = field("question_tag"), field("guess_tag")
        self.answer_variations = list(field("answer_variations"))
        self.patterns = {key: field(key) for key, _, _ in CONTENT_RULES}
        if self._flag(FIX_DIRECT_GUESS):
            self.patterns["direct_guess_pattern"] = self.patterns["direct_guess_pattern"].replace("\x01", "\\1")
        self.target: str = self.instance["target_word"]
        self.candidates: list[str] = list(self.instance["candidate_list"])
        self.invalid = {(kind, role): 0 for kind in (INVALID_FORMAT, INVALID_CONTENT) for role in self.roles}
        self.set_context(GUESSER, prompts.guesser_prompt(self.experiment, self.candidates, self.max_turns - 1,
                                                         self.question_tag, self.guess_tag))
        self.set_initial_prompt(ANSWERER, prompts.answerer_prompt(self.experiment, self.target, field("answer_tag")))
        self.log_round_score("Accuracy", 0)

    def _flag(self, name: str) -> bool:
        return bool(self.instance.get(name, self.experiment.get(name, False)))

    def start_round(self) -> None:
        super().start_round()
        self.log_round_score("Accuracy", 0)

    # ------------------------------------------------------------------ parsing
    def parse(self, role: str, response: str) -> Any:
        reply = response.strip()  # clembench's backends strip every reply
        if role == ANSWERER:
            if reply not in self.answer_variations:
                raise ParseError("Invalid format. The answer must be one of the allowed yes/no forms.", reply,
                                 INVALID_FORMAT)
            return reply
        if reply.startswith(self.question_tag):
            return self._parse_question(reply)
        if reply.startswith(self.guess_tag):
            word = remove_punctuation(reply[len(self.guess_tag):].strip().lower())
            if len(word.split()) > 1:
                raise ParseError("Invalid format. A guess must be a single word.", reply, INVALID_FORMAT)
            return Guess(word)
        raise ParseError("Invalid format. Guesser must use the form 'QUESTION: ' or 'GUESS: '.", reply, INVALID_FORMAT)

    def _parse_question(self, reply: str) -> Question:
        question = reply[len(self.question_tag):].strip()
        if reply.count(self.question_tag) > 1:
            raise ParseError("Multiple questions detected in a single turn.", reply, INVALID_FORMAT)
        if "?" in question:
            parts = question.split("?")
            if len(parts) > 2 or parts[1].strip():
                raise ParseError("Invalid format. Question must stop after the question mark.", reply, INVALID_FORMAT)
        # clembench lowercases the question and compiles the patterns without flags
        text = reply.replace(self.question_tag, "").strip().lower()
        errors = [message for key, how, message in CONTENT_RULES
                  if getattr(re, how)(self.patterns[key], text)]
        if errors:
            raise InvalidContent(errors, reply)
        return Question(reply)

    # ------------------------------------------------------------------ moves
    def advance(self, role: str, move: Any) -> None:
        if isinstance(move, Question):
            self.set_context(ANSWERER, move.text)
        elif isinstance(move, Guess):
            self._judge(move.word)
        elif self.current_round + 1 >= self.max_turns:
            self.log_event("max turns reached", str(self.max_turns))
            self.lose("no guess within the round limit")
        else:
            self.set_context(GUESSER, move)

    def _judge(self, word: str) -> None:
        target = self.target.lower()
        if self._flag(FIX_PUNCTUATED_TARGET):
            target = remove_punctuation(target)
        if word == target:
            self.log_event("correct guess", word)
            self.log_round_score("Accuracy", 1)
            self.succeed("correct guess")
        else:
            self.log_event("incorrect guess", word)
            self.lose("incorrect guess")

    def on_parse_error(self, role: str, error: ParseError) -> None:
        kind = error.key or INVALID_FORMAT
        self.invalid[kind, role] += 1
        for message in getattr(error, "messages", [error.reason]):
            self.log_event(kind, message)
        self.abort(error.reason)

    # ------------------------------------------------------------------ scores
    def lower_bound_turns(self) -> float:
        if self._flag(FIX_LOWER_BOUND) and self.experiment.get("name") in ("Level_2", "Abs_Level_2"):
            return math.log2(self.max_turns) + 1
        return BUGGY_LOWER_BOUND

    def speed(self) -> float:
        """100 up to the lower bound of rounds, then linearly down to 0 at ``max_turns`` rounds."""
        rounds = len(self.rounds)
        bound = self.lower_bound_turns()
        if rounds <= bound:
            return 100
        return max(0, 100 * (self.max_turns - rounds) / (self.max_turns - bound))

    def main_score(self) -> float:
        return self.speed() if self.outcome.status is Status.SUCCESS else 0

    def episode_metrics(self) -> dict[str, Any]:
        found: dict[str, Any] = {"Speed": self.speed()} if self.outcome.status is Status.SUCCESS else {}
        for (kind, role), count in self.invalid.items():
            found[f"Invalid {kind.split()[1]} {role.lower()} response"] = count
        return found

    def scores(self) -> dict[str, Any]:
        scores = super().scores()
        if self.outcome.status is Status.ABORTED:
            # clembench logs neither Success nor Lose for an aborted episode
            scores[metrics.EPISODE_SCORES_KEY].update({metrics.SUCCESS: None, metrics.LOSE: None})
        return scores

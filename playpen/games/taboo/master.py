"""Taboo (clembench v2.0 rules).

A round is one clue from the WordDescriber followed by one guess from the WordGuesser, for at most
``max_turns`` rounds. A reply without its tag (``CLUE:`` / ``GUESS:`` at the very start) aborts the episode;
a clue containing the target word or a related word (compared by Porter2 stems, stopwords ignored) loses it;
a guess equal to the target word wins it.
"""

from __future__ import annotations

from typing import Any

from playpen.core import metrics
from playpen.core.errors import GameError, ParseError, RuleViolation
from playpen.core.master import GameMaster, Status
from playpen.games.taboo import prompts
from playpen.games.taboo.clues import CLUE_TAG, GUESS_TAG, normalise, taboo_breaches

DESCRIBER = "WordDescriber"
GUESSER = "WordGuesser"
DEFAULT_MAX_TURNS = 3
#: Episode metrics clembench logs but never fills (its scorer looks for event types nobody logs).
REPETITION_METRICS = ("Repetition-Guesser", "Repetition-Describer")


class TabooMaster(GameMaster):
    name = "taboo"
    roles = (DESCRIBER, GUESSER)

    def setup(self) -> None:
        self.max_turns = int(self.experiment.get("max_turns", DEFAULT_MAX_TURNS))
        self.target: str = self.instance["target_word"]
        self.related: list[str] = list(self.instance["related_word"])
        self.set_context(DESCRIBER, prompts.describer_prompt(self.experiment, self.target, self.related, self.max_turns))
        self.set_initial_prompt(GUESSER, prompts.guesser_prompt(self.experiment, self.max_turns))

    def parse(self, role: str, response: str) -> str:
        # clembench's backends strip model output before the game sees it
        text = response.strip()
        tag = CLUE_TAG if role == DESCRIBER else GUESS_TAG
        if not text.startswith(tag):
            raise ParseError(f"the reply does not start with '{tag}'", response=response)
        return text

    def advance(self, role: str, text: str) -> None:
        if role == DESCRIBER:
            self.check_clue(text)
        else:
            self.check_guess(text)

    def check_clue(self, text: str) -> None:
        breaches = taboo_breaches(text, self.target, self.related)
        if breaches:
            raise RuleViolation(f"taboo word in the clue: {breaches[0]}", response=text)
        self.log_event("valid clue", normalise(text, CLUE_TAG))
        self.set_context(GUESSER, text)

    def check_guess(self, text: str) -> None:
        guess = normalise(text, GUESS_TAG)
        self.log_event("valid guess", guess)
        if guess == self.target:
            self.log_event("correct guess", guess)
            self.succeed(f"'{guess}' guessed in round {self.current_round + 1}")
        elif self.current_round + 1 >= self.max_turns:
            self.log_event("max rounds reached", str(self.max_turns))
            self.lose(f"not guessed in {self.max_turns} rounds")
        else:
            self.set_context(DESCRIBER, text)

    # clembench's event types: its taboo scorer counts an episode as aborted exactly when "invalid format" occurs
    def on_parse_error(self, role: str, error: ParseError) -> None:
        self.log_event("invalid format", "abort game")
        self.abort(error.reason)

    def on_game_error(self, role: str, error: GameError) -> None:
        self.log_event("invalid clue", error.reason)
        self.lose(error.reason)

    def main_score(self) -> float:
        return 100 / len(self.rounds) if self.outcome.status is Status.SUCCESS else 0

    def episode_metrics(self) -> dict[str, Any]:
        return {name: 0 for name in REPETITION_METRICS}

    def scores(self) -> dict[str, Any]:
        scores = super().scores()
        won = self.outcome.status is Status.SUCCESS
        last_round = len(self.rounds) - 1
        for index, turn in scores[metrics.TURN_SCORES_KEY].items():
            turn["Accuracy"] = int(won and int(index) == last_round)
        return scores

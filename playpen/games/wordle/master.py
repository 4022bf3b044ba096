"""Game masters of wordle, wordle_withclue and wordle_withcritic (clembench v2.0 rules).

One round per committed guess. In wordle_withcritic a round is: the guesser proposes a word, the critic
agrees or not, the guesser commits a (possibly new) word, which alone gets the colour feedback.
A well-formed five-letter word outside the vocabulary makes the game ask again (at most
``max_retry_per_error`` times in a row, these requests count as parsed); every other error aborts.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Mapping

from playpen.core.errors import GameError
from playpen.core.master import GameMaster, Status
from playpen.core.metrics import TURN_SCORES_KEY
from playpen.games.wordle import prompts
from playpen.games.wordle.rules import (
    AGREEMENT_TAG,
    CHANGE_OF_OPINION,
    CLOSENESS_SCORE,
    GUESS_REPETITIONS,
    GUESS_TAG,
    NOT_VALID_WORD_FOR_GAME,
    STRATEGY_SCORE,
    Reply,
    UnknownWord,
    closeness,
    colours,
    critic_metrics,
    format_feedback,
    guess_repetitions,
    parse_reply,
    strategy_scores,
    validate_agreement,
    validate_guess,
    variant_main_score,
    wordle_main_score,
)
from playpen.games.wordle.words import vocabulary_for

#: clembench's top-level record keys (interactions.json)
GUESSER_GUESSES = "Guesser Guesses"
GUESSER_FEEDBACKS = "Guesser Feedbacks"
GUESSER_EXPLANATIONS = "Guesser Explanations"
GUESSER_GUESSES_COMMITTED = "Guesser Guesses Committed"
CRITIC_JUDGEMENTS = "Critic Judgements"

DEFAULT_TURNS = 6
DEFAULT_RETRIES = 5
DEFAULT_WORD_LENGTH = 5


class WordleMaster(GameMaster):
    """wordle: one guesser, colour feedback after every valid guess."""

    name = "wordle"
    roles = ("WordGuesser",)
    uses_clue = False

    def setup(self) -> None:
        config = self.experiment.get("common_config") or {}
        # clembench's instance files before v1.6 name the turns max_attempts_per_game and give one retry count
        self.max_rounds = int(config.get("n_turns", config.get("max_attempts_per_game", DEFAULT_TURNS)))
        retries = config.get("max_retry_per_error", DEFAULT_RETRIES)
        if isinstance(retries, Mapping):
            retries = retries.get(NOT_VALID_WORD_FOR_GAME, DEFAULT_RETRIES)
        self.max_reprompts = int(retries)
        self.word_length = int(config.get("max_word_length", DEFAULT_WORD_LENGTH))
        self.vocabulary = vocabulary_for(self.experiment)
        self.words = prompts.official_keywords(self.experiment)
        self.target = str(self.instance["target_word"]).strip().lower()
        self.clue = str(self.instance.get("target_word_clue", "")).strip()
        self.guesser = self.roles[0]
        self.reprompts = 0  # consecutive unknown words
        self.guesses: list[str] = []  # committed guesses, one per round
        self.colour_lists: list[list[str]] = []
        self.explanations: list[str] = []
        self.set_first_contexts()

    def set_first_contexts(self) -> None:
        self.set_context(self.guesser,
                         prompts.guesser_prompt(self.experiment, self.max_rounds, clue=False, critic=False))

    def copy(self) -> "WordleMaster":
        # the experiment is read-only; official ones embed a 12,953-word list that forks need not copy
        return copy.deepcopy(self, {id(self.experiment): self.experiment})

    # ------------------------------------------------------------------ turns
    def parse(self, role: str, response: str) -> Reply:
        return parse_reply(response, GUESS_TAG)

    def advance(self, role: str, reply: Reply) -> None:
        validate_guess(reply.content, self.word_length, self.vocabulary)
        self.reprompts = 0
        self.commit_guess(reply)

    def commit_guess(self, reply: Reply) -> None:
        guess = reply.content
        colour_list = colours(guess, self.target)
        feedback = format_feedback(guess, colour_list)
        self.guesses.append(guess)
        self.colour_lists.append(colour_list)
        self.explanations.append(reply.explanation)
        self.log_event("metadata", self.turn_stats(guess, feedback))
        if guess == self.target:
            self.log_event("correct guess", "game_result = WIN")
            self.succeed("the guess is the target word")
        elif self.current_round + 1 >= self.max_rounds:
            self.log_event("max rounds played", "game_result = LOSS")
            self.lose(f"no correct guess in {self.max_rounds} rounds")
        else:
            self.set_context(self.guesser, prompts.feedback_message(self.words, feedback))
            self.give_turn(self.guesser, new_round=True)

    def turn_stats(self, guess: str, feedback: str) -> str:
        stats: dict[str, Any] = {"attempts": self.current_round + 1, "target_word": self.target}
        if self.uses_clue:
            stats["target_word_clue"] = self.clue
        stats.update(guess=guess, guess_feedback=feedback)
        return "\n".join(f"{key} = {value}" for key, value in stats.items())

    def on_game_error(self, role: str, error: GameError) -> None:
        self.log_event("metadata", f"Error: {error.reason}")
        if isinstance(error, UnknownWord):
            self.reprompts += 1
            if self.reprompts <= self.max_reprompts:
                self.set_context(role, prompts.unknown_word_message(self.words, error.response or ""))
                self.give_turn(role, new_round=False)
                return
        else:
            # clembench counts every rejected reply except an unknown word as a violated request
            self.violated_request_counts[-1] += 1
        self.log_event("invalid format", "game_result = ABORT")
        self.abort(f"{error.key}: {error.reason}")

    # ------------------------------------------------------------------ scores
    def main_score(self) -> float:
        if self.outcome.status is not Status.SUCCESS:
            return 0
        return self.speed_score(len(self.rounds))

    @staticmethod
    def speed_score(rounds: int) -> float:
        return wordle_main_score(rounds)

    @property
    def aborted(self) -> bool:
        return self.outcome.status is Status.ABORTED

    def round_metrics(self) -> list[dict[str, Any]]:
        """Turn scores of committed guess i, which is played in round i."""
        if not self.guesses:
            return [{CLOSENESS_SCORE: math.nan, STRATEGY_SCORE: math.nan}]
        strategy = strategy_scores(self.guesses, self.colour_lists, self.aborted)
        return [
            {CLOSENESS_SCORE: closeness(colour_list), STRATEGY_SCORE: score}
            for colour_list, score in zip(self.colour_lists, strategy)
        ]

    def scores(self) -> dict[str, Any]:
        result = super().scores()
        turns = result[TURN_SCORES_KEY]
        for index, metrics in enumerate(self.round_metrics()):
            turns[str(index)] = {**metrics, **turns[str(index)]}
        return result

    def episode_metrics(self) -> dict[str, Any]:
        return {GUESS_REPETITIONS: math.nan if self.aborted else guess_repetitions(self.guesses)}

    def record_keys(self) -> dict[str, Any]:
        # clembench's wordle logs 0/1 outcome flags and episode totals, and one entry per committed guess
        return {
            **{name: int(flag) for name, flag in self.outcome_flags().items()},
            **self.request_totals(),
            GUESSER_GUESSES: list(self.guesses),
            GUESSER_FEEDBACKS: [format_feedback(g, c) for g, c in zip(self.guesses, self.colour_lists)],
            GUESSER_EXPLANATIONS: list(self.explanations),
        }


class WordleWithClueMaster(WordleMaster):
    """wordle_withclue: as wordle, with a crossword clue after the rules."""

    name = "wordle_withclue"
    uses_clue = True

    def set_first_contexts(self) -> None:
        self.set_initial_prompt(self.guesser,
                                prompts.guesser_prompt(self.experiment, self.max_rounds, clue=True, critic=False))
        self.set_context(self.guesser, prompts.clue_message(self.words, self.clue))

    @staticmethod
    def speed_score(rounds: int) -> float:
        return variant_main_score(rounds)


class WordleWithCriticMaster(WordleWithClueMaster):
    """wordle_withcritic: each round the critic judges the guesser's proposal before the guesser commits."""

    name = "wordle_withcritic"
    roles = ("ReflectingWordGuesser", "WordCritic")

    def setup(self) -> None:
        self.critic = self.roles[1]
        self.awaiting_critic = True  # the guesser's next valid guess is a proposal for the critic
        self.proposals: list[str] = []
        self.judgements: list[str] = []
        super().setup()

    def set_first_contexts(self) -> None:
        super().set_first_contexts()
        self.set_initial_prompt(self.critic, prompts.critic_prompt(self.experiment))

    def parse(self, role: str, response: str) -> Reply:
        return parse_reply(response, AGREEMENT_TAG if role == self.critic else GUESS_TAG)

    def advance(self, role: str, reply: Reply) -> None:
        if role == self.critic:
            validate_agreement(reply.content)
            self.judgements.append(reply.content)
            self.awaiting_critic = False
            self.set_context(self.guesser,
                             prompts.critic_opinion_message(self.words, self.clue, reply.content, reply.explanation))
            self.give_turn(self.guesser, new_round=False)
            return
        validate_guess(reply.content, self.word_length, self.vocabulary)
        self.reprompts = 0
        if self.awaiting_critic:
            self.proposals.append(reply.content)
            message = prompts.critic_message(
                self.words, self.clue, reply.explanation, reply.content, with_format=self.current_round > 0
            )
            self.set_context(self.critic, message)
            self.give_turn(self.critic, new_round=False)
        else:
            self.awaiting_critic = True
            self.commit_guess(reply)

    def round_metrics(self) -> list[dict[str, Any]]:
        metrics = super().round_metrics()
        changes, _ = critic_metrics(self.proposals, self.guesses, self.judgements)
        for index, change in enumerate(changes):
            metrics[index][CHANGE_OF_OPINION] = change
        return metrics

    def episode_metrics(self) -> dict[str, Any]:
        _, ratios = critic_metrics(self.proposals, self.guesses, self.judgements)
        return {**super().episode_metrics(), **ratios}

    def record_keys(self) -> dict[str, Any]:
        # here clembench's "Guesser Guesses" are the proposals shown to the critic
        return {
            **super().record_keys(),
            GUESSER_GUESSES: list(self.proposals),
            GUESSER_GUESSES_COMMITTED: list(self.guesses),
            CRITIC_JUDGEMENTS: list(self.judgements),
        }

"""The codenames game master (clembench v2.0 rules; see docs/games/codenames.md).

Round = cluegiver clue + guesser guesses (+ the mock opponent uncovering its own words). The mock opponent is
part of the game master: its choices come from the instance (``opponent_reveals``, folded in from a
clembench record by :func:`replay_instance`) or else from a random generator seeded by the instance.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Mapping

from playpen.core import metrics
from playpen.core.errors import ParseError
from playpen.core.master import GameMaster, Status
from playpen.games.codenames import prompts
from playpen.games.codenames.board import ASSASSIN, INNOCENT, OPPONENT, TEAM, Board
from playpen.games.codenames.rules import (
    CLUEGIVER,
    GUESSER,
    REPROMPT_ON_ERROR,
    V2_FLAGS,
    Clue,
    ValidationError,
    read_clue,
    read_guesses,
)

CLUEGIVER_ROLE = "ClueGiver"
GUESSER_ROLE = "Guesser"
#: instance key: the opponent's uncovered words per round, as recorded by clembench
RECORDED_REVEALS = "opponent_reveals"
#: experiment/instance flag: show the cluegiver the word lists after the opponent's move (v2.0 shows them before)
FIX_STALE_LISTS = "playpen_fix_stale_lists"
#: words a guesser is expected to uncover per turn (clembench's Efficiency)
EXPECTED_WORDS_PER_TURN = 2

#: turn scores averaged into the episode scores as "Average <name>"
AVERAGED_TURN_SCORES = (
    "Cluegiver Number of Targets",
    "Cluegiver Team Precision",
    "Cluegiver Team Recall",
    "Cluegiver Team F1",
    "Guesser Number of Guesses",
    "Guesser Number of Revealed Words",
    "Guesser Number of Unrevealed Guesses",
    "Guesser Target Precision",
    "Guesser Target Recall",
    "Guesser Target F1",
    "Guesser Team Precision",
    "Guesser Team Recall",
    "Guesser Team F1",
)


@dataclass
class RoundStats:
    """What happened in one round, for clembench's turn scores."""

    team_hidden: int  # team words hidden when the round began
    errors: dict[str, int] = field(default_factory=lambda: {CLUEGIVER: 0, GUESSER: 0})
    targeted: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys((TEAM, OPPONENT, INNOCENT, ASSASSIN, "total"), 0)
    )
    guesses: list[str] = field(default_factory=list)
    revealed: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("target", TEAM, OPPONENT, INNOCENT, ASSASSIN, "total"), 0)
    )


def _f1(precision: float, recall: float) -> float:
    return 0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _mean(values: list[float]) -> float:
    """``statistics.mean`` (what clembench uses) to the last bit, without its slow Fraction arithmetic:
    every float is a ratio with a power-of-two denominator, so the sum is exact in integers."""
    ratios = [value.as_integer_ratio() for value in values]
    common = max(denominator for _, denominator in ratios)
    return sum(numerator * (common // denominator) for numerator, denominator in ratios) / (common * len(values))


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0


def turn_scores(stats: RoundStats) -> dict[str, Any]:
    """clembench's per-round scores (numbers rounded to 3 places, as its scorer does)."""
    targets = stats.targeted["total"]
    revealed = stats.revealed["total"]
    cluegiver_precision = _ratio(stats.targeted[TEAM], targets)
    cluegiver_recall = _ratio(stats.targeted[TEAM], stats.team_hidden)
    target_precision = _ratio(stats.revealed["target"], revealed)
    target_recall = _ratio(stats.revealed["target"], targets)
    team_precision = _ratio(stats.revealed[TEAM], revealed)
    team_recall = _ratio(stats.revealed[TEAM], stats.team_hidden)
    values = {
        "Cluegiver validation error": stats.errors[CLUEGIVER],
        "Guesser validation error": stats.errors[GUESSER],
        "Cluegiver Number of Targets": targets,
        "Cluegiver Team Precision": cluegiver_precision,
        "Cluegiver Team Recall": cluegiver_recall,
        "Cluegiver Team F1": _f1(cluegiver_precision, cluegiver_recall),
        "Guesser Number of Guesses": len(stats.guesses),
        "Guesser Number of Revealed Words": revealed,
        "Guesser Number of Unrevealed Guesses": len(stats.guesses) - revealed,
        "Guesser Target Precision": target_precision,
        "Guesser Target Recall": target_recall,
        "Guesser Target F1": _f1(target_precision, target_recall),
        "Guesser Team Precision": team_precision,
        "Guesser Team Recall": team_recall,
        "Guesser Team F1": _f1(team_precision, team_recall),
    }
    details = {
        CLUEGIVER: {"validation error": stats.errors[CLUEGIVER]},
        GUESSER: {"validation error": stats.errors[GUESSER]},
        "targeted": dict(stats.targeted),
        "guesses": list(stats.guesses),
        "revealed": dict(stats.revealed),
    }
    return {"turn": details, **{name: round(value, 3) for name, value in values.items()}}


class CodenamesMaster(GameMaster):
    name = "codenames"
    roles = (CLUEGIVER_ROLE, GUESSER_ROLE)

    def setup(self) -> None:
        self.flags: dict[str, bool] = {**V2_FLAGS, **self.experiment.get("flags", {})}
        self.opponent_difficulty = int(self.experiment.get("opponent difficulty", 1))
        self.fix_stale_lists = bool(self.experiment.get(FIX_STALE_LISTS) or self.instance.get(FIX_STALE_LISTS))
        self.board = Board(self.instance["board"], self.instance["assignments"])
        self.recorded_reveals: list[list[str]] | None = self.instance.get(RECORDED_REVEALS)
        self.rng = random.Random(f"codenames/{self.game_id}/{' '.join(self.board.order)}")
        self.engaged = {player: dict.fromkeys(self.flags, 0) for player in (CLUEGIVER, GUESSER)}
        self.clue: Clue | None = None
        self.assassin_hit = False
        self.guesser_feedback: str | None = None  # the last turn's result, shown with the next clue
        self.last_role: str | None = None
        self.round_stats = [RoundStats(len(self.board.hidden[TEAM]))]
        self.log_event("board status", self.board.status())
        self.set_context(
            CLUEGIVER_ROLE, prompts.CLUEGIVER_INITIAL.substitute(lists=prompts.word_lists(self.board.hidden))
        )

    # ------------------------------------------------------------------ hooks
    def parse(self, role: str, response: str) -> Clue | list[str]:
        self.last_role = role
        reply = response.strip()  # clembench's backends strip every reply before the game sees it
        hidden = self.board.hidden_words()
        revealed = self.board.revealed_by(TEAM)
        if role == CLUEGIVER_ROLE:
            return read_clue(reply, self.flags, hidden, revealed, self.engaged[CLUEGIVER])
        assert self.clue is not None
        return read_guesses(
            reply, self.flags, hidden, revealed, len(self.clue.targets), self.clue.word, self.engaged[GUESSER]
        )

    def advance(self, role: str, move: Any) -> None:
        if role == CLUEGIVER_ROLE:
            self._take_clue(move)
        else:
            self._take_guesses(move)

    def on_parse_error(self, role: str, error: ParseError) -> None:
        assert isinstance(error, ValidationError)  # the only ParseError our parse raises
        if self.flags[REPROMPT_ON_ERROR]:
            # clembench prepares a re-prompt (and keeps the turn) but then aborts all the same
            self.engaged[CLUEGIVER if role == CLUEGIVER_ROLE else GUESSER][REPROMPT_ON_ERROR] += 1
        self.round_stats[-1].errors[error.player] += 1
        self.log_event("validation error", error.record())
        self._score_round()
        self.abort(error.reason)

    def start_round(self) -> None:
        super().start_round()
        self.round_stats.append(RoundStats(len(self.board.hidden[TEAM])))
        self.log_event("board status", self.board.status())

    def scores(self) -> dict[str, Any]:
        scores = super().scores()
        episode = scores[metrics.EPISODE_SCORES_KEY]
        # clembench's codenames scorer rounds every episode score it logs to 3 places
        episode[metrics.REQUEST_SUCCESS_RATIO] = round(episode[metrics.REQUEST_SUCCESS_RATIO], 3)
        return scores

    def main_score(self) -> float:
        return 100 if self.outcome.status is Status.SUCCESS else 0

    def episode_metrics(self) -> dict[str, Any]:
        scores: dict[str, Any] = {
            "experiment variable": self.experiment.get("variable"),
            "experiment name": self.experiment.get("name"),
        }
        for flag, on in self.flags.items():
            if on:
                scores[f"Cluegiver {flag.lower()}"] = self.engaged[CLUEGIVER][flag]
                scores[f"Guesser {flag.lower()}"] = self.engaged[GUESSER][flag]
        for name in AVERAGED_TURN_SCORES:
            scores[f"Average {name}"] = round(_mean([r[name] for r in self.round_scores]), 3)
        counts = self._assignment_counts()
        uncovered = self.board.revealed[TEAM]
        non_team = counts[OPPONENT] + counts[INNOCENT] + counts[ASSASSIN]
        wrong = len(uncovered[OPPONENT]) + len(uncovered[INNOCENT]) + len(uncovered[ASSASSIN])
        turns = self.number_of_turns
        guesses = sum(r["Guesser Number of Guesses"] for r in self.round_scores)
        scores.update(
            {
                "Game ended through assassin": int(self.assassin_hit),
                "Episode Recall": round(_ratio(len(uncovered[TEAM]), counts[TEAM]), 3),
                "Episode Negative Recall": round(1 - _ratio(wrong, non_team), 3),
                "Number of turns": turns,
                "Efficiency": round(min(guesses / turns / EXPECTED_WORDS_PER_TURN, 1), 3),
            }
        )
        return scores

    def record_keys(self) -> dict[str, Any]:
        # what clembench's codenames logs at the game end (booleans, episode totals), for its legacy scorer
        flags = self.outcome_flags()
        return {
            "board end status": self.board.status(),
            "Number of turns": self.number_of_turns,
            metrics.ABORTED: flags[metrics.ABORTED],
            metrics.LOSE: flags[metrics.LOSE],
            "Game ended through assassin": self.assassin_hit,
            **self.request_totals(),
            "Cluegiver engaged flags": dict(self.engaged[CLUEGIVER]),
            "Guesser engaged flags": dict(self.engaged[GUESSER]),
        }

    # ------------------------------------------------------------------ the game
    @property
    def number_of_turns(self) -> int:
        """clembench's "Number of turns": its round counter moves on before the game-end check that follows a
        guesser's reply, so an episode that ends on the guesser counts one round more than it played (unless a
        re-prompt kept the turn with the guesser)."""
        kept_turn = self.flags[REPROMPT_ON_ERROR] and self.outcome.status is Status.ABORTED
        return len(self.rounds) + (self.last_role == GUESSER_ROLE and not kept_turn)

    def _take_clue(self, clue: Clue) -> None:
        self.clue = clue
        self.log_event("clue", clue.word)
        self.log_event("targets", list(clue.targets))
        stats = self.round_stats[-1]
        for target in clue.targets:
            kind = self.board.assignment_of(target)
            self.log_event("word targeted", {"word": target, "assignment": kind})
            if kind is not None:
                stats.targeted[kind] += 1
                stats.targeted["total"] += 1
        template = prompts.GUESSER_INITIAL if self.guesser_feedback is None else prompts.GUESSER_NEXT
        prompt = template.substitute(
            clue=clue.word, number=len(clue.targets), board=prompts.board_line(self.board.hidden_words())
        )
        self.set_context(
            GUESSER_ROLE, prompt if self.guesser_feedback is None else f"{self.guesser_feedback}\n{prompt}"
        )

    def _take_guesses(self, guesses: list[str]) -> None:
        assert self.clue is not None
        stats = self.round_stats[-1]
        stats.guesses = list(guesses)
        self.log_event("guesses", list(guesses))
        correct: list[str] = []
        wrong: tuple[str, str] | None = None
        for guess in guesses:  # uncovered in order until the first word that is not the team's
            kind = self.board.reveal(guess)
            if kind is None:
                continue
            self.log_event("team revealed", {"word": guess, "assignment": kind})
            stats.revealed[kind] += 1
            stats.revealed["total"] += 1
            if guess in self.clue.targets:
                self.log_event("target revealed", {"word": guess, "assignment": kind})
                stats.revealed["target"] += 1
            if kind != TEAM:
                self.log_event("turn end after", guess)
                wrong = (guess, kind)
                break
            correct.append(guess)
        self._score_round()
        feedback = prompts.guess_feedback(correct, wrong)
        lists = prompts.word_lists(self.board.hidden)  # v2.0 builds the cluegiver's lists before the opponent moves
        if self._game_over():
            return
        opponent_words = self._opponent_turn()
        if self._game_over():
            return
        if self.fix_stale_lists:
            feedback = f"{feedback} {prompts.opponent_feedback(opponent_words)}"
            lists = prompts.word_lists(self.board.hidden)
        self.guesser_feedback = f"{feedback} {prompts.GUESSER_TURN_OVER}"
        self.set_context(
            CLUEGIVER_ROLE,
            f"{feedback} {prompts.CLUEGIVER_TURN_OVER}\n" f"{prompts.CLUEGIVER_NEXT.substitute(lists=lists)}",
        )

    def _opponent_turn(self) -> list[str]:
        hidden = list(self.board.hidden[OPPONENT])
        round_index = self.current_round
        if self.recorded_reveals is not None and round_index < len(self.recorded_reveals):
            words = [word for word in self.recorded_reveals[round_index] if word in hidden]
        else:
            words = self.rng.sample(hidden, min(self.opponent_difficulty, len(hidden)))
        for word in words:
            kind = self.board.reveal(word, by=OPPONENT)
            self.log_event("opponent revealed", {"word": word, "assignment": kind})
        return words

    def _game_over(self) -> bool:
        """clembench's end checks, in its order: our words all out, theirs all out, an assassin uncovered."""
        board = self.board
        if board.team_won():
            self.succeed("team has won")
        elif board.opponent_won():
            self.lose("opponent has won")
        elif board.opponent_hit_assassin():
            self.assassin_hit = True
            self.succeed("team has won through assassin")
        elif board.team_hit_assassin():
            self.assassin_hit = True
            self.lose("opponent has won through assassin")
        else:
            return False
        self.log_event("game end", self.outcome.reason)
        return True

    def _score_round(self) -> None:
        """Turn scores of the current round; called when it ends (after the guesses, or on an abort)."""
        for name, value in turn_scores(self.round_stats[-1]).items():
            self.log_round_score(name, value)

    def _assignment_counts(self) -> dict[str, int]:
        counts = self.experiment.get("assignments")
        if isinstance(counts, Mapping) and all(
            isinstance(counts.get(k), int) for k in (TEAM, OPPONENT, INNOCENT, ASSASSIN)
        ):
            return dict(counts)
        return {kind: len(self.instance["assignments"].get(kind, [])) for kind in (TEAM, OPPONENT, INNOCENT, ASSASSIN)}


def replay_instance(instance: Mapping[str, Any], interactions: Mapping[str, Any]) -> dict[str, Any]:
    """The instance plus the mock opponent's recorded moves (clembench draws them from a process-wide random
    generator, so they depend on the order of the episodes in its run, not on the instance)."""
    reveals = [
        [event["action"]["content"]["word"] for event in round_events if event["action"]["type"] == "opponent revealed"]
        for round_events in interactions.get("turns", [])
    ]
    return {**instance, RECORDED_REVEALS: reveals}

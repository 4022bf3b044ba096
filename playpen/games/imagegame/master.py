"""imagegame: the Instruction Giver describes a target grid command by command, the Instruction Follower
draws it. Scored by the F1 of the last drawn grid against the target (clembench v2.0)."""

from __future__ import annotations

import math
import re
from typing import Any

from playpen.core.errors import ParseError
from playpen.core.master import GameMaster, Status
from playpen.games.grids import empty_grid, render_grid
from playpen.games.imagegame import prompts
from playpen.games.imagegame.scoring import changed_cell_count, precision_recall_f1

# clembench v2.0's patterns (also carried by every instance; the instance's own copy wins).
INSTRUCTION_PATTERN = "^command: [^\n]+$"
DONE_PATTERN = "^\\s*command\\s*:\\s*done\\s*$"
GRID_PATTERN = (
    "^\n*([A-Z▢]\\s){4}[A-Z▢]\n([A-Z▢]\\s){4}[A-Z▢]\n([A-Z▢]\\s){4}[A-Z▢]\n"
    "([A-Z▢]\\s){4}[A-Z▢]\n([A-Z▢]\\s){4}[A-Z▢]\n*$"
)

#: Instance or experiment key overriding the round cap (v2.0: grid_dimension², clembench HEAD: 2·grid_dimension²).
ROUND_CAP_KEY = "playpen_round_cap"
#: experiment flag: the round cap is 2·grid_dimension² (clembench v3.0's imagegame) instead of v2.0's grid_dimension²
DOUBLE_ROUND_CAP = "playpen_double_round_cap"
#: An episode is a success when the final F1 (0-100) reaches this.
SUCCESS_F1 = 99

EPISODE_METRICS = (
    "Precision", "Recall", "F1",
    "Average Changed Cell Count", "Average Generated Instruction Length", "Average Generated Expression Number of Tokens",
)


class ImageGameMaster(GameMaster):
    name = "imagegame"
    roles = ("Instruction Giver", "Instruction Follower")

    def setup(self) -> None:
        giver, follower = self.roles
        instance = self.instance
        self.target_grid: str = instance["target_grid"]
        self.size = int(instance.get("grid_dimension", 5))
        self.instruction_pattern = re.compile(instance.get("player_1_response_pattern", INSTRUCTION_PATTERN), re.IGNORECASE)
        self.done_pattern = re.compile(instance.get("player_1_terminate_pattern", DONE_PATTERN), re.IGNORECASE)
        self.grid_pattern = re.compile(instance.get("player_2_response_pattern", GRID_PATTERN))
        default_cap = self.size * self.size * (2 if self.experiment.get(DOUBLE_ROUND_CAP) else 1)
        self.round_cap = int(instance.get(ROUND_CAP_KEY, self.experiment.get(ROUND_CAP_KEY, default_cap)))
        # clembench starts from 0/0/0 and keeps the last computable scores
        self.precision: float = 0
        self.recall: float = 0
        self.f1: float = 0
        self.previous_grid = render_grid(empty_grid(self.size))
        self.instruction = ""
        self.drawn_rounds = 0
        self.changed_cells_total = 0
        self.instruction_length_total = 0
        self.instruction_tokens_total = 0
        self.set_context(giver, prompts.giver_prompt(instance, self.target_grid, self.size))
        self.set_initial_prompt(follower, prompts.follower_prompt(instance, self.size))

    # ------------------------------------------------------------------ moves
    def parse(self, role: str, response: str) -> str | None:
        """Giver: the instruction's first line, or None for DONE. Follower: the grid."""
        text = response.strip()  # clembench's backends strip every reply before the game sees it
        if role == self.roles[0]:
            if self.done_pattern.match(text):
                return None
            if not self.instruction_pattern.match(text):
                raise ParseError("Invalid instruction format", response, key="invalid format")
            return text.split("\n")[0]
        if not self.grid_pattern.match(text):
            raise ParseError("Invalid grid format", response, key="invalid format")
        return text

    def advance(self, role: str, move: str | None) -> None:
        giver, follower = self.roles
        if role == giver:
            if move is None:
                self.log_event("found terminate pattern", self.responses[-1])
                self._finish()
                return
            self.log_event("found instruction", move)
            self.instruction = move
            self.set_context(follower, move)
            return
        self.log_event("found grid", move)
        self._score_round(move)
        if self.current_round + 1 >= self.round_cap:
            self.log_event("game end", "turn limit reached")
            self._finish()
            return
        self.set_context(giver, prompts.next_command(self.instance))

    def on_parse_error(self, role: str, error: ParseError) -> None:
        self.log_event(error.key or "invalid format", error.reason)
        self.abort(error.reason)

    # ------------------------------------------------------------------ scores
    def _score_round(self, grid: str) -> None:
        scores = precision_recall_f1(self.target_grid, grid)
        if scores is not None:
            self.precision, self.recall, self.f1 = scores
        changed = changed_cell_count(self.previous_grid, grid)
        self.previous_grid = grid
        # clembench strips a leftover "Instruction:" prefix (from older prompts) before measuring
        instruction = self.instruction.replace("Instruction:", "").strip()
        tokens = len(instruction.split(" "))
        self.drawn_rounds += 1
        self.changed_cells_total += changed
        self.instruction_length_total += len(instruction)
        self.instruction_tokens_total += tokens
        self.log_round_score("Generated Expression Length", len(instruction))
        self.log_round_score("Generated Expression Number of Tokens", tokens)
        self.log_round_score("Precision", self.precision)
        self.log_round_score("Recall", self.recall)
        self.log_round_score("F1", self.f1)
        self.log_round_score("Changed Cell Count", changed)

    def _finish(self) -> None:
        if self.f1 >= SUCCESS_F1:
            self.succeed(f"F1 {self.f1}")
        else:
            self.lose(f"F1 {self.f1}")

    def main_score(self) -> float:
        return self.f1

    def episode_metrics(self) -> dict[str, Any]:
        if self.outcome.status is Status.ABORTED:
            return {name: math.nan for name in EPISODE_METRICS}
        rounds = self.drawn_rounds

        def average(total: int) -> float:
            # DONE before any drawing: clembench's scorer divides by zero here; we report NaN
            return round(total / rounds, 4) if rounds else math.nan

        return {
            "Precision": self.precision,
            "Recall": self.recall,
            "F1": self.f1,
            "Average Changed Cell Count": average(self.changed_cells_total),
            "Average Generated Instruction Length": average(self.instruction_length_total),
            "Average Generated Expression Number of Tokens": average(self.instruction_tokens_total),
        }

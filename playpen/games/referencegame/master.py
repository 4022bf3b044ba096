"""The reference game (clembench v2.0 rules).

One round: the Instruction Giver sees the target grid and two distractors and writes a referring expression
(``Expression: ...``); the Instruction Follower sees the three grids in another order plus the giver's whole
reply and names the target (``Answer: first|second|third|1|2|3``). Both replies are matched with the
instance's regular expressions (case-insensitive, anchored at the start); in ``strict`` mode nothing but
newlines may follow the first line. A reply that does not match aborts the episode.
"""

from __future__ import annotations

import math
import re
from typing import Any

from playpen.core import metrics
from playpen.core.errors import ParseError
from playpen.core.master import GameMaster, Status
from playpen.games.referencegame import prompts

GIVER = "Instruction Giver"
FOLLOWER = "Instruction Follower"
# clembench v2.0's patterns, used when an instance does not carry its own
GIVER_PATTERN = r"^(?P<tag>expression:\s*)(?P<content>(?P<response>.+)\n*(?P<remainder>(.|\n)*))"
FOLLOWER_PATTERN = (
    r"^(?P<tag>answer:\s*)(?P<content>(?P<response>first|second|third|1|2|3).*\n*(?P<remainder>(.|\n)*))"
)
EXPRESSION_LENGTH = "Generated Expression Length"
EXPRESSION_TOKENS = "Generated Expression Number of Tokens"
ABORTED_AT_GIVER = "Aborted at Player 1"
ABORTED_AT_FOLLOWER = "Aborted at Player 2"


class ReferenceGameMaster(GameMaster):
    name = "referencegame"
    roles = (GIVER, FOLLOWER)

    def setup(self) -> None:
        instance = self.instance
        self.target_names = [str(name).lower() for name in instance["target_grid_name"]]
        self.patterns = {
            GIVER: re.compile(instance.get("player_1_response_pattern", GIVER_PATTERN), re.IGNORECASE),
            FOLLOWER: re.compile(instance.get("player_2_response_pattern", FOLLOWER_PATTERN), re.IGNORECASE),
        }
        self.strict = {GIVER: instance.get("p1_mode", "strict") == "strict",
                       FOLLOWER: instance.get("p2_mode", "strict") == "strict"}
        self.expression: str | None = None
        self.aborted_by: str | None = None
        self.set_context(GIVER, prompts.giver_prompt(instance))

    def parse(self, role: str, response: str) -> str:
        # clembench's backends strip model output before the game sees it
        text = response.strip()
        match = self.patterns[role].match(text)
        if match is None or (self.strict[role] and match.group("remainder") != ""):
            what = "referring expression" if role == GIVER else "answer"
            raise ParseError(f"invalid {what}: not a single line in the expected form", response=response)
        return text if role == GIVER else match.group("response").lower()

    def advance(self, role: str, move: str) -> None:
        if role == GIVER:
            self.expression = move
            self.log_event("parse", move)
            self.set_context(FOLLOWER, prompts.follower_prompt(self.instance, move))
        elif move in self.target_names:
            self.log_event("parse_correct", move)
            self.succeed(f"the follower chose the target ({move})")
        else:
            self.log_event("parse_wrong", move)
            self.lose(f"the follower chose a distractor ({move})")

    def on_parse_error(self, role: str, error: ParseError) -> None:
        self.aborted_by = role
        super().on_parse_error(role, error)

    def main_score(self) -> float:
        return 100 if self.outcome.status is Status.SUCCESS else 0

    def expression_metrics(self) -> dict[str, Any]:
        if self.expression is None:
            return {EXPRESSION_LENGTH: math.nan, EXPRESSION_TOKENS: math.nan}
        return {EXPRESSION_LENGTH: len(self.expression), EXPRESSION_TOKENS: len(self.expression.split(" "))}

    def episode_metrics(self) -> dict[str, Any]:
        return {
            **self.expression_metrics(),
            ABORTED_AT_GIVER: int(self.aborted_by == GIVER),
            ABORTED_AT_FOLLOWER: int(self.aborted_by == FOLLOWER),
        }

    def scores(self) -> dict[str, Any]:
        scores = super().scores()
        success = self.outcome.status is Status.SUCCESS
        scores[metrics.TURN_SCORES_KEY]["0"].update({**self.expression_metrics(), metrics.SUCCESS: int(success)})
        if self.outcome.status is Status.ABORTED:
            # clembench v2.0 leaves Success and Lose undefined for aborted episodes
            episode = scores[metrics.EPISODE_SCORES_KEY]
            episode[metrics.SUCCESS] = episode[metrics.LOSE] = math.nan
        return scores

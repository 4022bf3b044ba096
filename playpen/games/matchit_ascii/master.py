"""matchit_ascii: two players, each with a private 5x5 grid, find out whether their grids are the same.

clembench v2.0's fixed schedule (decision_turn d, 3 in v2.0):

* round 0: A describes; B describes; B (shown A's description) asks;
* rounds 1..d: A answers and asks; B answers and asks -- except in round d, where B decides instead;
* round d+1: A (shown B's last answer) decides.

Every reply must start with the flag it was asked for (first space-separated word of the stripped reply,
case-sensitive); a decision must read exactly ``<decision flag> <verdict>`` after lower-casing and
stripping dots and newlines at the ends. Anything else aborts the episode. Main Score 100 when both
decisions are right, else 0; ``Player Score`` 100 / 50 / 0 by the number of right decisions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from playpen.core.errors import ParseError
from playpen.core.master import GameMaster, Status
from playpen.games.matchit_ascii.prompts import Prompts

DESCRIPTION, QUESTION, ANSWER, DECISION = "description", "question", "answer", "decision"
DEFAULT_FLAGS = {DESCRIPTION: "DESCRIPTION:", QUESTION: "QUESTION:", ANSWER: "ANSWER:", DECISION: "DECISION:"}
SAME_VERDICT, DIFFERENT_VERDICT = "same grid", "different grids"
DEFAULT_DECISION_TURN = 3


@dataclass(frozen=True)
class Turn:
    role: str
    kind: str
    round: int


@dataclass(frozen=True)
class Move:
    kind: str
    text: str
    correct: bool | None = None  # decisions only


def schedule(player_a: str, player_b: str, decision_turn: int) -> list[Turn]:
    turns = [Turn(player_a, DESCRIPTION, 0), Turn(player_b, DESCRIPTION, 0), Turn(player_b, QUESTION, 0)]
    for r in range(1, decision_turn + 1):
        turns += [Turn(player_a, ANSWER, r), Turn(player_a, QUESTION, r), Turn(player_b, ANSWER, r)]
        turns.append(Turn(player_b, DECISION if r == decision_turn else QUESTION, r))
    turns.append(Turn(player_a, DECISION, decision_turn + 1))
    return turns


class MatchItMaster(GameMaster):
    name = "matchit_ascii"
    roles = ("Player A", "Player B")

    def setup(self) -> None:
        player_a, player_b = self.roles
        self.flags = {**DEFAULT_FLAGS, **self.experiment.get("flags", {})}
        self.grids = {player_a: self.instance["grid_a"], player_b: self.instance["grid_b"]}
        identical = self.grids[player_a].strip() == self.grids[player_b].strip()
        self.solution = self.experiment.get("solution", SAME_VERDICT if identical else DIFFERENT_VERDICT)
        self.wrong_solution = self.experiment.get("wrong_solution", DIFFERENT_VERDICT if identical else SAME_VERDICT)
        same, different = (self.solution, self.wrong_solution) if identical else (self.wrong_solution, self.solution)
        self.prompts = Prompts(self.flags, same, different, self.experiment)
        # v2.0 always has 3; at least one question round keeps the schedule well-formed
        decision_turn = max(1, int(self.instance.get("decision_turn", DEFAULT_DECISION_TURN)))
        self.turns = schedule(player_a, player_b, decision_turn)
        self.position = 0
        #: each player's last statement that a question of theirs is relayed with
        self.lead: dict[str, str] = {}
        self.last_answer: dict[str, str] = {}
        #: what the player asked next sees: the asker's lead, its question and the answer request
        self.relay = ""
        self.decisions: dict[str, bool] = {}
        self.set_context(player_a, self.prompts.initial(self.grids[player_a]))

    # ------------------------------------------------------------------ moves
    def parse(self, role: str, response: str) -> Move:
        kind = self.turns[self.position].kind
        text = response.strip()  # clembench's backends strip every reply before the game sees it
        if not text:
            raise ParseError("abort, empty message", response, key="invalid content")
        first_word = text.split("\n")[0].split(" ")[0]
        if first_word != self.flags[kind]:
            raise ParseError(f"abort, first word: {first_word}", response, key="invalid format")
        if kind != DECISION:
            return Move(kind, text)
        verdict = text.lower().strip(".\n")
        if verdict == f"{self.flags[DECISION]} {self.solution}".lower():
            return Move(kind, text, True)
        if verdict == f"{self.flags[DECISION]} {self.wrong_solution}".lower():
            return Move(kind, text, False)
        raise ParseError("abort, wrong message content.", response, key="invalid content")

    def advance(self, role: str, move: Move) -> None:
        self.log_event("valid format", "continue")
        if move.kind == DESCRIPTION:
            self.lead[role] = self.prompts.description_relay(move.text)
        elif move.kind == ANSWER:
            self.lead[role] = self.last_answer[role] = move.text
        elif move.kind == QUESTION:
            self.relay = self.prompts.question_relay(self.lead[role], move.text)
        else:
            self.decisions[role] = bool(move.correct)
            self.log_event(f"Decision {role}", "success" if move.correct else "loss")
        current = self.turns[self.position]
        self.position += 1
        if self.position == len(self.turns):
            if all(self.decisions.values()):
                self.succeed("both decisions are right")
            else:
                self.lose(f"{sum(self.decisions.values())} of 2 decisions right")
            return
        turn = self.turns[self.position]
        self.set_context(turn.role, self._context(turn))
        self.give_turn(turn.role, new_round=turn.round != current.round)

    def _context(self, turn: Turn) -> str:
        player_a, player_b = self.roles
        if turn.kind == DESCRIPTION:
            return self.prompts.initial(self.grids[turn.role])
        if turn.kind == QUESTION:
            if turn.round == 0:  # B asks right after reading A's description
                return f"{self.lead[player_a]}\n{self.prompts.question_request}"
            return self.prompts.question_request
        if turn.kind == ANSWER:
            return self.relay
        if turn.role == player_a:  # A decides after reading B's last answer
            return f"{self.last_answer[player_b]}\n{self.prompts.decision_request}"
        return self.prompts.decision_request

    def on_parse_error(self, role: str, error: ParseError) -> None:
        self.log_event(error.key or "invalid format", error.reason)
        self.log_event("Game over", "Aborted")
        self.abort(error.reason)

    # ------------------------------------------------------------------ scores
    def main_score(self) -> float:
        return 100 if all(self.decisions.values()) else 0

    def episode_metrics(self) -> dict[str, Any]:
        if self.outcome.status is Status.ABORTED:
            return {"Player Score": math.nan}
        return {"Player Score": 50 * sum(self.decisions.values())}

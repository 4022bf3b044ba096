"""clean_up (clembench v3.0): two players see the same background with the same objects in different places and
talk until the objects stand at the same coordinates on both boards.

Every text a player reads comes from the instance (clembench's prompts for an official instance file, ours for
our generated ones), and so do the command patterns. The rules, as v3.0 plays them:

* each reply is one command, ``SAY: <message>`` (relayed to the partner) or ``MOVE: <object>, (<x>, <y>)``, after
  backticks are removed and the reply is stripped; Player 1 must open with a SAY;
* text before or after the command, two commands, restricted content or any other reply is a parse error: one
  penalty, and the same player tries again; a move to a cell that is off the board or not empty, or of an
  unknown object, is one penalty too (not a violated request), and the same player tries again;
* more penalties than ``max_penalties`` (shared by both players) abort the episode;
* a SAY containing the terminate answer (``finished!``) right after the partner's terminate question
  (``finished?``, any time before) ends the game; so does reaching ``max_rounds`` rounds. Both count as
  Success; the game is lost (Success and Lose both 1, as clembench logs it) when the boards end further apart
  than random placement would leave them.

A round ends when Player 2 passes the turn back to Player 1. Scores: :mod:`playpen.games.clean_up.scoring`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from string import Template
from typing import Any

from playpen.core import metrics
from playpen.core.errors import ParseError
from playpen.core.master import GameMaster, Status
from playpen.games.clean_up import scoring
from playpen.games.clean_up.board import Board


@dataclass(frozen=True)
class Command:
    kind: str  # "say" | "move"
    text: str  # the reply without backticks, stripped
    match: re.Match


class CleanUpMaster(GameMaster):
    name = "clean_up"
    roles = ("Player 1", "Player 2")
    role_labels = {"Player 1": "GridCleaner", "Player 2": "GridCleaner"}

    def setup(self) -> None:
        inst = self.instance
        self.prompts: dict[str, str] = inst["intermittent_prompts"]
        self.parse_errors: dict[str, str] = inst["parse_errors"]
        self.say_pattern = re.compile(inst["say_pattern"], re.DOTALL)
        self.move_pattern = re.compile(inst["move_pattern"], re.DOTALL)
        self.restricted = [re.compile(p, re.DOTALL) for p in inst.get("restricted_patterns", [])]
        self.boards = {role: Board(inst["background"], inst[key], inst["move_messages"])
                       for role, key in zip(self.roles, ("objects_1", "objects_2"))}
        self.init_states = self._states()
        self.init_distance = self._distance()
        self.max_penalties: int = inst["max_penalties"]
        self.max_rounds: int = inst["max_rounds"]
        self.penalties = 0
        #: clembench's round counter: it goes up when Player 2 passes the turn, before the game checks its end
        self.round = 0
        self.asked_to_finish = {role: False for role in self.roles}
        self.success = False
        self.moves: list[tuple[str, str]] = []
        self.stats = {scoring.VALID_MOVES: 0, scoring.INVALID_MOVES: 0, scoring.PARSE_ERRORS: 0}
        #: what a player is told about its own last command, put before the next message it gets
        self.relay = {role: "" for role in self.roles}
        self._tell(self.roles[0], inst["p1_initial_prompt"])

    # ------------------------------------------------------------------ helpers
    def _states(self) -> dict[str, list[dict[str, Any]]]:
        return {f"state_{i + 1}": self.boards[role].state() for i, role in enumerate(self.roles)}

    def _distance(self) -> float:
        first, second = self.roles
        return self.boards[first].distance_sum(self.boards[second])

    def _other(self, role: str) -> str:
        return self.roles[1 - self.roles.index(role)]

    def _tell(self, role: str, text: str) -> None:
        self.set_context(role, self.relay[role] + text)
        self.relay[role] = ""

    def _penalty_line(self) -> str:
        return Template(self.prompts["penalty_counter"]).substitute(penalty=self.penalties)

    def _turn_prompt(self, content: str) -> str:
        counter = Template(self.prompts["round_counter"]).substitute(round=self.round + 1)
        return counter + self._penalty_line() + content + self.prompts["command_prompt"]

    def _parse_error(self, key: str, detail: str, response: str) -> ParseError:
        self.log_event("parse_error", detail)
        return ParseError(self.parse_errors[key], response, key=key)

    def _check_edges(self, match: re.Match, response: str) -> None:
        head, tail = match.group("head"), match.group("tail")
        if head and tail:
            raise self._parse_error("head_tail", f"head and tail are not empty: {head!r} / {tail!r}", response)
        if head:
            raise self._parse_error("head", f"head is not empty: {head!r}", response)
        if tail:
            raise self._parse_error("tail", f"tail is not empty: {tail!r}", response)

    # ------------------------------------------------------------------ moves
    def parse(self, role: str, response: str) -> Command:
        self.log_event("player_response", response)
        text = response.replace("`", "").strip()
        # clembench counts the commands with finditer; its patterns open with a DOTALL ``(?P<head>.*)``, so there is
        # a match anywhere only if there is one at the start, and it runs to the end: ``match`` finds the same one
        # (and finditer would retry every start position, quadratic in a long reply)
        moves = [m for m in (self.move_pattern.match(text),) if m]
        says = [m for m in (self.say_pattern.match(text),) if m]
        if len(moves) + len(says) > 1:
            raise self._parse_error("several_commands", "more than one command", response)
        if role == self.roles[0] and self.round == 0 and not says:
            raise self._parse_error("invalid_start", "the first command must be a message", response)
        if moves:
            self._check_edges(moves[0], response)
            return Command("move", text, moves[0])
        if not says:
            raise self._parse_error("invalid_format", "neither SAY nor MOVE", response)
        match = says[0]
        self._check_edges(match, response)
        message = match.group("message")
        # clembench decides the end before it checks the restricted patterns
        if self.instance["terminate_question"] in message:
            self.asked_to_finish[role] = True
        if self.instance["terminate_answer"] in message and self.asked_to_finish[self._other(role)]:
            self.success = True
            self.log_event("success", "true")
        for pattern in self.restricted:
            if pattern.search(message):
                self.log_event("rule_violation", f"restricted content: {pattern.pattern}")
                raise ParseError(self.parse_errors["restriction"], response, key="restriction")
        return Command("say", text, match)

    def advance(self, role: str, command: Command) -> None:
        if command.kind == "move":
            self._move(role, command)
        else:
            self._say(role, command)

    def _move(self, role: str, command: Command) -> None:
        match = self.move_pattern.match(command.text)
        obj, x, y = match.group("obj"), match.group("x"), match.group("y")
        result = self.boards[role].move(obj, int(x), int(y))
        if not result.ok:
            self.penalties += 1
            message = f"{result.message}\n{self._penalty_line()}{self.prompts['penalty_reprompt']}"
            self.log_event("invalid move", message)
            self.stats[scoring.INVALID_MOVES] += 1
            self._tell(role, message)
            self._end_step(role, passed=False)
            return
        self.moves.append((self.player_name(role), obj))
        self.log_event("valid move", f"{obj} moved to ({x}, {y})")
        self.stats[scoring.VALID_MOVES] += 1
        self.relay[role] = result.message
        self._tell(self._other(role), self._turn_prompt(self.prompts["new_turn_move"]))
        self._end_step(role, passed=True)

    def _say(self, role: str, command: Command) -> None:
        message = self.say_pattern.match(command.text).group("message")
        self.relay[role] = Template(self.prompts["message_relay"]).substitute(message=message)
        if role == self.roles[0] and self.round == 0:
            opening = Template(self.instance["p2_initial_prompt"]).substitute(start_message=message)
            self._tell(self.roles[1], opening)
        else:
            relayed = Template(self.prompts["new_turn"]).substitute(turn_message=message)
            self._tell(self._other(role), self._turn_prompt(relayed))
        self._end_step(role, passed=True)

    def on_parse_error(self, role: str, error: ParseError) -> None:
        self.penalties += 1
        self.stats[scoring.PARSE_ERRORS] += 1
        reprompt = Template(self.prompts["invalid_response"]).substitute(reason=error.reason)
        self._tell(role, f"{reprompt}\n{self._penalty_line()}{self.prompts['penalty_reprompt']}")
        self._end_step(role, passed=False)

    def _end_step(self, role: str, passed: bool) -> None:
        """clembench's order: pass the turn (a new round when it goes back to Player 1), then check the end."""
        next_role = self._other(role) if passed else role
        new_round = passed and next_role == self.roles[0]
        if new_round:
            self.round += 1
        if self.penalties > self.max_penalties:
            self.log_event("end", "Maximum number of penalties exceeded")
            self._finish(Status.ABORTED, f"more than {self.max_penalties} penalties")
        elif self.success:
            self._finish(Status.SUCCESS, "both players agreed to finish")
        elif self.round >= self.max_rounds:
            self.log_event("end", "Maximum number of rounds reached")
            self.success = True
            self._finish(Status.SUCCESS, f"{self.max_rounds} rounds played")
        else:
            self.give_turn(next_role, new_round=new_round)

    def _finish(self, status: Status, reason: str) -> None:
        self.end_states = self._states()
        self.ingredients = self._ingredients()
        if status is Status.SUCCESS and self.ingredients[scoring.END_DISTANCE_SUM] > self.ingredients[
                scoring.EXPECTED_DISTANCE_SUM]:
            status, reason = Status.LOSE, f"{reason}, but the boards differ more than random ones would"
        {Status.ABORTED: self.abort, Status.SUCCESS: self.succeed, Status.LOSE: self.lose}[status](reason)
        self.log_event("game_finished", f"success: {self.success}, lose: {status is not Status.SUCCESS}, "
                                        f"aborted: {status is Status.ABORTED}")

    # ------------------------------------------------------------------ scores
    def _ingredients(self) -> dict[str, Any]:
        count = len(self.boards[self.roles[0]].objects)
        board = self.boards[self.roles[0]]
        return {
            scoring.MOVES: [list(move) for move in self.moves],
            scoring.INIT_STATES: self.init_states,
            scoring.END_STATES: self.end_states,
            scoring.SHIFTS: scoring.shifts(self.moves),
            scoring.MAX_SHIFTS: 2 * (count - 1),
            scoring.MIN_SHIFTS: count - 1,
            scoring.END_DISTANCE_SUM: self._distance(),
            scoring.INIT_DISTANCE_SUM: self.init_distance,
            scoring.EXPECTED_DISTANCE_SUM: board.expected_distance_sum(),
            scoring.PENALTIES: self.penalties,
            scoring.MAX_PENALTIES: self.max_penalties,
            scoring.ROUNDS: self.round,
            scoring.MAX_ROUNDS: self.max_rounds,
            scoring.OBJECT_COUNT: count,
        }

    def _flags(self) -> dict[str, int]:
        """clembench's flags: Lose is "not a success, or a success too far apart" (an abort is a loss too)."""
        aborted = self.outcome.status is Status.ABORTED
        return {metrics.ABORTED: int(aborted), metrics.LOSE: int(self.outcome.status is not Status.SUCCESS),
                metrics.SUCCESS: int(self.success)}

    def record_keys(self) -> dict[str, Any]:
        if not self.done or not hasattr(self, "ingredients"):
            return {}
        return {"markdown": True, **self.ingredients, **self._flags(), **self.stats}

    def _sub_metrics(self) -> dict[str, float]:
        return scoring.sub_metrics(self.ingredients, tuple(self.player_name(r) for r in self.roles))

    def main_score(self) -> float:
        if not self.success:
            return math.nan
        return scoring.main_score(self._sub_metrics())

    def episode_metrics(self) -> dict[str, Any]:
        if not hasattr(self, "ingredients"):  # ended outside the rules (context overflow, turn limit)
            return {}
        return {**self._flags(), **self._sub_metrics(), **self.ingredients, **self.stats}

"""Game masters of textmapworld (explore the whole house), textmapworld_graphreasoning (explore and report
the map) and textmapworld_specificroom (find a named room).

One model role, the explorer (clembench's ``PathGuesser``). clembench's second player, the room describer,
is programmatic; here it is part of the game master and its answers are logged as ``Player 2`` events.
One round = one explorer reply (clembench: explorer move + describer answer). The episode ends on DONE,
on a reply that breaks the format (aborted) or after 20 rounds without DONE (aborted, as clembench scores it).
"""

from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from playpen.core.errors import ParseError
from playpen.core.master import GameMaster

from playpen.games.textmapworld import prompts
from playpen.games.textmapworld.maps import RoomMap, is_loop
from playpen.games.textmapworld.similarity import build_graph, report_similarity

EXPLORER = "PathGuesser"
DESCRIBER = "Player 2"
MAX_ROUNDS = 20

MOVE_PATTERN = r"^GO:\s*(north|east|west|south)$"
STOP_PATTERN = r"^DONE$"
RESPONSE_PATTERN = (
    r'^\{\s*"action":\s*"([^{}]*?)"\s*,\s*"graph":\s*(\{\s*"nodes"\s*:\s*\[.*?\]\s*,\s*"edges"\s*:\s*\{.*?\}\s*\})\s*\}$'
)
#: graphreasoning replies longer than this are not matched against its regex, whose two lazy ``.*?`` can
#: backtrack quadratically; a model under clembench's token limit never writes one
MAX_DICT_REPLY = 20_000

NAN = math.nan


@lru_cache(maxsize=64)
def compiled(pattern: str) -> re.Pattern:
    """clembench applies every protocol regex with ``re.IGNORECASE``."""
    return re.compile(pattern, re.IGNORECASE)


@dataclass(frozen=True)
class Command:
    """A parsed explorer reply: ``direction`` None means DONE."""

    text: str
    direction: str | None = None
    graph: Any = None


class TextMapWorldMaster(GameMaster):
    name = "textmapworld"
    roles = (EXPLORER,)
    max_requests = MAX_ROUNDS + 5
    rules = prompts.EXPLORE_RULES
    #: specificroom's clembench scorer restarts its loop window after each loop it counts
    reset_loop_window = False

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        self.map = RoomMap.from_instance(self.instance)
        self.move_regex = compiled(self.instance.get("Move_Construction") or MOVE_PATTERN)
        self.stop_regex = compiled(self.instance.get("Stop_Construction") or STOP_PATTERN)
        self.position = self.map.start
        self.path = [self.map.start]  # every room entered, in order
        self.visited = {self.map.start}
        self.seen = {self.map.start} | self.map.neighbours.get(self.map.start, set())
        self.good_moves: list[bool] = []
        self.loop_window = [self.map.start]
        self.loops = 0
        self.stopped = False
        official = self.official_start()
        if official is None:
            self.set_initial_prompt(EXPLORER, self.rules)
        self.set_context(EXPLORER, self.start_message() if official is None else official)

    def official_start(self) -> str | None:
        return prompts.official_start(self.instance, self.position, self._directions_text(self.position))

    def start_message(self) -> str:
        return prompts.START.substitute(room=self.position, directions=self._directions_text(self.position))

    def flag(self, name: str) -> bool:
        return bool(self.experiment.get(name) or self.instance.get(name))

    # ------------------------------------------------------------------ parsing
    def parse(self, role: str, response: str) -> Command:
        text = response.strip()  # clembench's backends strip replies
        stop = self.stop_regex.search(text)
        move = self.move_regex.search(text)
        if stop and move:
            raise ParseError("the reply holds both GO and DONE", response)
        if stop:
            return Command(text.replace("\n", "").strip())
        if not move:
            raise ParseError("the reply is neither 'GO: <direction>' nor 'DONE'", response)
        utterance = text.replace("\n", "").strip()
        found = self.move_regex.search(utterance)
        return Command(utterance, found.group(1).lower())

    # ------------------------------------------------------------------ moves
    def advance(self, role: str, command: Command) -> None:
        self.log_event("parse", command.text)
        if command.direction is None:
            self.log_event("stop", "The explorer ended the game")
            self.stopped = True
            if self.is_success():
                self.succeed("stopped after reaching the goal")
            else:
                self.lose("stopped before reaching the goal")
            return
        self.describe(command)
        if self.done:
            return
        if self.current_round + 1 >= MAX_ROUNDS:
            self.log_event("turns_limit", str(MAX_ROUNDS))
            self.abort(f"no DONE within {MAX_ROUNDS} rounds")

    def describe(self, command: Command) -> None:
        """The describer's part: apply the move if the door exists and tell the explorer where it is."""
        here = self.position
        available = self.map.directions.get(here)
        if available is None:
            self._map_error(f"the instance lists no directions for {here!r}")
            return
        if command.direction not in available:
            self.log_event("direction not available", command.direction)
            self._tell(self._answer(False, here) or prompts.BLOCKED.substitute(
                room=here, directions=self._directions_text(here)))
            return
        there = self.map.exits.get(here, {}).get(command.direction)
        if there not in self.map.directions or there not in self.map.nodes:
            self._map_error(f"the instance has no room {command.direction} of {here!r}")
            return
        self._tell(self._answer(True, there) or prompts.MOVED.substitute(
            room=there, directions=self._directions_text(there)))
        self._move(here, there)
        self.after_move(command)

    def after_move(self, command: Command) -> None:
        """Hook for variants that record more per move."""

    def _move(self, here: str, there: str) -> None:
        good = there in self.map.good_first_steps(here, self.visited) and len(self.visited) != len(self.map.nodes)
        self.good_moves.append(good)
        self.log_round_score("effiencient_move", good)  # sic: clembench's metric name
        self.log_event("move", json.dumps({"old": here, "new": there}))
        self.position = there
        self.path.append(there)
        self.visited.add(there)
        self.seen |= self.map.neighbours.get(there, set())
        self.loop_window.append(there)
        if is_loop(self.loop_window):
            self.loops += 1
            if self.reset_loop_window:
                self.loop_window.clear()

    def _tell(self, text: str) -> None:
        self.log_event("room description", text, sender=DESCRIBER)
        self.set_context(EXPLORER, text)

    def on_parse_error(self, role: str, error: ParseError) -> None:
        # clembench's event for an unusable reply (its scorer reads it)
        self.log_event("aborted", error.reason)
        self.abort(error.reason)

    def _map_error(self, reason: str) -> None:
        # clembench's describer answers "Game needs to be aborted" and the episode is aborted
        self.log_event("aborted", reason)
        self.abort(reason)

    def _answer(self, moved: bool, room: str) -> str | None:
        return prompts.official_answer(self.instance, moved, room, self._directions_text(room))

    def _directions_text(self, room: str) -> str:
        return prompts.directions_text(self.map.directions.get(room, []))

    # ------------------------------------------------------------------ scores
    def is_success(self) -> bool:
        return self.visited == set(self.map.nodes)

    @property
    def efficiency(self) -> float:
        return sum(self.good_moves) / len(self.good_moves) * 100 if self.good_moves else 0

    @property
    def exploration(self) -> float:
        return len(self.visited) / len(self.map.nodes) * 100 if self.map.nodes else 0

    @property
    def exploration_score(self) -> float:
        """Harmonic mean of efficiency and exploration."""
        efficiency, exploration = self.efficiency, self.exploration
        return 2 * efficiency * exploration / (efficiency + exploration) if efficiency + exploration else 0

    def main_score(self) -> float:
        return self.exploration_score

    def episode_metrics(self) -> dict[str, Any]:
        stopped = self.stopped
        moves = len(self.good_moves)
        return {
            "moves": moves if stopped else NAN,
            "valid_moves": moves if stopped else NAN,
            # clembench logs only moves that change rooms, so its count of invalid moves is always 0
            "invalid_moves": 0 if stopped else NAN,
            "stopped": 1 if stopped else NAN,
            "turns_limit": 0 if stopped else NAN,
            "loops": self.loops if stopped else NAN,
            "number_visited": len(self.visited) if stopped else NAN,
            "seen": len(self.seen) if stopped else NAN,
            "efficiency": self.efficiency if stopped else NAN,
            "exploration": self.exploration if stopped else NAN,
        }


class GraphReasoningMaster(TextMapWorldMaster):
    """The explorer also reports the map it has drawn, in one dictionary line per reply."""

    name = "textmapworld_graphreasoning"
    rules = prompts.GRAPH_RULES

    def setup(self) -> None:
        super().setup()
        self.response_regex = compiled(self.instance.get("Response_Construction") or RESPONSE_PATTERN)
        self.last_graph: str | None = None

    def parse(self, role: str, response: str) -> Command:
        text = response.replace("\n", "").strip()
        if len(text) > MAX_DICT_REPLY:
            raise ParseError(f"the reply is longer than {MAX_DICT_REPLY} characters", response)
        found = self.response_regex.search(text)
        if not found:
            raise ParseError('the reply is not one {"action": ..., "graph": ...} line', response)
        action = found.group(1)
        stop = self.stop_regex.search(action)
        move = self.move_regex.search(action)
        if stop and move:
            raise ParseError("the action holds both GO and DONE", response)
        if stop:
            return Command(text)
        if not move:
            raise ParseError("the action is neither 'GO: <direction>' nor 'DONE'", response)
        # clembench's describer reads the move from the evaluated dictionary; failing that, it aborts
        try:
            reply = ast.literal_eval(text)
            evaluated = self.move_regex.search(reply["action"])
            graph = reply["graph"]
        except Exception:  # anything literal_eval or the lookups raise: the reply cannot be processed
            evaluated = None
        if evaluated is None:
            raise ParseError("the reply is not a Python/JSON dictionary with a GO action", response)
        direction = evaluated.group(1)
        if self.flag("playpen_fix_direction_case"):
            direction = direction.lower()
        return Command(text, direction, graph)

    def after_move(self, command: Command) -> None:
        self.last_graph = str(command.graph)
        self.log_event("graph", self.last_graph)

    def episode_metrics(self) -> dict[str, Any]:
        metrics = super().episode_metrics()
        if self.stopped:
            truth = build_graph(self.map.nodes, self.map.edges)
            metrics["graph_similarity"] = report_similarity(truth, self.last_graph)
        else:
            metrics["graph_similarity"] = NAN
        return metrics


class SpecificRoomMaster(TextMapWorldMaster):
    """The explorer must walk to a named room and say DONE there."""

    name = "textmapworld_specificroom"
    rules = prompts.TARGET_RULES
    reset_loop_window = True

    def setup(self) -> None:
        self.target = str(self.instance["Specific_Room"])
        super().setup()

    def official_start(self) -> str | None:
        return prompts.official_start(self.instance, self.position, self._directions_text(self.position), self.target)

    def start_message(self) -> str:
        return prompts.TARGET_START.substitute(
            target=self.target, room=self.position, directions=self._directions_text(self.position)
        )

    def is_success(self) -> bool:
        return self.target.lower() == self.path[-1].lower()

    def main_score(self) -> float:
        return 100 if self.is_success() else 0

    def episode_metrics(self) -> dict[str, Any]:
        metrics = super().episode_metrics()
        metrics["old_benchscore"] = self.exploration_score if self.stopped else NAN
        return metrics

"""The game master: a deterministic state machine driven by player responses.

An episode is a pure function of (game, experiment, instance, the sequence of responses). A game master
never calls a model, never reads files, never sleeps and never draws unseeded randomness. The engine asks
it whose turn it is (``current_role``), shows that player its own messages (``messages_for``) and feeds the
reply back with ``step(response)`` until ``done``.

Games subclass :class:`GameMaster` and implement three hooks:

* ``setup()`` — set the first contexts (``set_initial_prompt`` / ``set_context``);
* ``parse(role, response)`` — turn the raw reply into a move or raise :class:`ParseError`;
* ``advance(role, move)`` — apply the move, set the next contexts, decide the outcome
  (``succeed`` / ``lose`` / ``abort``) or raise a :class:`GameError`.

The base class keeps everything clembench records: the per-round event log (GM↔player messages and
GM-internal events), per-round request counts, per-round turn scores, and the episode scores with
clembench's metric names.
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, ClassVar, Mapping

from playpen.core import metrics
from playpen.core.errors import GameError, ParseError


class Status(str, Enum):
    RUNNING = "running"
    SUCCESS = "success"
    LOSE = "lose"
    ABORTED = "aborted"


class StopReason(str, Enum):
    """Why an episode stopped (``Outcome.stop``)."""

    #: the game's rules ended it: won or lost
    FINISHED = "finished"
    #: the game aborted it by its own rules (not a parse error)
    ABORTED = "aborted"
    #: a reply did not parse (clembench's abort)
    PARSE_ERROR = "parse_error"
    #: ``max_requests`` was reached
    TURN_LIMIT = "turn_limit"
    #: the conversation of the player to answer no longer fit its model's context
    CONTEXT_EXCEEDED = "context_exceeded"
    #: the model of the player to answer failed after its retries
    BACKEND_ERROR = "backend_error"
    #: the game master raised (a bug): the episode is errored, never scored
    GAME_BUG = "game_bug"


#: stops imposed by a limit outside the game's rules (Gymnasium's ``truncated``)
TRUNCATIONS = frozenset({StopReason.TURN_LIMIT, StopReason.CONTEXT_EXCEEDED})


@dataclass(frozen=True)
class Outcome:
    status: Status = Status.RUNNING
    reason: str = ""
    #: why the episode stopped (None while it runs, or when the game ended it before any reply)
    stop: StopReason | None = None
    #: the role whose reply (or, for a context overflow or a backend error, whose turn) ended the episode
    role: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status is not Status.RUNNING


@dataclass
class _Context:
    content: str
    memorize: bool = True


GM = "GM"


class GameMaster(ABC):
    """Base class of every game. See the module docstring for the contract."""

    #: clembench game name, e.g. ``"taboo"``.
    name: ClassVar[str] = ""
    #: Model-backed roles in player order ("Player 1", "Player 2", ...), clembench role names.
    roles: ClassVar[tuple[str, ...]] = ()
    #: clembench's ``game_role`` label where it differs from the role key (e.g. two roles both recorded as
    #: ``MatchItPlayer``); used in the records only.
    role_labels: ClassVar[dict[str, str]] = {}
    #: Hard bound on the number of requests in one episode; reaching it calls ``on_request_limit``.
    max_requests: ClassVar[int] = 400

    def __init__(self, experiment: Mapping[str, Any], instance: Mapping[str, Any]):
        self.experiment: dict[str, Any] = {k: v for k, v in experiment.items() if k != "game_instances"}
        self.instance: dict[str, Any] = dict(instance)
        self.game_id = self.instance.get("game_id")
        self.outcome = Outcome()
        #: events per round, in clembench's interactions.json shape (without timestamps)
        self.rounds: list[list[dict[str, Any]]] = [[]]
        self.request_counts: list[int] = [0]
        self.violated_request_counts: list[int] = [0]
        self.round_scores: list[dict[str, Any]] = [{}]
        self.requests = 0
        self._histories: dict[str, list[dict[str, str]]] = {role: [] for role in self.roles}
        self._pending: dict[str, _Context | None] = {role: None for role in self.roles}
        self._initial_prompts: dict[str, str | None] = {role: None for role in self.roles}
        self._current: str | None = self.roles[0] if self.roles else None
        self._next: tuple[str, bool | None] | None = None
        self.setup()

    # ------------------------------------------------------------------ public API (engine side)
    @property
    def done(self) -> bool:
        return self.outcome.is_terminal

    @property
    def current_role(self) -> str | None:
        """The role that must answer next, or None when the episode is over."""
        return None if self.done else self._current

    @property
    def current_player(self) -> str | None:
        role = self.current_role
        return None if role is None else self.player_name(role)

    @property
    def current_round(self) -> int:
        return len(self.rounds) - 1

    def player_name(self, role: str) -> str:
        return f"Player {self.roles.index(role) + 1}"

    def messages_for(self, role: str | None = None) -> list[dict[str, str]]:
        """The player's own view: its history plus the context it must answer now (if any)."""
        role = role or self.current_role
        if role is None:
            return []
        messages = [dict(m) for m in self._histories[role]]
        context = self._pending_text(role)
        if context is not None:
            messages.append({"role": "user", "content": context})
        return messages

    def step(self, response: str) -> None:
        """Apply the current player's reply. Never raises for any string a model may produce."""
        if self.done:
            raise RuntimeError("step() called on a finished episode")
        role = self._current
        assert role is not None
        if not isinstance(response, str):
            response = "" if response is None else str(response)
        context = self._pending[role]
        if context is None:
            raise RuntimeError(f"{self.name}: no context was set for {role}")
        content = self._pending_text(role)
        player = self.player_name(role)
        self.log_event("send message", content, sender=GM, receiver=player, label="context")
        self.log_event("get message", response, sender=player, receiver=GM, label="response")
        if context.memorize:
            self._histories[role].append({"role": "user", "content": content})
            self._histories[role].append({"role": "assistant", "content": response})
        self._pending[role] = None
        self._initial_prompts[role] = None
        self.requests += 1
        self.request_counts[-1] += 1
        self._next = None
        stop = StopReason.FINISHED
        try:
            move = self.parse(role, response)
            self.advance(role, move)
        except ParseError as error:
            self.violated_request_counts[-1] += 1
            self.on_parse_error(role, error)
            stop = StopReason.PARSE_ERROR
        except GameError as error:
            self.on_game_error(role, error)
        if self.done:
            self._settle(role, stop)
            return
        next_role, new_round = self._next or (self._round_robin(role), None)
        if new_round is None:
            new_round = self.roles.index(next_role) <= self.roles.index(role)
        self._current = next_role
        if self._pending[next_role] is None:
            raise RuntimeError(f"{self.name}: {next_role} has the turn but no context")
        if new_round:
            self.start_round()
        if self.requests >= self.max_requests:
            self.on_request_limit()
            if self.done:
                self._settle(role, StopReason.TURN_LIMIT)

    def interrupt(self, stop: StopReason, detail: str) -> None:
        """End the episode at the current player's turn for a reason outside the game's rules: its conversation
        no longer fits its model's context (``CONTEXT_EXCEEDED``) or its model failed (``BACKEND_ERROR``).
        Logged as an ``error`` event; the episode counts as aborted, charged to that player's role."""
        role = self.current_role
        if stop is StopReason.CONTEXT_EXCEEDED:
            self.log_event("error", f"context exceeded: {detail}")
            reason = f"the conversation no longer fits the model's context ({detail})"
        elif stop is StopReason.BACKEND_ERROR:
            reason = f"{role} failed: {detail}"
            self.log_event("error", reason)
        else:
            raise ValueError(f"interrupt() takes CONTEXT_EXCEEDED or BACKEND_ERROR, not {stop}")
        self.outcome = Outcome(Status.ABORTED, reason, stop, role)

    def copy(self) -> "GameMaster":
        """An independent copy of the game state (for branching). The experiment and instance are shared, not
        copied: games treat them as read-only (an official wordle experiment carries a 13k-word list)."""
        return copy.deepcopy(self, {id(self.experiment): self.experiment, id(self.instance): self.instance})

    def scores(self) -> dict[str, Any]:
        """clembench's ``turn scores`` / ``episode scores`` for a finished episode."""
        if not self.done:
            raise RuntimeError("scores() needs a finished episode")
        totals = self.request_totals()
        requests, parsed = totals[metrics.REQUEST_COUNT], totals[metrics.PARSED_REQUEST_COUNT]
        aborted = self.outcome.status is Status.ABORTED
        episode: dict[str, Any] = {
            **totals,
            metrics.REQUEST_SUCCESS_RATIO: parsed / requests if requests else 0.0,
            metrics.ABORTED: int(aborted),
            metrics.LOSE: int(self.outcome.status is Status.LOSE),
            metrics.SUCCESS: int(self.outcome.status is Status.SUCCESS),
        }
        episode[metrics.MAIN_SCORE] = math.nan if aborted else self.main_score()
        episode.update(self.episode_metrics())
        turns = {}
        for index, round_scores in enumerate(self.round_scores):
            turns[str(index)] = {
                **round_scores,
                metrics.REQUEST_COUNT: self.request_counts[index],
                metrics.VIOLATED_REQUEST_COUNT: self.violated_request_counts[index],
                metrics.PARSED_REQUEST_COUNT: self.request_counts[index] - self.violated_request_counts[index],
            }
        return {metrics.TURN_SCORES_KEY: turns, metrics.EPISODE_SCORES_KEY: episode}

    def request_totals(self) -> dict[str, int]:
        """The episode's request counts under clembench's names (sums of the per-round counts)."""
        requests = sum(self.request_counts)
        violated = sum(self.violated_request_counts)
        return {
            metrics.REQUEST_COUNT: requests,
            metrics.PARSED_REQUEST_COUNT: requests - violated,
            metrics.VIOLATED_REQUEST_COUNT: violated,
        }

    def outcome_flags(self) -> dict[str, bool]:
        """clembench's ``Aborted`` / ``Lose`` / ``Success`` of the current outcome."""
        status = self.outcome.status
        return {metrics.ABORTED: status is Status.ABORTED, metrics.LOSE: status is Status.LOSE,
                metrics.SUCCESS: status is Status.SUCCESS}

    def record_keys(self) -> dict[str, Any]:
        """Top-level keys that clembench's version of this game logs into ``interactions.json`` for its scorer
        (its ``log_key`` data), with clembench's names, shapes and meaning, so that clembench's scorer can
        re-score our records. They replace the common keys of the record where clembench's game logs those
        differently (e.g. episode totals instead of per-round request counts). Default: none."""
        return {}

    @property
    def responses(self) -> list[str]:
        """Every reply of the model-backed players so far, in order (what replay needs to rebuild the episode)."""
        players = {self.player_name(role) for role in self.roles}
        return [
            e["action"]["content"]
            for events in self.rounds
            for e in events
            if e["action"]["type"] == "get message" and e["from"] in players
        ]

    # ------------------------------------------------------------------ helpers for games
    def set_initial_prompt(self, role: str, text: str) -> None:
        """Prefix ``text`` (blank line in between) to the next context this role receives."""
        self._initial_prompts[role] = text

    def set_context(self, role: str, text: str, *, memorize: bool = True) -> None:
        """What ``role`` is shown when it is asked next. ``memorize=False``: neither this context nor the
        reply to it stays in the player's history (e.g. privateshared's probes)."""
        self._pending[role] = _Context(text, memorize)

    def give_turn(self, role: str, *, new_round: bool | None = None) -> None:
        """Choose who answers next (default: the next role in order). ``new_round`` overrides the default
        rule that a round starts when the turn wraps back to an earlier (or the same) role."""
        self._next = (role, new_round)

    def start_round(self) -> None:
        self.rounds.append([])
        self.request_counts.append(0)
        self.violated_request_counts.append(0)
        self.round_scores.append({})

    def log_event(
        self,
        type_: str,
        content: Any,
        *,
        sender: str = GM,
        receiver: str = GM,
        label: str | None = None,
    ) -> None:
        action: dict[str, Any] = {"type": type_, "content": content}
        if label is not None:
            action["label"] = label
        self.rounds[-1].append({"from": sender, "to": receiver, "action": action})

    def log_round_score(self, name: str, value: Any) -> None:
        self.round_scores[-1][name] = value

    def succeed(self, reason: str = "") -> None:
        self.outcome = Outcome(Status.SUCCESS, reason)

    def lose(self, reason: str = "") -> None:
        self.outcome = Outcome(Status.LOSE, reason)

    def abort(self, reason: str = "") -> None:
        self.outcome = Outcome(Status.ABORTED, reason)

    @property
    def history_of(self) -> dict[str, list[dict[str, str]]]:
        return self._histories

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def setup(self) -> None:
        """Set the first contexts. Called once from the constructor."""

    @abstractmethod
    def parse(self, role: str, response: str) -> Any:
        """Return the move encoded in ``response`` or raise ParseError."""

    @abstractmethod
    def advance(self, role: str, move: Any) -> None:
        """Apply ``move``: set the next contexts, ``give_turn`` if not round-robin, end the game if due."""

    def on_parse_error(self, role: str, error: ParseError) -> None:
        self.log_event("parse error", error.reason)
        self.abort(error.reason)

    def on_game_error(self, role: str, error: GameError) -> None:
        self.log_event("rule violation", error.reason)
        self.lose(error.reason)

    def on_request_limit(self) -> None:
        """Called when ``max_requests`` is reached on an unfinished episode. Default: abort."""
        self.log_event("request limit", self.max_requests)
        self.abort(f"request limit of {self.max_requests} reached")

    @abstractmethod
    def main_score(self) -> float:
        """The game's quality score (0–100) of a finished, not aborted episode."""

    def main_score_bounds(self) -> tuple[float, float]:
        """The range ``main_score`` can take (EQ-Bench's formula goes below 0 for far-off answers)."""
        return 0.0, 100.0

    def episode_metrics(self) -> dict[str, Any]:
        """Game-specific episode metrics added to ``episode scores``."""
        return {}

    # ------------------------------------------------------------------ internals
    def _settle(self, role: str, stop: StopReason) -> None:
        """Note why and at whose reply the episode ended, unless the game's hooks said so themselves."""
        if self.outcome.stop is None:
            if stop is StopReason.FINISHED and self.outcome.status is Status.ABORTED:
                stop = StopReason.ABORTED
            self.outcome = replace(self.outcome, stop=stop, role=role)

    def _round_robin(self, role: str) -> str:
        return self.roles[(self.roles.index(role) + 1) % len(self.roles)]

    def _pending_text(self, role: str) -> str | None:
        context = self._pending[role]
        if context is None:
            return None
        initial = self._initial_prompts[role]
        return context.content if initial is None else f"{initial}\n\n{context.content}"

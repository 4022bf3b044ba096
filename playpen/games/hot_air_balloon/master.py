"""hot_air_balloon (clembench v3.0, source folder ``air_balloon_survival``): two players negotiate which items to
keep within a weight limit; each values the items its own way.

Every text and tag pattern comes from the instance. A reply is a sequence of tagged sets: ``STRATEGIC REASONING``
(hidden, and first when the instance asks for it), ``ARGUMENT`` (required when the instance asks for it),
``PROPOSAL``, ``REFUSE``, ``AGREE``, each ``TAG: {...}``. The partner sees the reply without the strategic reasoning.
v3.0's rules:

* a missing strategic reasoning or argument, text outside the tags, only strategic reasoning, or a set that does not
  read as a Python set costs one unit of the player's patience and the player tries again (the instance's prompt
  says why); with no patience left (``patience`` retries per player) the episode is aborted;
* a proposal with unknown items, a refusal or an agreement of a set the partner has not proposed (or has withdrawn),
  or two agreements cost patience the same way; with none left, the game is lost;
* more than ``empty_turn_limit`` replies in a row without a proposal lose the game;
* an agreement to an active proposal of the partner ends the game with that deal (Success).

Main Score: the deal's normalised harmonic mean of both players' utilities (``equal`` mode: player 1's normalised
utility), 0 for a deal over the weight limit or a lost game, NaN for an aborted one.

Where clembench v3.0 crashes (a set that fails to parse while the player has patience left raises a TypeError
there; a proposal that parses as a dict or a list raises an AttributeError), we reprompt with the instance's
``invalid_python_set_error``: such episodes have no clembench scores to compare with.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from typing import Any

from playpen.core.errors import GameError, ParseError
from playpen.core.master import GameMaster, Status
from playpen.games.hot_air_balloon.rules import deal_scores

AGREE, REFUSE, PROPOSE, REASON, ARGUE = "agree", "refuse", "propose", "reason", "argue"


class Retry(Exception):
    """A reply the player must send again (clembench's reprompt while the player has patience)."""


@dataclass
class Reply:
    sets: dict[str, list[Any]] = field(default_factory=dict)
    #: what the partner is shown
    chat: str = ""


class HotAirBalloonMaster(GameMaster):
    name = "hot_air_balloon"
    roles = ("Player 1", "Player 2")
    role_labels = {"Player 1": "Negotiator", "Player 2": "Negotiator"}

    def setup(self) -> None:
        inst = self.instance
        self.items = set(inst["item_weights"])
        self.tags = {AGREE: inst["agree_tag"], REFUSE: inst["refusal_tag"], PROPOSE: inst["proposal_tag"]}
        if inst["strategic_reasoning"]:
            self.tags[REASON] = inst["strategic_reasoning_tag"]
        if inst["require_argument"]:
            self.tags[ARGUE] = inst["argument_tag"]
        self.patience = {role: inst["patience"] for role in self.roles}
        self.active: dict[str, list[Any]] = {role: [] for role in self.roles}
        self.empty_turns = 0
        self.turns = 0
        self.violations = {role: 0 for role in self.roles}
        self.final_deal: set[str] | None = None
        #: clembench's literal reading of ``pareto_optima_sets`` (a JSON string in its files: a set of characters)
        self.pareto_sets = {frozenset(option) for option in inst.get("pareto_optima_sets", [])}
        first, second = self.roles
        self.set_context(first, inst["player1_initial_prompt"])
        self.set_initial_prompt(second, inst["player2_initial_prompt"])
        self._retries = 0

    def _other(self, role: str) -> str:
        return self.roles[1 - self.roles.index(role)]

    # ------------------------------------------------------------------ replies
    def _retry(self, role: str, error: type[Exception], prompt_key: str) -> None:
        """One unit of patience: the player is told why and tries again; with none left, ``error`` ends the game."""
        self.patience[role] -= 1
        if self.patience[role] < 0:
            raise error(self.instance[prompt_key], key=prompt_key)
        self.set_context(role, self.instance[prompt_key])
        self._retries += 1

    def parse(self, role: str, response: str) -> Reply | None:
        self.turns += 1
        self._retries = 0
        try:
            return self._read(role, response)
        except Retry:
            return None

    def _read(self, role: str, response: str) -> Reply:
        if REASON in self.tags and not re.match(self.tags[REASON], response, re.DOTALL):
            self._fail(role, ParseError, "no_sr_prompt")
        if ARGUE in self.tags and not re.search(self.tags[ARGUE], response, re.DOTALL):
            self._fail(role, ParseError, "no_argument_prompt")
        remaining = response
        for pattern in self.tags.values():
            remaining = re.sub(pattern, "", remaining, flags=re.DOTALL)
        if remaining.strip():
            self._fail(role, ParseError, "untagged_sequence_prompt")
        reply = Reply({kind: [] for kind in self.tags}, response)
        # clembench reads the tags without DOTALL here: a set spread over lines is not read (nor refused)
        for kind, pattern in self.tags.items():
            for match in re.findall(pattern, response):
                content = match.split(":", 1)[1].strip()
                if kind == REASON:
                    reply.chat = re.sub(re.compile(pattern, re.DOTALL), "", response).strip()
                    if not re.search(r"\S", reply.chat):
                        self._fail(role, ParseError, "only_sr_prompt")
                elif kind in (PROPOSE, REFUSE, AGREE):
                    try:
                        value = ast.literal_eval(content)
                    except Exception:  # whatever literal_eval rejects
                        value = None
                    # a refusal or agreement of another literal is simply not an active proposal
                    if value is None or (kind == PROPOSE and not isinstance(value, (set, frozenset))):
                        self._fail(role, ParseError, "invalid_python_set_error")
                    reply.sets[kind].append(value)
        self.set_context(self._other(role), reply.chat)
        return reply

    def _fail(self, role: str, error: type[Exception], prompt_key: str) -> None:
        self._retry(role, error, prompt_key)
        raise Retry

    def advance(self, role: str, reply: Reply | None) -> None:
        if reply is not None:
            self._apply(role, reply)
        if self.done:
            return
        # each reprompt hands the turn on once more before clembench passes it: an odd count keeps the player
        next_role = role if self._retries % 2 else self._other(role)
        self.give_turn(next_role, new_round=next_role == self.roles[0])

    def _apply(self, role: str, reply: Reply) -> None:
        other = self._other(role)
        for proposal in reply.sets[PROPOSE]:
            if not proposal <= self.items:
                return self._retry(role, GameError, "proposal_error_prompt")
        for refusal in reply.sets[REFUSE]:
            if refusal not in self.active[other]:
                return self._retry(role, GameError, "refuse_error_prompt")
        agreements = reply.sets[AGREE]
        if agreements:
            ambiguous, inactive = len(agreements) > 1, agreements[0] not in self.active[other]
            if ambiguous:
                self._retry(role, GameError, "agreement_ambiguous_prompt")
            if inactive:
                self._retry(role, GameError, "agreement_non_active_prompt")
            if ambiguous or inactive:
                return
        self.empty_turns = 0 if reply.sets[PROPOSE] else self.empty_turns + 1
        if self.empty_turns > self.instance["empty_turn_limit"]:
            raise GameError(f"more than {self.instance['empty_turn_limit']} replies in a row without a proposal")
        self.active[role].extend(reply.sets[PROPOSE])
        for refusal in reply.sets[REFUSE]:
            if refusal not in self.active[other]:  # the same set refused twice in one reply
                raise GameError("refused a proposal that is no longer active")
            self.active[other].remove(refusal)
        if agreements:
            self.final_deal = set(agreements[0])
            self.log_event("info", "game successful")
            self.succeed("the players agreed on a deal")

    def on_parse_error(self, role: str, error: ParseError) -> None:
        self.violations[role] += 1
        self.log_event("missing tag", "abort")
        self.abort(error.reason)

    def on_game_error(self, role: str, error: GameError) -> None:
        self.log_event("rule violation", error.reason)
        self.lose(error.reason or "rule violation")

    # ------------------------------------------------------------------ scores
    def _deal(self) -> dict[str, float]:
        return deal_scores(self.instance, self.final_deal)

    def main_score(self) -> float:
        if self.outcome.status is Status.LOSE:
            return 0.0
        return self._deal()["score"]

    def _violation_counts(self) -> dict[str, int]:
        first, second = self.roles
        return {"Violations Player 1": self.violations[first], "Violations Player 2": self.violations[second],
                "Total Violations": sum(self.violations.values())}

    def episode_metrics(self) -> dict[str, Any]:
        deal = self._deal()
        return {**self._violation_counts(), "Normalized Utility Player 1": deal["u1"],
                "Normalized Utility Player 2": deal["u2"], "Harmonic Mean Score": deal["score"]}

    def record_keys(self) -> dict[str, Any]:
        deal = self._deal()
        counts = self._violation_counts()
        total = counts["Total Violations"]
        first, second = self.roles
        flags = self.outcome_flags()
        return {
            "final deal": sorted(self.final_deal) if self.final_deal is not None else None,
            "Total weight deal": deal["weight"] if self.final_deal is not None else None,
            "Max harmonic mean": self.instance["max_harmonic"] if self.final_deal is not None else math.nan,
            "Max weight allowed": self.instance["max_weight"],
            "Is Pareto Optimum Deal": self.final_deal is not None and frozenset(self.final_deal) in self.pareto_sets,
            "Pareto Optima Count": len(self.pareto_sets),
            "Normalized Utility Player 1": deal["u1"],
            "Normalized Utility Player 2": deal["u2"],
            "Normalized harmonic mean": deal["score"],
            "Aborted": int(flags["Aborted"]), "Lose": int(flags["Lose"]), "Success": int(flags["Success"]),
            "Played turns": self.turns,
            "Percent Violations Player 1": 100 * self.violations[first] / total if total else 0.0,
            "Percent Violations Player 2": 100 * self.violations[second] / total if total else 0.0,
            **counts,
        }

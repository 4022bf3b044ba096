"""The adventuregame game master: one Adventurer sends ``>`` commands to the interpreter (clembench v2.0 rules).

Per turn (one request, one round): the reply must start with ``>`` (else the episode is aborted,
``command_tag_missing``); in the plan variant it must also contain ``\\nNext actions:`` unless it says ``done``
anywhere (else ``next_actions_missing``). The first line after ``>`` goes to the interpreter; failed commands are
not fatal. The game ends with a successful ``> done`` (Success if all goals held after some turn, else Lose) or
after ``max_turns`` turns, which clembench scores as Aborted even if the goals were met.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from playpen.core import metrics
from playpen.core.errors import ParseError
from playpen.core.master import GameMaster, Status
from playpen.games.adventuregame import prompts
from playpen.games.adventuregame.world import Adventure, Fact, World, fact_text
from playpen.games.official import official_text

ROLE = "Adventurer"
#: clembench's order of fail phases and fail types (turn and episode metrics)
FAIL_TYPES = (
    "lark_exception", "malformed_command", "undefined_action_verb", "undefined_action", "undefined_repr_str",
    "manipulating_room", "undefined_argument_type", "taking_from_inventory", "other_room_argument",
    "domain_trait_type_mismatch", "domain_type_discrepancy", "world_state_discrepancy", "entity_not_accessible",
    "entity_state_mismatch", "entity_trait_mismatch", "entity_already_inventory", "going_to_current_room",
    "no_exit_to", "inventory_limit_exceeded",
)
HALLUCINATED_FINISH = ("complete", "finish", "done", "successfully")
PLAN_MARKER = "\nNext actions:"
#: experiment/instance flag: Main Score NaN for aborted episodes (clembench after 2.0.0; v2.0 scored them)
NAN_WHEN_ABORTED = "playpen_fix_aborted_main_score"


class AdventureGameMaster(GameMaster):
    name: ClassVar[str] = "adventuregame"
    roles: ClassVar[tuple[str, ...]] = (ROLE,)

    def setup(self) -> None:
        instance = self.instance
        self.adventure = Adventure.from_instance(instance)
        self.world = World.start(self.adventure)
        self.plan_variant = instance.get("variant") == "plan"
        self.max_turns = int(instance.get("max_turns", 50))
        self.optimal_turns = int(instance.get("optimal_turns", 0))
        #: goals as the game master last learnt them from the interpreter (clembench semantics)
        self.goals_known: frozenset[Fact] = frozenset()
        self.finished = False  # all goals held after some turn
        self.turn_limit_reached = False
        self.plans: list[list[str]] = []
        self.plan_success_ratios: list[float] = []
        self.turn_records: list[dict[str, Any]] = []
        official = official_text(instance, "prompt")
        if official is not None:
            # clembench appends the first room description to the instance's prompt as it is
            self.set_context(ROLE, official + self.world.describe_room())
        else:
            goal_phrases = [
                prompts.goal_phrase(i, self.adventure.label(g[1]), g[0], self.adventure.label(g[2]))
                for i, g in enumerate(self.adventure.goals)
            ]
            limited = self.adventure.defs.inventory_capacity is not None
            self.set_initial_prompt(ROLE, prompts.initial_prompt(goal_phrases, self.plan_variant, limited))
            self.set_context(ROLE, self.world.describe_room())

    # ------------------------------------------------------------------ parsing
    def parse(self, role: str, response: str) -> tuple[str, list[str] | None]:
        text = response.strip()  # clembench's backends strip model output
        if not text.startswith(">"):
            hallucinated = any(word in text for word in HALLUCINATED_FINISH)
            raise ParseError("command_tag_missing", response, key="hallucination" if hallucinated else None)
        if self.plan_variant and PLAN_MARKER not in text and "done" not in text:
            raise ParseError("next_actions_missing", response)
        plan = None
        if self.plan_variant and text != "> done":
            parts = text.split(PLAN_MARKER)
            if len(parts) >= 2:
                plan = [command.strip() for command in parts[1].split(",")]
        return text[1:].split("\n")[0].strip(), plan

    def on_parse_error(self, role: str, error: ParseError) -> None:
        if error.key == "hallucination":
            self.log_event("hallucinated_finish", error.response)
        self.log_event("invalid_format", error.reason)
        self._record_turn({
            "command_tag_missing": int(error.reason == "command_tag_missing"),
            "next_actions_missing": int(error.reason == "next_actions_missing"),
            "hallucination": int(error.key == "hallucination"),
            "action_parsing_fail": 0,
            "action_resolution_fail": 0,
            **dict.fromkeys(FAIL_TYPES, 0),
            "goal_score": 0,
        })
        self.abort(error.reason)
        self._log_game_result()

    # ------------------------------------------------------------------ one turn
    def advance(self, role: str, move: tuple[str, list[str] | None]) -> None:
        command, plan = move
        if plan is not None:
            self.plans.append(plan)
            self.log_event("turn_plan", plan)
        before = len(self.goals_known)
        result = self.world.process(command)
        self.goals_known = self.world.goals_met() if result.ok else self.world.reported_goals
        info = self.world.exploration_info(self.adventure.defs.actions.get(result.attempted or ""))
        record: dict[str, Any] = {
            "command_tag_missing": 0,
            "next_actions_missing": 0,
            "hallucination": int(result.done and not self.finished),
            "action_parsing_fail": int(result.phase == "parsing"),
            "action_resolution_fail": int(result.phase == "resolution"),
            **{fail_type: int(result.fail_type == fail_type) for fail_type in FAIL_TYPES},
            "goal_score": len(self.goals_known) - before,
            **info,
        }
        if result.fail_type is not None and result.fail_type not in FAIL_TYPES:
            record[result.fail_type] = 1
        self._log_action(result, info)
        self.log_event("goal_status", {"goal_states_achieved": self._goal_strings(),
                                       "turn_goal_score": record["goal_score"]})
        if self.plan_variant:
            record.update(self._score_plan(command))
            for name in ("plan_command_success_ratio", "plan_followed"):
                if name in record:
                    self.log_event(name, record[name])
        self._record_turn(record)
        # clembench compares goal *strings* only after a successful command, so failed turns never finish
        if result.ok and self.goals_known == frozenset(self.adventure.goals) and not self.finished:
            self.finished = True
            self.log_event("adventure_finished", self._goal_strings())
        if self.requests >= self.max_turns:
            self.turn_limit_reached = True
            self.log_event("turn_limit_reached", f"turn limit {self.max_turns} reached")
            self.abort(f"turn limit of {self.max_turns} reached")
        elif result.done:
            if self.finished:
                self.succeed("done with all goals achieved")
            else:
                self.lose("done before achieving all goals")
        else:
            self.set_context(ROLE, result.feedback)
        if self.done:
            self._log_game_result()

    # ------------------------------------------------------------------ clembench's record events
    # The event types and contents clembench's adventuregame scorer reads from the turns.
    def _goal_strings(self) -> list[str]:
        return sorted(fact_text(g) for g in self.goals_known)

    def _log_action(self, result: Any, info: dict[str, Any]) -> None:
        exploration = {
            "action_epistemic": bool(info["epistemic_action"]),
            "action_pragmatic": bool(info["pragmatic_action"]),
            **{k: v for k, v in info.items() if k not in ("epistemic_action", "pragmatic_action")},
        }
        if result.ok:
            self.log_event("action_info", {"action_type": result.action, "exploration_info": exploration})
        else:
            self.log_event("action_fail", {"phase": result.phase, "fail_type": result.fail_type,
                                           "exploration_info": exploration})

    def _log_game_result(self) -> None:
        self.log_event("game_result", {"goal_states_achieved": self._goal_strings(),
                                       "game_successfully_finished": self.finished})

    def record_keys(self) -> dict[str, Any]:
        return {"adventure_info": {"variant": self.instance.get("variant"), "max_turns": self.max_turns,
                                   "optimal_turns": self.optimal_turns, "goal_count": len(self.adventure.goals)}}

    def _score_plan(self, command: str) -> dict[str, Any]:
        """Run the latest plan on a copy of the world (clembench executes it and rolls it back)."""
        if not self.plans:
            return {}
        plan = self.plans[-1]
        successes = self._execute_plan(plan)
        ratio = successes / len(plan)
        self.plan_success_ratios.append(ratio)
        scores: dict[str, Any] = {"plan_command_success_ratio": ratio}
        if len(self.plans) >= 2:
            scores["plan_followed"] = int(self.plans[-2][0] == command)
        return scores

    def _execute_plan(self, plan: list[str]) -> int:
        """clembench runs the plan until the first failure, then restores the world — except the goals the
        interpreter reported during the plan, and the exploration history entries of failed steps."""
        world = self.world
        saved = world.snapshot()
        successes = 0
        for command in plan:
            result = world.process(command)
            if not result.ok:
                break
            successes += 1
        if successes:
            world.restore(saved)
            world.forget_exploration(successes)
        return successes

    def _record_turn(self, record: dict[str, Any]) -> None:
        """Log clembench's turn scores; the plan figures default to 0 in every variant, as clembench's do."""
        previous = self.turn_records[-1] if self.turn_records else None
        record.setdefault("plan_followed", 0)
        record.setdefault("plan_command_success_ratio", 0)
        for key, value in record.items():
            self.log_round_score(key, value)
        # clembench logs the turn's bad_plan_followed before computing it (always 0); the episode ratio uses it
        self.log_round_score("bad_plan_followed", 0)
        record["bad_plan_followed"] = int(
            previous is not None and previous["plan_command_success_ratio"] == 0 and record["plan_followed"] == 1
        )
        self.turn_records.append(record)

    # ------------------------------------------------------------------ scores
    def main_score(self) -> float:
        return 100 * len(self.goals_known) / len(self.adventure.goals) if self.adventure.goals else 0.0

    def scores(self) -> dict[str, Any]:
        scores = super().scores()
        episode = scores[metrics.EPISODE_SCORES_KEY]
        if self.outcome.status is Status.ABORTED and not self._nan_when_aborted:
            episode[metrics.MAIN_SCORE] = self.main_score()
        return scores

    @property
    def _nan_when_aborted(self) -> bool:
        return bool(self.instance.get(NAN_WHEN_ABORTED, self.experiment.get(NAN_WHEN_ABORTED, False)))

    def episode_metrics(self) -> dict[str, Any]:
        records = self.turn_records
        turns = len(records)
        parsed = sum(1 for r in records if not (r["command_tag_missing"] or r["next_actions_missing"]))
        parsing_fails = sum(r.get("action_parsing_fail", 0) for r in records)
        resolution_fails = sum(r.get("action_resolution_fail", 0) for r in records)
        # clembench reports the speed figures whenever all goals held at some point, aborted or not
        finished = self.finished
        over_par = turns - self.optimal_turns
        turn_range = self.max_turns - self.optimal_turns
        turn_ratio = 1 - over_par / turn_range if turn_range else math.nan
        plan_followed = sum(r["plan_followed"] for r in records[1:])
        bad_followed = sum(r["bad_plan_followed"] for r in records)
        episode: dict[str, Any] = {
            "hallucination_count": sum(r.get("hallucination", 0) for r in records),
            "action_parsing_fail": parsing_fails,
            "action_resolution_fail": resolution_fails,
            **{fail_type: sum(r.get(fail_type, 0) for r in records) for fail_type in FAIL_TYPES},
            "successful_actions": parsed - parsing_fails - resolution_fails,
            "turn_limit_loss": int(self.turn_limit_reached),
            "turns_over_par": over_par if finished else math.nan,
            "turn_ratio": turn_ratio if finished else math.nan,
            "finish_speed": 1 - turn_ratio if finished else math.nan,
            "achieved_goal_ratio": len(self.goals_known) / len(self.adventure.goals) if self.adventure.goals else 0.0,
            "plan_followed_ratio": plan_followed / turns if turns else 0.0,
            "plan_average_viability_ratio": sum(r["plan_command_success_ratio"] for r in records) / turns if turns else 0.0,
            "bad_plan_follow_ratio": bad_followed / turns if turns else 0.0,
        }
        episode["bad_plan_dismiss_ratio"] = 1 - episode["bad_plan_follow_ratio"]
        return episode


"""privateshared (scorekeeping): does the answerer keep track of what it has told its partner?

One model role, the Answerer. A programmatic questioner asks for one slot per round, in the instance's
``request_order``; before the first question and after every answer the game master privately probes,
once per slot, whether the questioner knows the slot's value yet (``ME: … `` → ``ASIDE: yes|no``). Probes
are not kept in the answerer's history. The probe answers are scored against the ground truth with
Cohen's kappa; the slot answers with slot-filling accuracy (clembench v2.0.0 semantics).

Rounds: round 0 holds the first probe round; round k (k ≥ 1) holds the k-th question, its answer and
the k-th probe round (clembench's turn scores are indexed the same way).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

from playpen.core import metrics
from playpen.core.errors import ParseError
from playpen.core.master import GameMaster, Status
from playpen.games.privateshared import prompts

ANSWERER = "Answerer"
QUESTIONER = "Player 2"
#: what the answerer's next reply must be
ACKNOWLEDGEMENT, PROBE, SLOT = "acknowledgement", "probe", "slot"

#: clembench's probe value for a probe that never got a valid reply
INVALID_PROBE_LABEL = 2

#: instance flag set by ``replay_instance`` for records of clembench HEAD, whose game master first
#: sends the instructions alone and has the answerer acknowledge them ("Ok.") before probe round 0
PSEUDO_TURN_FLAG = "playpen_acknowledge_turn"


@dataclass(frozen=True)
class ProbeMove:
    value: int  # 1 = yes, 0 = no
    reply: str


@dataclass(frozen=True)
class SlotMove:
    reply: str


@dataclass
class Probe:
    slot: str
    question: str
    gt: int
    value: int | None = None
    answer: str | None = None
    tries: int = 0


@dataclass
class ProbeRound:
    probes: list[Probe] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return sum(p.gt == p.value for p in self.probes) / len(self.probes)


def parse_probe_reply(reply: str) -> int | None:
    """1 (yes), 0 (no) or None when the reply is not ``ASIDE: yes…`` / ``ASIDE: no…`` on one line."""
    if not reply.startswith(prompts.ASIDE_TAG) or "\n" in reply.strip("\n"):
        return None
    rest = reply.replace(prompts.ASIDE_TAG, "").strip().lower()
    if rest.startswith("yes"):
        return 1
    if rest.startswith("no"):
        return 0
    return None


def is_slot_reply(reply: str) -> bool:
    return reply.startswith(prompts.ANSWER_TAG) and "\n" not in reply.strip("\n")


def bench_score(slot_filling: float, kappa: float) -> float:
    """100 · harmonic mean of slot-filling accuracy and truncated kappa (clembench's Main Score)."""
    if slot_filling + kappa == 0:
        return 0
    return 100 * (2 * slot_filling * kappa / (slot_filling + kappa))


def cohen_kappa(gold: list[int], predicted: list[int]) -> float:
    from sklearn.metrics import cohen_kappa_score  # heavy import, only when an episode is scored

    with warnings.catch_warnings():
        # a single label in both lists: sklearn warns and returns NaN, as in clembench
        warnings.simplefilter("ignore")
        return float(cohen_kappa_score(gold, predicted))


class PrivateSharedMaster(GameMaster):
    name = "privateshared"
    roles = (ANSWERER,)
    max_requests = 2000  # 15 slots: 16 probe rounds × 15 probes × 5 tries + 15 answers
    partner_roles = {QUESTIONER: "Questioner"}

    def setup(self) -> None:
        instance = self.instance
        self.scene = prompts.scenario(self.experiment.get("name", ""))
        self.tag: str = instance["tag"]
        self.slots: dict[str, str] = dict(instance["slots"])
        self.request_order: list[str] = list(instance["request_order"])
        self.request_phrasings: dict[str, int] = dict(instance["requests"])
        self.probe_phrasings: dict[str, dict[str, int]] = {str(k): dict(v) for k, v in instance["probes"].items()}
        #: question index after which each slot counts as shared: its own request, or an earlier answer
        #: that already gave its value away (anticipation)
        self.shared_after: dict[str, int] = {slot: i for i, slot in enumerate(self.request_order)}
        self.filled_slots: list[bool] = []
        self.probe_rounds: list[ProbeRound] = []
        self.probe_index = 0
        self.attempt = 1
        self._statistics: dict[str, Any] | None = None  # computed once the episode is over
        self.instructions = prompts.intro(self.scene, self.tag, self.slots, instance)
        if self.instance.get(PSEUDO_TURN_FLAG):
            self.awaiting = ACKNOWLEDGEMENT
            self.instructions_pending = False
            self.set_context(ANSWERER, self.instructions)
        else:
            # The instructions belong to the answerer's first remembered message; until then every
            # (forgotten) probe repeats them.
            self.instructions_pending = True
            self._start_probe_round()

    # ------------------------------------------------------------------ flow
    @property
    def n_slots(self) -> int:
        return len(self.request_order)

    @property
    def answers_given(self) -> int:
        return len(self.filled_slots)

    def _ask(self, text: str, *, memorize: bool) -> None:
        if self.instructions_pending:
            self.set_initial_prompt(ANSWERER, self.instructions)
            self.instructions_pending = not memorize
        self.set_context(ANSWERER, text, memorize=memorize)
        self.give_turn(ANSWERER, new_round=False)

    def _start_probe_round(self) -> None:
        index = len(self.probe_rounds)
        phrasings = self.probe_phrasings[str(index)]
        self.probe_rounds.append(ProbeRound([
            Probe(slot, prompts.probe_question(self.scene, slot, phrasing), int(index > self.shared_after[slot]))
            for slot, phrasing in phrasings.items()
        ]))
        self.probe_index = 0
        self.attempt = 1
        self._ask_probe()

    @property
    def current_probe(self) -> Probe:
        return self.probe_rounds[-1].probes[self.probe_index]

    def _ask_probe(self) -> None:
        self.awaiting = PROBE
        self._ask(prompts.probe_text(self.current_probe.question, self.attempt), memorize=False)

    def _ask_next_question(self) -> None:
        self.start_round()
        slot = self.request_order[self.answers_given]
        request = prompts.request_text(self.scene, self.tag, slot, self.request_phrasings[slot])
        self.log_event("request", request, sender=QUESTIONER)
        self.awaiting = SLOT
        self._ask(request, memorize=True)

    # ------------------------------------------------------------------ hooks
    def parse(self, role: str, response: str) -> Any:
        reply = response.strip()  # clembench's backends strip every reply
        if self.awaiting == ACKNOWLEDGEMENT:
            return None
        if self.awaiting == PROBE:
            value = parse_probe_reply(reply)
            if value is None:
                raise ParseError("probe reply is not 'ASIDE: yes' or 'ASIDE: no' on a single line", reply, PROBE)
            return ProbeMove(value, reply)
        if not is_slot_reply(reply):
            raise ParseError("answer does not start with 'ANSWER:' or runs over several lines", reply, SLOT)
        return SlotMove(reply)

    def advance(self, role: str, move: Any) -> None:
        if self.awaiting == ACKNOWLEDGEMENT:
            # clembench HEAD fabricates this "Ok." and does not count it; replaying it counts one request
            self._start_probe_round()
        elif isinstance(move, ProbeMove):
            self._record_probe(move)
        else:
            self._record_slot_answer(move.reply)

    def _record_probe(self, move: ProbeMove) -> None:
        probe = self.current_probe
        probe.value, probe.answer, probe.tries = move.value, move.reply, self.attempt
        self.log_event("probe", {"target": probe.slot.upper(), "gt": probe.gt, "value": probe.value,
                                 "tries": probe.tries})
        self.probe_index += 1
        self.attempt = 1
        if self.probe_index < len(self.probe_rounds[-1].probes):
            self._ask_probe()
            return
        self.log_round_score("Accuracy", self.probe_rounds[-1].accuracy)
        if self.answers_given < self.n_slots:
            self._ask_next_question()
        else:
            self._finish()

    def _record_slot_answer(self, reply: str) -> None:
        question = self.answers_given
        slot = self.request_order[question]
        lowered = reply.lower()
        filled = self.slots[slot].lower() in lowered
        self.filled_slots.append(filled)
        self.log_event("metadata", f"Slot filled: {filled}")
        self.log_round_score("Slot Filled?", int(filled))
        for other, value in self.slots.items():
            if value.lower() in lowered and question < self.shared_after[other]:
                self.log_event("metadata", f"Value for {other.upper()} anticipated in answer {question + 1}.")
                self.shared_after[other] = question
        self._start_probe_round()

    def on_parse_error(self, role: str, error: ParseError) -> None:
        self.log_event("parse error", error.reason)
        if error.key == PROBE:
            self.current_probe.answer = error.response
            if self.attempt < len(prompts.RETRY_NUDGES):
                self.attempt += 1
                self._ask_probe()
                return
            # clembench's record of a probe that failed every try: invalid label, tries one past the last
            self.current_probe.value, self.current_probe.tries = INVALID_PROBE_LABEL, self.attempt + 1
        where = "probing" if error.key == PROBE else "slot filling"
        self.log_event("invalid format", f"Abort: invalid format in {where}.")
        self.abort(error.reason)

    def _finish(self) -> None:
        all_probes_right = all(r.accuracy == 1 for r in self.probe_rounds)
        if all_probes_right and all(self.filled_slots):
            self.succeed("every probe and every slot right")
        else:
            self.lose("some probe or slot wrong")

    # ------------------------------------------------------------------ scores
    @property
    def played_probe_rounds(self) -> int:
        """Probe rounds answered in full (clembench scores only these)."""
        complete = len(self.probe_rounds)
        if complete and any(p.value not in (0, 1) for p in self.probe_rounds[-1].probes):
            complete -= 1
        return complete

    def statistics(self) -> dict[str, Any]:
        """clembench's episode metrics (NaN when aborted; Middle-Accuracy only if its round was played)."""
        if self._statistics is None:
            self._statistics = self._compute_statistics()
        return self._statistics

    def _compute_statistics(self) -> dict[str, Any]:
        aborted = self.outcome.status is Status.ABORTED
        played = self.probe_rounds[: self.played_probe_rounds]
        stats: dict[str, Any] = {}
        middle = int((self.n_slots + 1) / 2) - 1
        if middle < len(played):
            stats["Middle-Accuracy"] = math.nan if aborted else played[middle].accuracy
        if aborted:
            stats.update(dict.fromkeys(("Accuracy", "Kappa", "Truncated Kappa", "Slot-Filling-Accuracy"), math.nan))
            return stats
        gold = [p.gt for r in played for p in r.probes]
        predicted = [p.value for r in played for p in r.probes]
        kappa = cohen_kappa(gold, predicted)
        stats["Accuracy"] = sum(g == p for g, p in zip(gold, predicted)) / len(gold)
        stats["Kappa"] = kappa
        stats["Truncated Kappa"] = max(0, kappa)
        stats["Slot-Filling-Accuracy"] = sum(self.filled_slots) / len(self.filled_slots)
        return stats

    def main_score(self) -> float:
        stats = self.statistics()
        return bench_score(stats["Slot-Filling-Accuracy"], stats["Truncated Kappa"])

    def episode_metrics(self) -> dict[str, Any]:
        return self.statistics()

    def record_keys(self) -> dict[str, Any]:
        """clembench's privateshared record: every probe round asked (probes never reached keep only target,
        question and ground truth), the final shared-after indices, and per-round request counts padded to
        one entry per probe round of a full episode."""
        probes = [[self._probe_record(p) for p in r.probes] for r in self.probe_rounds]
        requests = list(self.request_counts)
        if self.instance.get(PSEUDO_TURN_FLAG):
            requests[0] -= 1  # the replayed "Ok." of clembench HEAD, which it does not count
        parsed = [r - v for r, v in zip(requests, self.violated_request_counts)]
        counts = {name: values + [0] * (self.n_slots + 1 - len(values)) for name, values in (
            (metrics.REQUEST_COUNT, requests),
            (metrics.PARSED_REQUEST_COUNT, parsed),
            (metrics.VIOLATED_REQUEST_COUNT, list(self.violated_request_counts)),
        )}
        return {
            "probes": probes,
            "realised_slots": dict(self.shared_after),
            **counts,
            "Filled Slots": list(self.filled_slots),
            metrics.ABORTED: self.outcome_flags()[metrics.ABORTED],
            "Played Probe Rounds": self.played_probe_rounds,
        }

    @staticmethod
    def _probe_record(probe: Probe) -> dict[str, Any]:
        record: dict[str, Any] = {"target": probe.slot.upper(), "question": prompts.probe_text(probe.question, 1),
                                  "gt": probe.gt}
        if probe.tries:
            record.update(answer=probe.answer, value=probe.value, tries=probe.tries)
        return record

    def scores(self) -> dict[str, Any]:
        scores = super().scores()
        # like clembench, only fully played probe rounds get turn scores
        played = self.played_probe_rounds
        scores[metrics.TURN_SCORES_KEY] = {k: v for k, v in scores[metrics.TURN_SCORES_KEY].items() if int(k) < played}
        return scores

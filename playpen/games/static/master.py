"""clembench's static tasks as single-turn games: one prompt from the instance file, one reply, one score.

Every task sends one prompt — the instance's ``input``, or the experiment's ``initial_prompt`` template with
the input filled in — and judges the single reply against the instance's ``target``:

* ``ifeval``: the reply must be non-empty and follow every instruction in the target (IFEval's strict
  checkers); never aborts.
* ``eqbench``: ``<emotion>: <score>`` lines for exactly the target's emotions (0–10, at least one above 0),
  else aborted; success on an exact match; Main Score is EQ-Bench's full-scale score, which falls below 0 for
  answers far off the reference.
* ``cladder``: the first word of the stripped reply, punctuation removed, must be one of the choices
  (case-insensitive), else aborted; success when it equals the target.
* ``mmlu_pro``: exactly one match of the experiment's (case-sensitive) ``regex_pattern`` naming one of the
  choices, else aborted; success when it is the target letter.
* ``bbh``: any reply is accepted; success when it equals the target exactly.

Replies are stripped of surrounding white space first, as clembench's model backends do before a game sees
them (the recorded replies are the stripped ones).

Main Score is 100 for a success and 0 for a loss (NaN when aborted), except eqbench's.
The events logged after the reply use clembench's names, so transcripts read like clembench's.
"""

from __future__ import annotations

import json
import math
import re
import string
from abc import abstractmethod
from typing import Any, ClassVar, Mapping

from playpen.core.errors import ParseError, PlaypenError
from playpen.core.master import GameMaster, Status

ANSWERER = "Answerer"
INSTRUCTION_FOLLOWER = "InstructionFollower"

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_EMOTION_SCORE = re.compile(r"(\w+):\s+(\d+)")
# EQ-Bench's constant: answering at random scores 0 on average
EQBENCH_ADJUSTMENT = 0.7477
#: the longest one match of an instance file's ``regex_pattern`` against a reply may take (mmlu_pro)
REGEX_SECONDS = 1.0
#: clembench raises the model's token limit to this for ifeval (its experiment's ``max_gen_toks``)
IFEVAL_MAX_TOKENS = 1280


def render(template: str, **values: str) -> str:
    """Fill ``{{name}}`` placeholders as Jinja does for these templates (a single trailing newline of the
    template itself is dropped)."""
    if template.endswith("\n"):
        template = template[:-1]
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), template)


class StaticGameMaster(GameMaster):
    """One prompt, one reply. Subclasses say how the prompt is built, how a reply parses and what wins."""

    roles: ClassVar[tuple[str, ...]] = (ANSWERER,)
    #: the experiment's template placeholder that receives the instance's input; None: the input is the prompt
    placeholder: ClassVar[str | None] = None
    #: experiment fields the task needs, with their types
    experiment_fields: ClassVar[dict[str, type]] = {}
    target_type: ClassVar[type] = str

    @property
    def role(self) -> str:
        return self.roles[0]

    def setup(self) -> None:
        self.target = self.instance["target"]
        self.parsed: Any = None
        if self.placeholder is None:
            prompt = self.instance["input"]
        else:
            prompt = render(self.experiment["initial_prompt"], **{self.placeholder: self.instance["input"]})
        self.set_context(self.role, prompt)

    def advance(self, role: str, move: Any) -> None:
        self.parsed = move
        self.log_target()
        won, event = self.judge(move)
        self.log_event(event, f"game_result = {'WIN' if won else 'LOSE'}")
        if won:
            self.succeed(event)
        else:
            self.lose(event)

    def log_target(self) -> None:
        self.log_event("target", self.target)

    @abstractmethod
    def judge(self, move: Any) -> tuple[bool, str]:
        """(won, clembench's event name for the verdict)."""

    def on_parse_error(self, role: str, error: ParseError) -> None:
        self.log_event("metadata", f"ParseError: {error.reason}")
        self.log_event("invalid format", "game_result = ABORT")
        self.abort(error.reason)

    def main_score(self) -> float:
        return 100 if self.outcome.status is Status.SUCCESS else 0

    @classmethod
    def validate(cls, experiment: Mapping[str, Any], instance: Mapping[str, Any], source: str) -> None:
        """Raise PlaypenError saying what an instance file lacks for this task."""
        where = f"{source}: {cls.name} experiment '{experiment.get('name')}'"
        for name, kind in cls.experiment_fields.items():
            if not isinstance(experiment.get(name), kind):
                raise PlaypenError(f"{where} needs '{name}' ({kind.__name__}); is this a clembench {cls.name} "
                                   f"instances.json?")
        if cls.placeholder is not None and cls.placeholder not in _PLACEHOLDER.findall(experiment["initial_prompt"]):
            raise PlaypenError(f"{where}: 'initial_prompt' has no {{{{{cls.placeholder}}}}} placeholder")
        game_id = instance.get("game_id")
        if not isinstance(instance.get("input"), str):
            raise PlaypenError(f"{where}, instance {game_id}: 'input' must be the prompt text")
        if not isinstance(instance.get("target"), cls.target_type):
            raise PlaypenError(f"{where}, instance {game_id}: 'target' must be a {cls.target_type.__name__}")


class IFEvalGameMaster(StaticGameMaster):
    name = "ifeval"
    roles = (INSTRUCTION_FOLLOWER,)
    target_type = dict

    def parse(self, role: str, response: str) -> str:
        return response.strip()  # IFEval judges any reply (stripped, as clembench's backends hand it over)

    def judge(self, move: str) -> tuple[bool, str]:
        from playpen.games.static.ifeval_checks import follows_all

        followed = bool(move.strip()) and follows_all(move, self.target)
        return followed, "followed all instructions" if followed else "followed not all instructions"

    @classmethod
    def validate(cls, experiment: Mapping[str, Any], instance: Mapping[str, Any], source: str) -> None:
        """Every target is an IFEval instruction id with its arguments, which its checker accepts (a bad one
        would otherwise fail inside every episode)."""
        super().validate(experiment, instance, source)
        from playpen.games.static.ifeval_checks import check_instruction

        where = f"{source}: ifeval experiment '{experiment.get('name')}', instance {instance.get('game_id')}"
        for instruction_id, arguments in instance["target"].items():
            if not isinstance(arguments, dict):
                raise PlaypenError(f"{where}: the target's '{instruction_id}' must hold the instruction's arguments "
                                   f"(an object), not {arguments!r}; is this a clembench ifeval instances.json?")
            check_instruction(instruction_id, arguments, where)


def emotion_lines(scores: Mapping[str, int]) -> str:
    return "\n".join(f"{emotion}: {score}" for emotion, score in scores.items())


class EQBenchGameMaster(StaticGameMaster):
    name = "eqbench"
    target_type = dict

    def parse(self, role: str, response: str) -> dict[str, int]:
        found = dict(_EMOTION_SCORE.findall(response))
        expected = self.target
        if not found:
            raise ParseError("the reply has no '<emotion>: <score>' lines", response=response)
        if len(found) != len(expected):
            raise ParseError(f"{len(found)} emotions scored, the expected format lists {len(expected)}",
                             response=response)
        if any(emotion not in found for emotion in expected):
            raise ParseError(f"the emotions {', '.join(found)} are not the expected {', '.join(expected)}",
                             response=response)
        scores = {emotion: int(value) for emotion, value in found.items()}
        if not any(score > 0 for score in scores.values()):
            raise ParseError("at least one score must be greater than 0", response=response)
        out_of_range = [f"{emotion}: {score}" for emotion, score in scores.items() if not 0 <= score <= 10]
        if out_of_range:
            raise ParseError(f"scores must be 0 to 10: {', '.join(out_of_range)}", response=response)
        self.log_event("parsed", emotion_lines(scores))
        return scores

    def log_target(self) -> None:
        self.log_event("target", emotion_lines(self.target))

    def judge(self, move: dict[str, int]) -> tuple[bool, str]:
        exact = move == self.target
        return exact, "exact match" if exact else "not exact match"

    def main_score(self) -> float:
        """EQ-Bench's full-scale score: per emotion the distance to the reference, S-shaped up to 5."""
        tally = 0.0
        for emotion, score in self.parsed.items():
            distance = abs(float(score) - float(self.target[emotion]))
            if distance == 0:
                continue
            tally += 6.5 / (1 + math.e ** (-1.2 * (distance - 4))) if distance <= 5 else distance
        return (10 - tally * EQBENCH_ADJUSTMENT) * 10

    def main_score_bounds(self) -> tuple[float, float]:
        return (10 - 10 * len(self.target) * EQBENCH_ADJUSTMENT) * 10, 100.0

    @classmethod
    def validate(cls, experiment: Mapping[str, Any], instance: Mapping[str, Any], source: str) -> None:
        """The target scores emotions (names to whole numbers 0 to 10), as EQ-Bench's reference answers do."""
        super().validate(experiment, instance, source)
        target = instance["target"]
        if not target or not all(isinstance(e, str) and isinstance(v, int) and not isinstance(v, bool)
                                 and 0 <= v <= 10 for e, v in target.items()):
            raise PlaypenError(f"{source}: eqbench experiment '{experiment.get('name')}', instance "
                               f"{instance.get('game_id')}: 'target' must score emotions from 0 to 10 "
                               f"({json.dumps(target, default=str)[:80]}); is this a clembench eqbench instances.json?")


class CLadderGameMaster(StaticGameMaster):
    name = "cladder"
    placeholder = "prompt"
    experiment_fields = {"initial_prompt": str, "choices": list}

    def parse(self, role: str, response: str) -> str:
        choices = self.experiment["choices"]
        words = response.split()
        if not words:
            raise ParseError(f"the reply is empty, it must start with one of {choices}", response=response)
        first = words[0].translate(str.maketrans("", "", string.punctuation))
        if first.lower() not in choices:
            raise ParseError(f"the reply starts with '{first}', not one of {choices}", response=response)
        self.log_event("parsed", first)
        return first

    def judge(self, move: str) -> tuple[bool, str]:
        correct = move.lower() == self.target.lower()
        return correct, "correct label" if correct else "wrong label"


class MMLUProGameMaster(StaticGameMaster):
    name = "mmlu_pro"
    placeholder = "input"
    experiment_fields = {"initial_prompt": str, "choices": list, "regex_pattern": str}

    def parse(self, role: str, response: str) -> str:
        import regex

        pattern = self.experiment["regex_pattern"]
        try:  # the pattern comes from the instance file: a catastrophic one must not hang the run
            answers = regex.findall(pattern, response, timeout=REGEX_SECONDS)
        except TimeoutError:
            raise PlaypenError(f"mmlu_pro experiment '{self.experiment.get('name')}': its regex_pattern {pattern!r} "
                               f"took more than {REGEX_SECONDS:g} s on a reply of {len(response)} characters; fix "
                               "the pattern in the instance file") from None
        if not answers:
            raise ParseError("the reply gives no answer in the expected format", response=response)
        if len(answers) > 1:
            raise ParseError(f"the reply gives {len(answers)} answers, the format asks for one", response=response)
        answer = answers[0]
        if answer not in self.experiment["choices"]:
            raise ParseError(f"'{answer}' is none of the answer letters {self.experiment['choices']}",
                             response=response)
        self.log_event("parsed", answer)
        return answer

    def judge(self, move: str) -> tuple[bool, str]:
        correct = move == self.target
        return correct, "correct answer" if correct else "wrong answer"

    @classmethod
    def validate(cls, experiment: Mapping[str, Any], instance: Mapping[str, Any], source: str) -> None:
        super().validate(experiment, instance, source)
        import regex

        try:
            regex.compile(experiment["regex_pattern"])
        except regex.error as error:
            raise PlaypenError(f"{source}: mmlu_pro experiment '{experiment.get('name')}': 'regex_pattern' is not a "
                               f"regular expression ({error})") from None


class BBHGameMaster(StaticGameMaster):
    name = "bbh"
    placeholder = "input"
    experiment_fields = {"initial_prompt": str}

    def parse(self, role: str, response: str) -> str:
        return response.strip()  # any reply is an answer (stripped, as clembench's backends hand it over)

    def log_target(self) -> None:
        self.log_event("metadata", f"Target: {self.target}")

    def judge(self, move: str) -> tuple[bool, str]:
        correct = move == self.target
        return correct, "correct answer" if correct else "wrong answer"


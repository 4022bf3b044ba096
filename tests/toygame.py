"""A tiny two-player game used to test the engine, records and tools without depending on a real game.

Player A names a number with ``SAY: <n>``; player B must answer ``ECHO: <n>`` with the same number.
Three correct echoes win; a wrong number loses (rule violation); a missing tag aborts (parse error).
"""

from __future__ import annotations

import random
import re
import zlib
from pathlib import Path

from playpen.core.errors import ParseError, RuleViolation
from playpen.core.master import GameMaster
from playpen.core.registry import GameSpec

SAY = re.compile(r"^SAY:\s*(\d+)$")
ECHO = re.compile(r"^ECHO:\s*(\d+)$")


class EchoGame(GameMaster):
    name = "echo"
    roles = ("Sayer", "Echoer")
    max_requests = 20

    def setup(self) -> None:
        self.said: str | None = None
        self.echoes = 0
        self.set_context("Sayer", f"Say a number with SAY: <n>. Round limit {self.experiment['rounds']}.")

    def parse(self, role: str, response: str) -> str:
        match = (SAY if role == "Sayer" else ECHO).match(response.strip())
        if not match:
            raise ParseError(f"{role} reply lacks its tag")
        return match.group(1)

    def advance(self, role: str, number: str) -> None:
        if role == "Sayer":
            self.said = number
            self.set_context("Echoer", f"The number is {number}. Answer ECHO: <n>.")
            return
        if number != self.said:
            raise RuleViolation(f"echoed {number}, expected {self.said}")
        self.echoes += 1
        self.log_round_score("Correct", 1)
        if self.echoes == self.experiment["rounds"]:
            self.succeed("all echoes right")
        else:
            self.set_context("Sayer", "Correct. Say another number.")

    def main_score(self) -> float:
        return 100.0 * self.echoes / self.experiment["rounds"]

    def episode_metrics(self) -> dict:
        return {"Echoes": self.echoes}


def scripted(role, skill, experiment, instance, seed):
    rng = random.Random(seed)

    def policy(messages):
        last = messages[-1]["content"]
        if role == "Sayer":
            return f"SAY: {rng.randint(0, 99)}"
        number = re.search(r"The number is (\d+)", last).group(1)
        return f"ECHO: {number if skill == 'competent' else int(number) + 1}"

    return policy


def instances(n: int = 3) -> dict:
    return {"experiments": [{"name": "three", "rounds": 3,
                             "game_instances": [{"game_id": i} for i in range(n)]}]}


SPEC = GameSpec(name="echo", master=EchoGame, description="echo numbers", domain="in",
                instances_dir=Path("/nonexistent"), scripted=scripted)


class ToyModel:
    """A Model answering with the toy game's scripted players; records the batch sizes it saw."""

    def __new__(cls, *args, **kwargs):
        from playpen.models.base import GenerationResult, Model

        class _ToyModel(Model):
            batched = True

            def __init__(self, skill="competent", fail_episodes=(), context_fail_episodes=()):
                super().__init__()
                self.name = f"toy-{skill}"
                self.skill = skill
                self.fail_episodes = set(fail_episodes)
                self.context_fail_episodes = set(context_fail_episodes)
                self.policies = {}
                self.batch_sizes = []

            def generate(self, requests):
                self.batch_sizes.append(len(requests))
                results = []
                for request in requests:
                    if request.episode in self.fail_episodes:
                        results.append(GenerationResult(error="server said 503", error_kind="backend"))
                        continue
                    if request.episode in self.context_fail_episodes:
                        results.append(GenerationResult(error="prompt of 9000 tokens", error_kind="context"))
                        continue
                    key = (request.episode, request.role)
                    if key not in self.policies:
                        self.policies[key] = scripted(request.role, self.skill, request.experiment,
                                                      request.instance, zlib.crc32(request.episode.encode()))
                    results.append(GenerationResult(text=self.policies[key](request.messages)))
                return results

        return _ToyModel(*args, **kwargs)

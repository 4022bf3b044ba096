"""Scripted players for the static tasks: they read the answer from the instance (tests and the checker).

Competent: the target in the task's answer format (ifeval: a reply that follows no instruction in
particular, so it usually loses). Bad: a wrong choice, a scrambled score, or a reply out of format.
"""

from __future__ import annotations

import random
from typing import Any, Mapping

from playpen.core.messages import Policy
from playpen.games.static.master import emotion_lines


DONT_KNOW = "I don't know"


def _answer(game: str, experiment: Mapping[str, Any], target: Any, rng: random.Random, competent: bool) -> str:
    if game == "eqbench":
        scores = dict(target)
        if not competent:
            emotion = rng.choice(sorted(scores))
            scores[emotion] = (scores[emotion] + rng.randint(1, 10)) % 11
        return emotion_lines(scores)
    if game in ("cladder", "mmlu_pro"):
        choices = list(experiment["choices"])
        wrong = [c for c in choices if c.lower() != str(target).lower()]
        answer = target if competent or not wrong else rng.choice(wrong)
        return f"The answer is ({answer})" if game == "mmlu_pro" else f"{answer.capitalize()}, because of the data."
    if game == "bbh":
        return target if competent else DONT_KNOW
    return DONT_KNOW  # ifeval


def scripted_for(game: str):
    def scripted(role: str, skill: str, experiment: Mapping[str, Any], instance: Mapping[str, Any],
                 seed: int) -> Policy:
        rng = random.Random(seed)
        competent = skill == "competent"

        def policy(messages: list[dict[str, str]]) -> str:
            if not competent and rng.random() < 0.3:
                return DONT_KNOW  # out of format for every task but ifeval and bbh
            return _answer(game, experiment, instance["target"], rng, competent)

        return policy

    return scripted

"""Scripted answerers for privateshared.

The competent answerer gives the requested slot value and answers every probe from what it has said so
far; the bad one forgets values, guesses on probes and now and then breaks the reply format.
"""

from __future__ import annotations

import random
from typing import Any, Mapping

from playpen.core.messages import Policy
from playpen.games.privateshared import prompts
from playpen.games.privateshared.master import ANSWERER


def scripted(role: str, skill: str, experiment: Mapping[str, Any], instance: Mapping[str, Any], seed: int) -> Policy:
    if role != ANSWERER:
        raise ValueError(f"privateshared has no scripted role {role!r}")
    scene = prompts.scenario(experiment.get("name", ""))
    slots: dict[str, str] = dict(instance["slots"])
    order: list[str] = list(instance["request_order"])
    bad = skill == "bad"

    def policy(messages: list[dict[str, str]]) -> str:
        asked = messages[-1]["content"]
        said = [m["content"] for m in messages[:-1] if m["role"] == "assistant"]
        # probes are forgotten, so the round's probes share a history: seed with the probe text too
        rng = random.Random(f"{seed}|{len(messages)}|{asked}")
        slot = prompts.probed_slot(scene, list(slots), asked)
        if slot is not None:
            told = any(slots[slot].lower() in text.lower() for text in said)
            if bad and rng.random() < 0.1:
                return "Yes." if told else "No."
            if bad and rng.random() < 0.35:
                told = not told
            return f"{prompts.ASIDE_TAG} {'yes' if told else 'no'}"
        if f"{instance['tag']}:" not in asked:
            return "Ok."  # the instructions alone (clembench HEAD's acknowledgement turn)
        answered = sum(text.startswith(prompts.ANSWER_TAG) for text in said)
        value = slots[order[min(answered, len(order) - 1)]]
        if bad:
            draw = rng.random()
            if draw < 0.05:
                return f"{prompts.ANSWER_TAG} {value}.\n{prompts.ASIDE_TAG} That is all."
            if draw < 0.3:
                return f"{prompts.ANSWER_TAG} Let me think about that for a moment."
        return f"{prompts.ANSWER_TAG} {value}."

    return policy

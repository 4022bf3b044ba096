"""Scripted hot_air_balloon players.

Competent: each knows its own values (from its prompt's instance) and the weights. Player 1 proposes its best set
within the limit. A player shown a proposal agrees when the set is within the limit and worth at least half of its
own best value to it (from its third reply on: any set within the limit); otherwise it refuses it and proposes
its own best set. Every reply opens with a strategic
reasoning and carries an argument, as the rules ask.

Bad: forgets the strategic reasoning or the argument, writes outside the tags, proposes unknown items or agrees to
sets nobody proposed.

A policy is a pure function of the messages it sees and its seed.
"""

from __future__ import annotations

import ast
import random
import re
from typing import Any, Mapping

from playpen.core.messages import Policy
from playpen.games.hot_air_balloon.master import HotAirBalloonMaster
from playpen.games.hot_air_balloon.rules import best_value

_PROPOSAL = re.compile(r"PROPOSAL:\s*(\{[^{}\n]*\})")


def _set(items) -> str:
    return "{" + ", ".join(repr(item) for item in sorted(items)) + "}"


def last_proposal(text: str) -> set[str] | None:
    found = _PROPOSAL.findall(text)
    if not found:
        return None
    try:
        value = ast.literal_eval(found[-1])
    except (ValueError, SyntaxError):
        return None
    # a prompt's example (``{'A01', 'B02', ...}``) holds an Ellipsis: not a proposal
    return set(value) if isinstance(value, set) and all(isinstance(item, str) for item in value) else None


def _competent(role: str, instance: Mapping[str, Any]) -> Policy:
    values = instance["player1_preferences" if role == HotAirBalloonMaster.roles[0] else "player2_preferences"]
    weights, limit = instance["item_weights"], instance["max_weight"]
    best, chosen = best_value(weights, values, limit)

    def policy(messages: list[dict[str, str]]) -> str:
        offered = last_proposal(messages[-1]["content"]) if len(messages) > 1 or role != HotAirBalloonMaster.roles[0] else None
        reasoning = "STRATEGIC REASONING: {'I weigh the open proposal against my own best set.'}"
        patient = sum(m["role"] == "assistant" for m in messages) < 2  # later on, any feasible deal will do
        if offered is not None and offered <= set(weights) and sum(weights[i] for i in offered) <= limit \
                and (2 * sum(values[i] for i in offered) >= best or not patient):
            return f"{reasoning}\nARGUMENT: {{'This set works for me.'}}\nAGREE: {_set(offered)}"
        refusal = f"\nREFUSE: {_set(offered)}" if offered is not None else ""
        return (f"{reasoning}{refusal}\nPROPOSAL: {_set(chosen)}\n"
                f"ARGUMENT: {{'These items fit within the limit and matter most.'}}")

    return policy


def _bad(instance: Mapping[str, Any], seed: int) -> Policy:
    items = sorted(instance["item_weights"])

    def policy(messages: list[dict[str, str]]) -> str:
        rng = random.Random(f"{seed}-{len(messages)}")
        some = _set(rng.sample(items, max(1, len(items) // 2)))
        roll = rng.random()
        if roll < 0.2:
            return f"PROPOSAL: {some}\nARGUMENT: {{'take it'}}"
        if roll < 0.35:
            return f"STRATEGIC REASONING: {{'hm'}}\nLet's just keep everything!\nPROPOSAL: {some}"
        if roll < 0.5:
            return "STRATEGIC REASONING: {'hm'}\nPROPOSAL: {'balloon', 'sandbags'}\nARGUMENT: {'light'}"
        if roll < 0.7:
            return f"STRATEGIC REASONING: {{'hm'}}\nARGUMENT: {{'deal'}}\nAGREE: {some}"
        return f"STRATEGIC REASONING: {{'hm'}}\nPROPOSAL: {_set(items)}\nARGUMENT: {{'all of it'}}"

    return policy


def scripted(role: str, skill: str, experiment: Mapping[str, Any], instance: Mapping[str, Any], seed: int) -> Policy:
    if role not in HotAirBalloonMaster.roles:
        raise ValueError(f"hot_air_balloon has no role '{role}' (roles: {', '.join(HotAirBalloonMaster.roles)})")
    if skill == "competent":
        return _competent(role, instance)
    if skill == "bad":
        return _bad(instance, seed)
    raise ValueError(f"unknown skill '{skill}' (competent, bad)")

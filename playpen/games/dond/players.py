"""Scripted dond players.

Competent: in round 0 each tells the other its values (``VALUES book=3 hat=0 ...``); in round 1 Player 1 proposes to
take every item type it values more than Player 2 does, and Player 2, asked for its proposal, takes the rest. The
split gives every item to the player who values it more: the best sum of points, and Pareto-optimal.

Bad: talks vaguely, writes proposals in its own format, asks for everything, or keeps talking after a proposal.

A policy is a pure function of the messages it sees and its seed.
"""

from __future__ import annotations

import random
import re
from typing import Any, Mapping

from playpen.core.messages import Policy
from playpen.games.dond.master import PREFIXES, DondMaster

_VALUES = re.compile(r"VALUES((?: \S+=\d+)+)")


def partner_values(messages: list[dict[str, str]]) -> dict[str, int] | None:
    for message in reversed(messages):
        found = _VALUES.findall(message["content"]) if message["role"] == "user" else []
        if found:
            return {name: int(value) for name, value in (pair.split("=") for pair in found[-1].split())}
    return None


def proposal(experiment: Mapping[str, Any], instance: Mapping[str, Any], counts: list[int]) -> str:
    prefix = PREFIXES[experiment["language"]].rstrip(":").capitalize()
    parts = [f"{count} {single if count == 1 else plural}" for count, single, plural
             in zip(counts, instance["item_types"], instance["item_types_plural"])]
    return f"[{prefix}: {', '.join(parts)}]"


def _competent(role: str, experiment: Mapping[str, Any], instance: Mapping[str, Any]) -> Policy:
    first = role == DondMaster.roles[0]
    types, counts = instance["item_types"], instance["item_counts"]
    mine = instance["player_a_values" if first else "player_b_values"]

    def policy(messages: list[dict[str, str]]) -> str:
        theirs = partner_values(messages)
        if theirs is None or (first and len(messages) == 1) or (not first and len(messages) == 1):
            return "VALUES " + " ".join(f"{kind}={value}" for kind, value in zip(types, mine))
        keep = [count if (mine[i] > theirs.get(kind, 0) if first else mine[i] >= theirs.get(kind, 0)) else 0
                for i, (kind, count) in enumerate(zip(types, counts))]
        return proposal(experiment, instance, keep)

    return policy


def _bad(experiment: Mapping[str, Any], instance: Mapping[str, Any], seed: int) -> Policy:
    def policy(messages: list[dict[str, str]]) -> str:
        rng = random.Random(f"{seed}-{len(messages)}")
        roll = rng.random()
        if roll < 0.3:
            return "I would like most of the things, what about you?"
        if roll < 0.5:
            return "[I want everything]"
        if roll < 0.8:
            return proposal(experiment, instance, list(instance["item_counts"]))
        return proposal(experiment, instance, [rng.randint(0, c) for c in instance["item_counts"]])

    return policy


def scripted(role: str, skill: str, experiment: Mapping[str, Any], instance: Mapping[str, Any], seed: int) -> Policy:
    if role not in DondMaster.roles:
        raise ValueError(f"dond has no role '{role}' (roles: {', '.join(DondMaster.roles)})")
    if skill == "competent":
        return _competent(role, experiment, instance)
    if skill == "bad":
        return _bad(experiment, instance, seed)
    raise ValueError(f"unknown skill '{skill}' (competent, bad)")

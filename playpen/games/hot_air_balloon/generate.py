"""Seeded hot_air_balloon instances in clembench v3.0's format, with our own prompt texts.

Experiments: ``equal`` (both players value the items the same) and ``independent`` (each has its own values), with
10 (easy) or 13 (hard) items; weights and values are drawn from 1–1000 and the limit is half the total weight, as in
clembench. The optima are exact: each player's best value within the limit (knapsack) and the best harmonic mean of
both normalised utilities (every subset, hence the small item counts). Item names are a letter and two digits; each split draws its names from
its own letters (train A–P, validation Q–T, test U–Z), so no item set is shared between splits.

Run ``playpen generate -g hot_air_balloon`` to rewrite ``in/{train,validation,test}.json``.
"""

from __future__ import annotations

import json
import random

from playpen.games.hot_air_balloon.rules import best_harmonic, best_value

LETTERS = {"train": "ABCDEFGHIJKLMNOP", "validation": "QRST", "test": "UVWXYZ"}
PER_EXPERIMENT = {"train": 20, "validation": 3, "test": 5}
SIZES = {"easy": 10, "hard": 13}
MODES = ("equal", "independent")
PATIENCE = 2
EMPTY_TURN_LIMIT = 15

#: the tag patterns (a format, the same as clembench's English ones)
TAGS = {
    "agree_tag": r"AGREE:\s*\{.*?\}",
    "refusal_tag": r"REFUSE:\s*\{.*?\}",
    "proposal_tag": r"PROPOSAL:\s*\{.*?\}",
    "argument_tag": r"ARGUMENT:\s*\{(?:[^{}]|\{[^{}]*\})*\}",
    "strategic_reasoning_tag": r"^\s*STRATEGIC REASONING:\s*\{(?:[^{}]|\{[^{}]*\})*\}",
}
ERROR_PROMPTS = {
    "no_sr_prompt": "Your reply must begin with your hidden reasoning: STRATEGIC REASONING: {...}. Please send it again.",
    "no_argument_prompt": "Your reply needs an ARGUMENT: {...} somewhere. Please send it again.",
    "untagged_sequence_prompt": "Your reply holds text outside the tags, or more than one STRATEGIC REASONING. Use "
                                "only TAG: {...} blocks. Please send it again.",
    "only_sr_prompt": "Your reply holds only your hidden reasoning, so your partner would get nothing. Add at least "
                      "one more tag. Please send it again.",
    "invalid_python_set_error": "A PROPOSAL, REFUSE or AGREE must be followed by a Python set of item names, such "
                                "as {'A01', 'B02'}. Please send it again.",
    "proposal_error_prompt": "Your proposal names items that are not in this game. Please send it again.",
    "refuse_error_prompt": "You refused a set your partner has not proposed (or that is no longer open). Please "
                           "send it again.",
    "agreement_ambiguous_prompt": "You agreed to more than one set; a deal must be a single set. Please send it again.",
    "agreement_non_active_prompt": "You agreed to a set your partner has not proposed (or that is no longer open). "
                                   "Please send it again.",
}
_PROMPT = """\
You and a partner are in a hot air balloon that is too heavy. Together you must decide which items stay on board; \
everything else goes overboard. The items kept may weigh at most LIMIT = {limit} in total.

Weight of each item: {weights}

How much each item is worth to you (your partner values them in their own way, and you do not know how): {values}

Your aim: a deal that is worth as much as possible to you and stays within the limit.

Write your replies only as tagged blocks, each of the form TAG: {{...}}:
STRATEGIC REASONING: {{'...'}} - your hidden thoughts; it must open every reply, exactly once, and your partner \
never sees it.
ARGUMENT: {{'...'}} - a reason for your position; every reply needs one.
PROPOSAL: {{'A01', 'B02', ...}} - a set of items to keep.
REFUSE: {{'A01', 'B02', ...}} - turn down a proposal your partner made.
AGREE: {{'A01', 'B02', ...}} - accept a proposal your partner made; this ends the game with that deal.

You may only refuse or agree to sets your partner has proposed and that are still open. Nothing may stand outside \
the tags.{opening}"""
_P1_OPENING = ""
_P2_OPENING = "\n\nHere is your partner's first message."


def _prompt(weights: dict, values: dict, limit: int, opening: str) -> str:
    return _PROMPT.format(limit=limit, weights=json.dumps(weights), values=json.dumps(values), opening=opening)


def instance(game_id: int, letters: str, size: int, mode: str, rng: random.Random) -> dict:
    names = rng.sample([f"{letter}{number:02d}" for letter in letters for number in range(100)], size)
    weights = {name: rng.randint(1, 1000) for name in names}
    values_1 = {name: rng.randint(1, 1000) for name in names}
    values_2 = dict(values_1) if mode == "equal" else {name: rng.randint(1, 1000) for name in names}
    limit = sum(weights.values()) // 2
    max_1, _ = best_value(weights, values_1, limit)
    max_2, _ = best_value(weights, values_2, limit)
    return {
        "game_id": game_id,
        "negotiation_mode": mode,
        "item_weights": weights,
        "player1_preferences": values_1,
        "player2_preferences": values_2,
        "max_weight": limit,
        "max_u1": max_1,
        "max_u2": max_2,
        "max_total_utility": max_1 + max_2,
        "max_harmonic": best_harmonic(weights, values_1, values_2, limit, max_1, max_2),
        "pareto_optima_sets": [],
        "empty_turn_limit": EMPTY_TURN_LIMIT,
        "patience": PATIENCE,
        "strategic_reasoning": True,
        "require_argument": True,
        **ERROR_PROMPTS,
        "player1_initial_prompt": _prompt(weights, values_1, limit, _P1_OPENING),
        "player2_initial_prompt": _prompt(weights, values_2, limit, _P2_OPENING),
        **TAGS,
    }


def generate(seed: int = 0) -> dict[str, dict]:
    rng = random.Random(f"hot_air_balloon-{seed}")
    splits = {}
    for split in ("train", "validation", "test"):
        experiments = []
        for level, size in SIZES.items():
            for mode in MODES:
                experiments.append({
                    "name": f"hot_air_balloon_en_{mode}_{level}",
                    "game_instances": [instance(i, LETTERS[split], size, mode, rng)
                                       for i in range(PER_EXPERIMENT[split])],
                })
        splits[split] = {"experiments": experiments}
    return splits

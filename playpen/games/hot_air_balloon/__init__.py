"""hot_air_balloon (clembench v3.0; its source folder is ``air_balloon_survival``): two players negotiate which items
stay in an overloaded balloon; each values them differently."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from playpen.core.registry import GameSpec
from playpen.games.hot_air_balloon.master import HotAirBalloonMaster
from playpen.games.hot_air_balloon.players import scripted
from playpen.games.hot_air_balloon.rules import best_value

_JSON_OBJECT = re.compile(r"\{\"[^{}]*\}")
_LIMIT = re.compile(r"LIMIT\s*=\s*(\d+)")


def _generate(seed: int) -> dict[str, dict]:
    from playpen.games.hot_air_balloon.generate import generate

    return generate(seed)


def record_instance(interactions: Mapping[str, Any], messages: Sequence[Any]) -> tuple[dict, dict] | None:
    """clembench's v3.0 hot_air_balloon instance files are not public; its records show everything scoring needs:
    the players' first prompts (used as they are) hold the weights, each player's values and the limit, and say
    whether the experiment asks for strategic reasoning (v3.0's ``reasoning off`` experiments do not). The optima
    are recomputed (each player's knapsack optimum; the best harmonic mean is the record's own ``Max harmonic
    mean``: 1 in the complexity and negotiation sets, the instance's own value in ``reasoning off``) and the tags
    and other rule settings are v3.0's English ones. The reprompts the record shows are taken as the texts of the
    errors our replay finds at the same places (``_recorded_reprompts``); one the record does not show keeps our
    wording (it changes no score). A record in which only Player 1 played (it ended on Player 1's first turn)
    replays with Player 1's values standing in for Player 2's."""
    from playpen.games.hot_air_balloon.generate import EMPTY_TURN_LIMIT, ERROR_PROMPTS, PATIENCE, TAGS

    first = {}
    replies: list[str] = []
    for message in messages:
        if not message.reply and message.player not in first:
            first[message.player] = message.text
        elif message.reply and "Player 2" not in first:
            replies.append(message.text)
    if "Player 1" not in first or not replies:
        return None
    p1_prompt, p2_prompt = first["Player 1"], ""
    if "Player 2" in first:
        p2_text = first["Player 2"]
        opening = re.sub(re.compile(TAGS["strategic_reasoning_tag"], re.DOTALL), "", replies[-1]).strip()
        if not p2_text.endswith("\n\n" + opening):
            return None
        p2_prompt = p2_text[: -len(opening) - 2]
    # Player 1 ended the episode alone (aborted or lost on its first turn): Player 2's values, never shown, are
    # read by no score of such an episode; its own stand in for them
    objects_1 = _JSON_OBJECT.findall(p1_prompt)
    objects_2 = _JSON_OBJECT.findall(p2_prompt) if p2_prompt else objects_1
    limit = _LIMIT.search(p1_prompt)
    if len(objects_1) < 2 or len(objects_2) < 2 or limit is None:
        return None
    weights, values_1, values_2 = json.loads(objects_1[0]), json.loads(objects_1[1]), json.loads(objects_2[1])
    max_weight = int(limit.group(1))
    max_1, _ = best_value(weights, values_1, max_weight)
    max_2, _ = best_value(weights, values_2, max_weight)
    recorded_harmonic = interactions.get("Max harmonic mean")
    instance = {
        "game_id": (interactions.get("meta") or {}).get("game_id", 0),
        "negotiation_mode": "equal" if values_1 == values_2 else "independent",
        "item_weights": weights, "player1_preferences": values_1, "player2_preferences": values_2,
        "max_weight": max_weight, "max_u1": max_1, "max_u2": max_2, "max_total_utility": max_1 + max_2,
        "max_harmonic": recorded_harmonic if isinstance(recorded_harmonic, (int, float)) else 1,
        "pareto_optima_sets": [], "empty_turn_limit": EMPTY_TURN_LIMIT, "patience": PATIENCE,
        "strategic_reasoning": "STRATEGIC REASONING" in p1_prompt, "require_argument": True, **ERROR_PROMPTS,
        "player1_initial_prompt": p1_prompt, "player2_initial_prompt": p2_prompt, **TAGS,
    }
    experiment = {"name": (interactions.get("meta") or {}).get("experiment_name", "")}
    return experiment, {**instance, **_recorded_reprompts(experiment, instance, messages)}


def _recorded_reprompts(experiment: dict, instance: dict, messages: Sequence[Any]) -> dict[str, str]:
    """Error prompt key -> the text the record shows for it. A reprompt is a message to the player who has just
    replied; replaying the recorded replies with each key as its own text says which error each one answers (per
    player, in order). Nothing is taken when the counts differ or a key would get two texts."""
    from playpen.games.hot_air_balloon.generate import ERROR_PROMPTS

    master = HotAirBalloonMaster(experiment, {**instance, **{key: key for key in ERROR_PROMPTS}})
    recorded: dict[str, list[str]] = {}
    for before, message in zip(messages, messages[1:]):
        if message.reply:
            if not master.done:
                master.step(message.text)
        elif before.reply and before.player == message.player:
            recorded.setdefault(message.player, []).append(message.text)
    texts: dict[str, str] = {}
    for role in HotAirBalloonMaster.roles:
        keys = [m["content"] for m in master.messages_for(role) if m["content"] in ERROR_PROMPTS]
        if len(keys) != len(recorded.get(role, [])):
            return {}
        for key, text in zip(keys, recorded.get(role, [])):
            if texts.setdefault(key, text) != text:
                return {}
    return texts


GAMES = {
    "hot_air_balloon": GameSpec(
        name="hot_air_balloon",
        master=HotAirBalloonMaster,
        description="Two players with different item values agree on which items to keep within a weight limit. "
                    "Main Score: the deal's normalised harmonic mean of both utilities.",
        domain="out",  # not in the paper's split (v3.0 game): held out by default
        protocol_markers=("STRATEGIC REASONING: {'x'}",
                          "STRATEGIC REASONING: {'x'}\nPROPOSAL: {'A1'}\nARGUMENT: {'ok'}",
                          "STRATEGIC REASONING: {'x'}\nAGREE: {'A1'}", "PROPOSAL: {1: 2}", "REFUSE: {}", "ARGUMENT: {"),
        instances_dir=Path(__file__).parent / "in",
        scripted=scripted,
        generate=_generate,
        record_instance=record_instance,
        info={
            "clembench_version": "3.0 (source folder air_balloon_survival)",
            "instances": "generated by playpen.games.hot_air_balloon.generate (our wording); clembench's "
                         "air_balloon_survival/in/instances_*.json play as they are with -i",
        },
    )
}

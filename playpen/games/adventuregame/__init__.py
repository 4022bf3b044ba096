"""adventuregame: clembench v2.0's interactive-fiction game (home deliveries of three objects)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from playpen.core.registry import GameSpec
from playpen.games.adventuregame.generate import generate
from playpen.games.adventuregame.master import NAN_WHEN_ABORTED, AdventureGameMaster
from playpen.games.adventuregame.players import scripted


def replay_instance(instance: Mapping[str, Any], interactions: Mapping[str, Any]) -> dict:
    """Records made with clemcore 3 or later were scored by clembench's later scorer, which gives aborted
    episodes a NaN Main Score; v2.0 (clemcore 2.x) scored them. Replay such records with that behaviour."""
    version = str(interactions.get("meta", {}).get("clem_version") or "")
    major = version.split(".")[0]
    replayed = dict(instance)
    if major.isdigit() and int(major) >= 3:
        replayed[NAN_WHEN_ABORTED] = True
    return replayed


GAMES = {
    "adventuregame": GameSpec(
        name="adventuregame",
        master=AdventureGameMaster,
        description="Interactive fiction: deliver three objects to their places in a six-room home by typing "
        "'>' commands to a PDDL-style interpreter (basic and planning variants, optional inventory limit).",
        domain="out",
        protocol_markers=("> take everything", "> done", ">", "> open the cupboard\nNext actions: take plate, done"),
        instances_dir=Path(__file__).parent / "in",
        scripted=scripted,
        generate=generate,
        replay_instance=replay_instance,
        benchmark_flags={"3.0": {NAN_WHEN_ABORTED: True}},
        info={
            "clembench_version": "2.0",
            "instances": "our seeded generator: random placement in the six rooms, optimal plans by breadth-first "
            "search; official clembench instance files load as they are",
            "offline_resources": "definitions/*.json (rooms, entity types, actions; written for playpen)",
        },
    )
}

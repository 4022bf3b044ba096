"""The definition tables of the home adventures (rooms, entity types, actions), loaded once from package data.

clembench instances name their definition files (``basic_actions_v2.json``, ``home_rooms.json``, ...). We ship
our own files with the same facts and map every official name to them (:data:`OFFICIAL_FILES`), so official and
generated instances take one code path. Everything here is immutable and shared by all episodes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

#: official clembench definition file -> (our file, what it contributes)
OFFICIAL_FILES: dict[str, tuple[str, str]] = {
    "basic_actions_v2.json": ("home_actions.json", "actions"),
    "basic_actions_v2_invlimit.json": ("home_actions.json", "actions with an inventory limit"),
    "home_rooms.json": ("home_rooms.json", "rooms"),
    "home_entities.json": ("home_entities.json", "entities"),
    "home_domain.json": ("home_entities.json", "type hierarchy"),
    "home_domain_invlimit.json": ("home_entities.json", "type hierarchy with an item count"),
}
LIMITED_ACTION_FILES = frozenset({"basic_actions_v2_invlimit.json"})

INVENTORY = "inventory"
PLAYER = "player1"


@dataclass(frozen=True)
class Action:
    name: str
    verbs: tuple[str, ...]
    epistemic: bool
    pragmatic: bool
    #: (variable, required type, sources in order of preference)
    params: tuple[tuple[str, str, tuple[str, ...]], ...]
    wrong_type: tuple[str, ...]
    pre: tuple[Mapping[str, Any], ...]
    effect: tuple[Mapping[str, Any], ...]
    success: str


@dataclass(frozen=True)
class Definitions:
    """One consistent set of tables: rooms, entities, the type hierarchy and the actions."""

    room_labels: Mapping[str, str]  # room type -> surface string
    room_types: Mapping[str, Mapping[str, Any]]
    entity_labels: Mapping[str, str]  # entity type -> surface string
    entity_types: Mapping[str, Mapping[str, Any]]
    label_to_type: Mapping[str, str]  # surface string -> room or entity type
    supertypes: Mapping[str, frozenset[str]]
    actions: Mapping[str, Action]
    inventory_capacity: int | None
    adjectives: frozenset[str]

    def __deepcopy__(self, memo) -> "Definitions":  # immutable and shared
        return self

    def label(self, type_name: str) -> str:
        return self.entity_labels.get(type_name) or self.room_labels.get(type_name) or type_name

    def type_matches(self, type_name: str, required: str) -> bool:
        return type_name == required or required in self.supertypes.get(type_name, ())


def _load(name: str) -> Any:
    return json.loads(resources.files(__package__).joinpath("definitions").joinpath(name).read_text(encoding="utf-8"))


def _action(entry: Mapping[str, Any], override: Mapping[str, Any] | None) -> Action:
    entry = {**entry, **(override or {})}
    return Action(
        name=entry["name"],
        verbs=tuple(entry["verbs"]),
        epistemic=entry["epistemic"],
        pragmatic=entry["pragmatic"],
        params=tuple((p[0], p[1], tuple(p[2:])) for p in entry["params"]),
        wrong_type=tuple(entry["wrong_type"]),
        pre=tuple(entry["pre"]),
        effect=tuple(entry["effect"]),
        success=entry["success"],
    )


@lru_cache(maxsize=None)
def definitions(inventory_limit: bool) -> Definitions:
    rooms = _load("home_rooms.json")["rooms"]
    entities = _load("home_entities.json")["entities"]
    action_file = _load("home_actions.json")
    limit = action_file["inventory_limit"] if inventory_limit else {}
    actions = {a["name"]: _action(a, limit.get(a["name"])) for a in action_file["actions"]}

    supertypes: dict[str, set[str]] = {}
    for room in rooms:
        supertypes.setdefault(room["type"], set()).add("room")
    for entity in entities:
        supers = supertypes.setdefault(entity["type"], set())
        supers.add("entity")
        supers.update(entity["traits"])
        if entity.get("receptacle"):
            supers.add("receptacle")
    label_to_type = {e["label"]: e["type"] for e in entities}
    label_to_type.update({r["label"]: r["type"] for r in rooms})
    return Definitions(
        room_labels={r["type"]: r["label"] for r in rooms},
        room_types={r["type"]: r for r in rooms},
        entity_labels={e["type"]: e["label"] for e in entities},
        entity_types={e["type"]: e for e in entities},
        label_to_type=label_to_type,
        supertypes={k: frozenset(v) for k, v in supertypes.items()},
        actions=actions,
        inventory_capacity=action_file["inventory_limit"]["capacity"] if inventory_limit else None,
        adjectives=frozenset(a for e in entities for a in e.get("adjectives", ())),
    )


def definitions_for(instance: Mapping[str, Any]) -> Definitions:
    """The tables an instance asks for through its definition file names (official or ours)."""
    names = list(instance.get("action_definitions") or ["basic_actions_v2.json"])
    for key in ("room_definitions", "entity_definitions", "domain_definitions"):
        names += instance.get(key) or []
    unknown = [n for n in names if not isinstance(n, str) or n not in OFFICIAL_FILES]
    if unknown:
        raise ValueError(f"adventuregame: unknown definition file(s) {unknown}; known: {sorted(OFFICIAL_FILES)}")
    return definitions(any(n in LIMITED_ACTION_FILES for n in names))

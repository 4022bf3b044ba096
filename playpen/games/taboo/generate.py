"""Seeded taboo instance generator: ``python -m playpen.games.taboo.generate`` writes
``in/{train,validation,test}.json``.

Experiments as in clembench v2.0 (``high_en``, ``medium_en``, ``low_en``, three rounds each); the target words
come from our curated list (``data/targets.json``), one frequency band per experiment. Every target is used in
at most one split, so the splits are disjoint. The curated words that none of train/validation/test uses form
the ``heldout`` split (a larger held-out evaluation that no recipe trains or selects on).
"""

from __future__ import annotations

import random
from typing import Any

from playpen.games.taboo.master import DEFAULT_MAX_TURNS
from playpen.games.taboo.stemmer import stem
from playpen.games.taboo.targets import TargetEntry, load_targets

EXPERIMENTS = (("high_en", "high"), ("medium_en", "medium"), ("low_en", "low"))
#: instances per experiment and split; test has clembench v2.0's size
SPLIT_SIZES = {"test": 20, "validation": 4, "train": 100}
#: every curated word of a band that the sized splits leave over
HELDOUT_SPLIT = "heldout"


def instance(game_id: int, entry: TargetEntry) -> dict[str, Any]:
    return {
        "game_id": game_id,
        "target_word": entry.word,
        "related_word": list(entry.related),
        "target_word_stem": stem(entry.word),
        "related_word_stem": [stem(word) for word in entry.related],
    }


def generate(seed: int = 0) -> dict[str, dict[str, Any]]:
    rng = random.Random(f"taboo-{seed}")
    splits: dict[str, dict[str, Any]] = {split: {"experiments": []} for split in (*SPLIT_SIZES, HELDOUT_SPLIT)}
    for name, band in EXPERIMENTS:
        entries = list(load_targets()[band])
        rng.shuffle(entries)
        start = 0
        for split, size in SPLIT_SIZES.items():
            chosen = entries[start:start + size]
            if len(chosen) < size:
                raise ValueError(f"the {band} band has too few target words for {SPLIT_SIZES}")
            start += size
            splits[split]["experiments"].append(experiment(name, chosen))
        splits[HELDOUT_SPLIT]["experiments"].append(experiment(name, entries[start:]))
    return splits


def experiment(name: str, entries: list[TargetEntry]) -> dict[str, Any]:
    return {
        "name": name,
        "max_turns": DEFAULT_MAX_TURNS,
        "game_instances": [instance(game_id, entry) for game_id, entry in enumerate(entries)],
    }

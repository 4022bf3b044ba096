"""Seeded instance generator for guesswhat (clembench v2.0 experiments and fields).

Words come from ``words.json``: our own category → subcategory → words lists, one set of concrete words
(Level_1..3) and one of abstract words (Abs_Level_1..3). Every instance has 8 candidates:

* Level 1: 4 categories × 2 subcategories × 1 word;
* Level 2: 2 categories × 2 subcategories × 2 words;
* Level 3: 1 category × 4 subcategories × 2 words.

Every word may be the target in one split only, and no candidate list occurs twice. Our
instances also carry ``candidate_categories`` (word → [category, subcategory]) for the scripted players.

Run ``python -m playpen.games.guesswhat.generate [seed]`` to rewrite ``in/{train,validation,test}.json``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from playpen.games.guesswhat.master import DEFAULTS

WORDS_FILE = Path(__file__).parent / "words.json"
#: instances per experiment; test matches clembench v2.0
SPLIT_SIZES = {"train": 40, "validation": 3, "test": 10}
#: share of each word list whose words may be targets in the split
TARGET_SHARES = {"train": 0.6, "validation": 0.1, "test": 0.3}
#: experiment -> (word list, categories, subcategories per category, words per subcategory)
LEVELS = {
    "Level_1": ("concrete", 4, 2, 1),
    "Level_2": ("concrete", 2, 2, 2),
    "Level_3": ("concrete", 1, 4, 2),
    "Abs_Level_1": ("abstract", 4, 2, 1),
    "Abs_Level_2": ("abstract", 2, 2, 2),
    "Abs_Level_3": ("abstract", 1, 4, 2),
}

Taxonomy = dict[str, dict[str, list[str]]]


def load_words() -> dict[str, Taxonomy]:
    return json.loads(WORDS_FILE.read_text(encoding="utf-8"))


def split_targets(taxonomy: Taxonomy, rng: random.Random) -> dict[str, set[str]]:
    words = sorted(w for subs in taxonomy.values() for ws in subs.values() for w in ws)
    rng.shuffle(words)
    targets, start = {}, 0
    for split, share in TARGET_SHARES.items():
        end = len(words) if split == list(TARGET_SHARES)[-1] else start + round(share * len(words))
        targets[split] = set(words[start:end])
        start = end
    return targets


def draw_board(taxonomy: Taxonomy, shape: tuple[int, int, int], rng: random.Random) -> dict[str, list[str]]:
    """8 candidates in category order, each with its [category, subcategory]."""
    n_categories, n_subcategories, n_words = shape
    board: dict[str, list[str]] = {}
    for category in rng.sample(sorted(taxonomy), n_categories):
        for subcategory in rng.sample(sorted(taxonomy[category]), n_subcategories):
            for word in rng.sample(taxonomy[category][subcategory], n_words):
                board[word] = [category, subcategory]
    return board


def generate(seed: int = 0) -> dict[str, dict]:
    words = load_words()
    rng = random.Random(f"guesswhat-{seed}")
    targets = {kind: split_targets(taxonomy, rng) for kind, taxonomy in sorted(words.items())}
    boards_seen: set[frozenset] = set()  # no candidate list occurs twice, in any split
    splits: dict[str, dict] = {split: {"experiments": []} for split in SPLIT_SIZES}
    for split, size in SPLIT_SIZES.items():
        for name, (kind, *shape) in LEVELS.items():
            rng = random.Random(f"guesswhat-{seed}-{split}-{name}")
            instances: list[dict[str, Any]] = []
            used_targets: set[str] = set()
            while len(instances) < size:
                board = draw_board(words[kind], tuple(shape), rng)
                allowed = [w for w in board if w in targets[kind][split] and w not in used_targets]
                key = frozenset(board)
                if not allowed or key in boards_seen:
                    continue
                boards_seen.add(key)
                target = rng.choice(allowed)
                used_targets.add(target)
                instances.append({"game_id": len(instances), "target_word": target,
                                  "candidate_list": list(board), "candidate_categories": board})
            splits[split]["experiments"].append({"name": name, **DEFAULTS, "game_instances": instances})
    return splits

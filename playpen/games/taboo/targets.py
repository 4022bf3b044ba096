"""Our curated taboo word list (``data/targets.json``): target words in three frequency bands, each with three
related (taboo) words and a short description that avoids all of them.

Bands follow wordfreq's Zipf frequency of the target, chosen to match the spread of clembench v2.0's
``high_en`` / ``medium_en`` / ``low_en`` targets: high >= 4.6 > medium >= 4.0 > low >= 3.0.
None of the targets occurs in any clembench taboo instance set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

BANDS = ("high", "medium", "low")
ZIPF_BANDS = {"high": (4.6, 99.0), "medium": (4.0, 4.6), "low": (3.0, 4.0)}


@dataclass(frozen=True)
class TargetEntry:
    word: str
    related: tuple[str, str, str]
    clue: str


@cache
def load_targets() -> dict[str, tuple[TargetEntry, ...]]:
    raw = json.loads(resources.files(__package__).joinpath("data/targets.json").read_text("utf-8"))
    return {
        band: tuple(TargetEntry(e["word"], tuple(e["related"]), e["clue"]) for e in raw[band]) for band in BANDS
    }


@cache
def entries_by_word() -> dict[str, TargetEntry]:
    return {entry.word: entry for entries in load_targets().values() for entry in entries}


@cache
def curated_clues() -> dict[str, str]:
    return {entry.word: entry.clue for entry in entries_by_word().values()}


@cache
def words_by_clue() -> dict[str, str]:
    return {entry.clue: entry.word for entry in entries_by_word().values()}


@cache
def independent_clues() -> dict[str, str]:
    """Descriptions of clembench v2.0's taboo test targets (``high_en``/``medium_en``/``low_en``), written for
    evaluation only and separately from the curated list: no training conversation uses this wording."""
    return json.loads(resources.files(__package__).joinpath("data/independent_clues.json").read_text("utf-8"))

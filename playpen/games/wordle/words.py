"""The word resources of wordle, loaded once from package data.

* ``resources/allowed_words.txt`` — the guesses our own instances accept (five-letter English words built
  offline from ``english-words`` and ``wordfreq``, see :func:`playpen.games.wordle.generate.build_allowed_words`).
  The file is ordered by how likely a word is to be a Wordle answer (common dictionary words first, by
  frequency), which is the preference order of the scripted solver.
* ``resources/target_words.json`` — the target-word pool per frequency band with our own clues.

Official clembench experiments carry their allowed list in ``lang_keywords.official_words_list``; that list
is used instead when present.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable, Mapping

RESOURCES = resources.files(__package__) / "resources"
ALLOWED_WORDS_FILE = "allowed_words.txt"
TARGET_WORDS_FILE = "target_words.json"


class Vocabulary:
    """An immutable set of allowed guesses. Shared, never copied: game masters are deep-copied for branching."""

    __slots__ = ("words",)

    def __init__(self, words: Iterable[str]):
        self.words = frozenset(words)

    def __contains__(self, word: object) -> bool:
        return word in self.words

    def __len__(self) -> int:
        return len(self.words)

    def __copy__(self) -> "Vocabulary":
        return self

    def __deepcopy__(self, memo: dict) -> "Vocabulary":
        return self


@lru_cache(maxsize=1)
def ranked_words() -> tuple[str, ...]:
    """Our allowed guesses, most answer-like first."""
    text = (RESOURCES / ALLOWED_WORDS_FILE).read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


@lru_cache(maxsize=1)
def default_vocabulary() -> Vocabulary:
    return Vocabulary(ranked_words())


@lru_cache(maxsize=1)
def word_ranks() -> dict[str, int]:
    return {word: rank for rank, word in enumerate(ranked_words())}


@lru_cache(maxsize=1)
def target_words() -> dict[str, dict[str, str]]:
    """``{"high_frequency": {word: clue}, "medium_frequency": {word: clue}}``."""
    return json.loads((RESOURCES / TARGET_WORDS_FILE).read_text(encoding="utf-8"))


# Official experiments embed a 12,953-word list; building its set once per list object keeps a new episode
# cheap. The cache holds the list itself, so an id can never be reused while its entry lives.
_OFFICIAL: dict[int, tuple[list, Vocabulary]] = {}
_OFFICIAL_LIMIT = 16


def official_word_list(experiment: Mapping[str, Any]) -> list[str] | None:
    keywords = experiment.get("lang_keywords")
    if isinstance(keywords, Mapping):
        words = keywords.get("official_words_list")
        if isinstance(words, list) and words:
            return words
    return None


def vocabulary_for(experiment: Mapping[str, Any]) -> Vocabulary:
    """The experiment's allowed guesses: its embedded official list, or our package list."""
    words = official_word_list(experiment)
    if words is None:
        return default_vocabulary()
    entry = _OFFICIAL.get(id(words))
    if entry is not None and entry[0] is words:
        return entry[1]
    if len(_OFFICIAL) >= _OFFICIAL_LIMIT:
        _OFFICIAL.pop(next(iter(_OFFICIAL)))
    vocabulary = Vocabulary(w for w in words if isinstance(w, str))
    _OFFICIAL[id(words)] = (words, vocabulary)
    return vocabulary

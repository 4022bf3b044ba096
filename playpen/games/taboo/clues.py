"""Reading clues and guesses the way clembench's taboo game master does.

A clue is checked word by word: ``CLUE:`` is removed, the text is stripped, lower-cased, stripped of ASCII
punctuation and split on single spaces; English stopwords (NLTK's list) are dropped; a remaining word whose
Porter2 stem equals the stem of the target word or of a related word breaks the taboo.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from playpen.games.taboo.stemmer import stem as _stem

CLUE_TAG = "CLUE:"
GUESS_TAG = "GUESS:"

_NO_PUNCTUATION = str.maketrans("", "", string.punctuation)
#: NLTK's English stopword list (198 words); entries with an apostrophe can never match a clue word,
#: because clue words lose their punctuation first.
STOPWORDS = frozenset(resources.files(__package__).joinpath("data/stopwords_en.txt").read_text("utf-8").split())


_cached_stem = lru_cache(maxsize=8192)(_stem)


def stem(word: str) -> str:
    """Porter2 stem; short words (target, related and most clue words repeat a lot) come from a cache."""
    return _cached_stem(word) if len(word) <= 40 else _stem(word)


def normalise(text: str, tag: str) -> str:
    """Remove every occurrence of ``tag``, strip, lower-case and drop ASCII punctuation."""
    return text.replace(tag, "").strip().lower().translate(_NO_PUNCTUATION)


@dataclass(frozen=True)
class TabooBreach:
    """A clue word that shares its stem with the target word (``related=False``) or a related word."""

    forbidden: str
    clue_word: str
    stem: str
    related: bool

    def __str__(self) -> str:
        kind = "related word" if self.related else "target word"
        return f"the clue word '{self.clue_word}' has the same stem ('{self.stem}') as the {kind} '{self.forbidden}'"


def taboo_breaches(clue: str, target: str, related: list[str]) -> list[TabooBreach]:
    """Every (clue word, forbidden word) pair with equal stems, target word first for each clue word."""
    forbidden = [(target, stem(target), False)] + [(word, stem(word), True) for word in related]
    breaches = []
    for clue_word in normalise(clue, CLUE_TAG).split(" "):
        if clue_word in STOPWORDS:
            continue
        clue_stem = stem(clue_word)
        breaches += [TabooBreach(word, clue_word, clue_stem, is_related)
                     for word, word_stem, is_related in forbidden if word_stem == clue_stem]
    return breaches

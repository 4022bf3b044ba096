"""Noun lemmas for the "clue is a form of a board word" rule.

clembench compares NLTK WordNet lemmas (noun reading, the lemmatizer's default). WordNet's data cannot be
fetched offline, so we use ``lemminflect``'s noun lemmas, which ship inside the PyPI package: like WordNet's
morphy they undo regular and irregular plurals (needles -> needle, mice -> mouse, wolves -> wolf). Where a
form has several noun lemmas we take the shortest, as WordNet's lemmatizer does (glasses -> glass).
"""

from __future__ import annotations

from functools import lru_cache

from playpen.core.errors import PlaypenError

#: longer strings are no English words (and would bloat the cache when a player sends junk)
MAX_WORD_LENGTH = 64


@lru_cache(maxsize=1)
def _noun_lemmas():
    try:
        from lemminflect import getLemma
    except ImportError:  # pragma: no cover - depends on the environment
        raise PlaypenError("codenames needs the 'lemminflect' package: pip install lemminflect==0.2.3") from None
    return getLemma


@lru_cache(maxsize=16384)
def lemma(word: str) -> str:
    """The (shortest) noun lemma of a lowercase word; the word itself when there is none."""
    if not word.isalpha() or len(word) > MAX_WORD_LENGTH:
        return word  # WordNet has no such entry and leaves the string alone; lemminflect's rules expect words
    try:
        candidates = _noun_lemmas()(word, upos="NOUN")
    except Exception:  # lemminflect's out-of-vocabulary rules on odd strings
        return word
    return min(candidates, key=len) if candidates else word

"""Seeded instance generator: the 13 clembench v2.0 experiments on boards drawn from our own word pools.

Pools come from ``resources/themes.txt``: common nouns (concrete words of everyday frequency), the category
themes (association experiments), concrete and abstract themes, the ambiguous list and single-theme
unambiguous words, and two frequency bands cut with ``wordfreq`` over all themed words. Two words with the
same noun lemma never share a pool, so no board word is a form of another.

``python -m playpen.games.codenames.generate [seed]`` writes ``in/train.json``, ``in/validation.json`` and
``in/test.json``.
"""

from __future__ import annotations

import random
from functools import lru_cache
from typing import Any

from playpen.games.codenames.board import ASSASSIN, INNOCENT, OPPONENT, TEAM
from playpen.games.codenames.lemmas import lemma
from playpen.games.codenames.lexicon import lexicon
from playpen.games.codenames.rules import V2_FLAGS

DEFAULT_SEED = 123
KINDS = (TEAM, OPPONENT, INNOCENT, ASSASSIN)
STANDARD = {TEAM: 9, OPPONENT: 8, INNOCENT: 7, ASSASSIN: 1}
SPLIT_SIZES = {"train": 40, "validation": 3, "test": 10}
#: zipf frequency (wordfreq, English) limits of the pools
COMMON_NOUN_MIN_ZIPF = 3.8
#: frequent words tend to have more senses; unambiguous words are single-theme words below this
UNAMBIGUOUS_MAX_ZIPF = 4.3
HIGH_FREQUENCY_MIN_ZIPF = 4.8
LOW_FREQUENCY_MAX_ZIPF = 3.0

#: clembench v2.0's experiments: name, variable, generator, opponent difficulty, assignment counts, word pool
EXPERIMENTS: tuple[tuple[str, str, str, int, dict[str, int], str], ...] = (
    ("risk_low", "Risk", "random", 1, {TEAM: 9, OPPONENT: 8, INNOCENT: 8, ASSASSIN: 0}, "nouns"),
    ("risk_high", "Risk", "random", 1, {TEAM: 9, OPPONENT: 8, INNOCENT: 3, ASSASSIN: 5}, "nouns"),
    ("association_easy", "Word Assignments", "easy word assignments", 1, STANDARD, "categories"),
    ("association_difficult", "Word Assignments", "difficult word assignments", 1, STANDARD, "categories"),
    ("opponent_none", "Opponent Difficulty", "random", 0, STANDARD, "nouns"),
    ("opponent_easy", "Opponent Difficulty", "random", 1, STANDARD, "nouns"),
    ("opponent_difficult", "Opponent Difficulty", "random", 2, STANDARD, "nouns"),
    ("frequency_low", "Word Frequency", "random", 1, STANDARD, "low_frequency"),
    ("frequency_high", "Word Frequency", "random", 1, STANDARD, "high_frequency"),
    ("unambiguous", "Word Ambiguity", "random", 1, STANDARD, "unambiguous"),
    ("ambiguous", "Word Ambiguity", "random", 1, STANDARD, "ambiguous"),
    ("concrete", "Word Concreteness", "random", 1, STANDARD, "concrete"),
    ("abstract", "Word Concreteness", "random", 1, STANDARD, "abstract"),
)


def _distinct_lemmas(words: list[str]) -> list[str]:
    seen: set[str] = set()
    kept = []
    for word in dict.fromkeys(words):
        if lemma(word) not in seen:
            seen.add(lemma(word))
            kept.append(word)
    return kept


@lru_cache(maxsize=1)
def word_pools() -> dict[str, Any]:
    """Pool name -> words (``categories``: category label -> words, each word in one category only)."""
    from wordfreq import zipf_frequency  # generator-only dependency

    lex = lexicon()
    zipf = {word: zipf_frequency(word, "en") for word in lex.words}
    kinds: dict[str, set[str]] = {}
    for theme in lex.themes:
        for word in theme.words:
            kinds.setdefault(word, set()).add(theme.kind)
    # a word in both concrete and abstract themes ("trial") belongs to neither pool
    concrete = _distinct_lemmas([w for w in lex.words if kinds[w] == {"concrete"}])
    abstract = _distinct_lemmas([w for w in lex.words if kinds[w] == {"abstract"}])
    everything = _distinct_lemmas(lex.words)
    categories: dict[str, list[str]] = {}
    taken: set[str] = set()
    for theme in lex.themes:
        if theme.category:
            words = [w for w in _distinct_lemmas(list(theme.words)) if lemma(w) not in taken]
            taken.update(lemma(w) for w in words)
            categories[theme.category] = words
    return {
        "nouns": [w for w in concrete if zipf[w] >= COMMON_NOUN_MIN_ZIPF],
        "concrete": concrete,
        "abstract": abstract,
        "ambiguous": [w for w in everything if w in lex.ambiguous],
        "unambiguous": [
            w
            for w in everything
            if w not in lex.ambiguous and lex.theme_count(w) == 1 and zipf[w] < UNAMBIGUOUS_MAX_ZIPF
        ],
        "high_frequency": [w for w in everything if zipf[w] >= HIGH_FREQUENCY_MIN_ZIPF],
        "low_frequency": [w for w in everything if zipf[w] < LOW_FREQUENCY_MAX_ZIPF],
        "categories": {label: words for label, words in categories.items() if len(words) >= 4},
    }


def random_board(pool: list[str], counts: dict[str, int], rng: random.Random) -> dict[str, Any]:
    board = rng.sample(pool, sum(counts.values()))
    unassigned = list(board)
    assignments = {}
    for kind in KINDS:
        assignments[kind] = rng.sample(unassigned, counts[kind])
        unassigned = [word for word in unassigned if word not in assignments[kind]]
    return {"board": board, "assignments": assignments}


def _draw_category(
    categories: dict[str, list[str]], used: list[str], needed: int, rng: random.Random
) -> tuple[str, list[str]]:
    """2-4 words of a fresh category (never leaving exactly one slot to fill), at most ``needed``."""
    label = rng.choice([name for name in categories if name not in used])
    used.append(label)
    sizes = [size for size in (2, 3, 4) if needed - size != 1]
    return label, rng.sample(categories[label], min(rng.choice(sizes), needed))


def category_board(
    categories: dict[str, list[str]], counts: dict[str, int], spread: bool, rng: random.Random
) -> dict[str, Any]:
    """``spread=False``: words of one category go to the same assignment (easy); ``True``: to different ones."""
    assignments: dict[str, list[str]] = {kind: [] for kind in KINDS}
    used: list[str] = []
    if not spread:
        for kind in KINDS:
            while len(assignments[kind]) < counts[kind]:
                assignments[kind] += _draw_category(categories, used, counts[kind] - len(assignments[kind]), rng)[1]
    else:
        total = sum(counts.values())
        while sum(map(len, assignments.values())) < total:
            _, words = _draw_category(categories, used, total - sum(map(len, assignments.values())), rng)
            kinds_used: set[str] = set()
            for word in words:
                open_kinds = [kind for kind in KINDS if len(assignments[kind]) < counts[kind]]
                kind = rng.choice([k for k in open_kinds if k not in kinds_used] or open_kinds)
                kinds_used.add(kind)
                assignments[kind].append(word)
    board = [word for kind in KINDS for word in assignments[kind]]
    rng.shuffle(board)
    for words in assignments.values():
        rng.shuffle(words)
    return {"board": board, "assignments": assignments, "private": {"categories": used}}


def generate(seed: int = DEFAULT_SEED) -> dict[str, dict[str, Any]]:
    """``{split: instances}`` for train / validation / test; no board appears twice, within or across splits."""
    pools = word_pools()
    rng = random.Random(seed)
    seen_boards: set[frozenset[str]] = set()
    splits: dict[str, dict[str, Any]] = {}
    for split, size in SPLIT_SIZES.items():
        experiments = []
        for name, variable, generator, difficulty, counts, pool in EXPERIMENTS:
            instances = []
            while len(instances) < size:
                if generator == "random":
                    board = random_board(pools[pool], counts, rng)
                else:
                    board = category_board(pools[pool], counts, generator == "difficult word assignments", rng)
                key = frozenset(board["board"])
                if key not in seen_boards:
                    seen_boards.add(key)
                    instances.append({"game_id": len(instances), **board})
            experiments.append(
                {
                    "name": name,
                    "variable": variable,
                    "number of instances": size,
                    "generator": generator,
                    "opponent difficulty": difficulty,
                    "assignments": dict(counts),
                    "wordlist": f"playpen:{pool}",
                    "flags": dict(V2_FLAGS),
                    "game_instances": instances,
                }
            )
        splits[split] = {"experiments": experiments}
    return splits

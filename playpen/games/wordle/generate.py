"""Seeded instance generator for wordle, wordle_withclue and wordle_withcritic.

Like clembench v2.0, every variant gets two experiments, ``high_frequency_words_<variant>`` and
``medium_frequency_words_<variant>``, and for one seed the three variants share their target words.
Targets and clues come from our curated pool (``resources/target_words.json``); the three splits draw
disjoint targets from it. The allowed guesses are not embedded in the experiments: the game loads them from
``resources/allowed_words.txt``.

    python -m playpen.games.wordle.generate [--seed N] [--rebuild-word-list]

``--rebuild-word-list`` rebuilds ``allowed_words.txt`` from the ``english-words`` and ``wordfreq`` packages
(development only; the game itself needs neither).
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from playpen.games.wordle.rules import NOT_VALID_WORD_FOR_GAME
from playpen.games.wordle.words import ALLOWED_WORDS_FILE, target_words

PACKAGE_DIR = Path(__file__).resolve().parent
INSTANCES_DIR = PACKAGE_DIR / "in"
DEFAULT_SEED = 28  # clembench v2.0's seed, for the fun of it; our pool differs anyway

#: game -> the suffix of its experiment names, use_clue, use_critic (as in clembench v2.0)
VARIANTS = {
    "wordle": ("no_clue_no_critic", False, False),
    "wordle_withclue": ("clue_no_critic", True, False),
    "wordle_withcritic": ("clue_with_critic", True, True),
}
BANDS = ("high_frequency", "medium_frequency")
#: targets per split and band: test as clembench v2.0 (10 + 20), a small validation set, train 3x test
SPLIT_SIZES = {
    "test": {"high_frequency": 10, "medium_frequency": 20},
    "validation": {"high_frequency": 3, "medium_frequency": 3},
    "train": {"high_frequency": 30, "medium_frequency": 60},
}
#: wordfreq Zipf bands of the target pool (clembench split its list at mean ± 1 std of a unigram frequency)
HIGH_FREQUENCY_MIN_ZIPF = 4.4
MEDIUM_FREQUENCY_MIN_ZIPF = 2.5

COMMON_CONFIG = {
    "n_turns": 6,
    "retry_error_type": [NOT_VALID_WORD_FOR_GAME],
    "max_retry_per_error": {NOT_VALID_WORD_FOR_GAME: 5},
    "max_critic_opinion_count": 1,
    "max_word_length": 5,
}


def split_targets(seed: int) -> dict[str, dict[str, list[str]]]:
    """``{split: {band: [target, ...]}}`` — a seeded, disjoint draw from the pool."""
    rng = random.Random(f"wordle-targets-{seed}")
    pool = target_words()
    chosen: dict[str, dict[str, list[str]]] = {split: {} for split in SPLIT_SIZES}
    for band in BANDS:
        words = sorted(pool[band])
        rng.shuffle(words)
        needed = sum(sizes[band] for sizes in SPLIT_SIZES.values())
        if needed > len(words):
            raise ValueError(f"the {band} pool has {len(words)} words, the splits need {needed}")
        start = 0
        for split, sizes in SPLIT_SIZES.items():
            chosen[split][band] = words[start : start + sizes[band]]
            start += sizes[band]
    return chosen


def generate(seed: int = DEFAULT_SEED, game: str = "wordle") -> dict[str, dict]:
    """``{split: instances}`` for one wordle variant in clembench's instance format."""
    suffix, use_clue, use_critic = VARIANTS[game]
    pool = target_words()
    result = {}
    for split, by_band in split_targets(seed).items():
        experiments = []
        for band in BANDS:
            instances = [
                {
                    "game_id": game_id,
                    "target_word": word,
                    "target_word_clue": pool[band][word],
                    "target_word_difficulty": band,
                }
                for game_id, word in enumerate(by_band[band], start=1)
            ]
            experiments.append(
                {
                    "name": f"{band}_words_{suffix}",
                    "common_config": dict(COMMON_CONFIG),
                    "use_clue": use_clue,
                    "use_critic": use_critic,
                    "game_instances": instances,
                }
            )
        result[split] = {"experiments": experiments}
    return result


def _vowel(word: str) -> bool:
    return any(ch in "aeiouy" for ch in word)


def _is_inflection(word: str, lemmas: set[str]) -> bool:
    """``word`` looks like a regular inflection (plural, past, comparative, -ing, -ly) of a dictionary word."""
    stems = []
    for ending, replacements in (
        ("s", ("",)), ("es", ("",)), ("ed", ("", "e")), ("ied", ("y",)), ("ies", ("y",)),
        ("er", ("", "e")), ("ing", ("", "e")), ("ly", ("",)),
    ):
        if word.endswith(ending):
            stems += [word[: -len(ending)] + r for r in replacements]
    return any(stem in lemmas for stem in stems)


def build_allowed_words() -> list[str]:
    """Five-letter guesses from offline sources, ordered for the scripted solver.

    Accepted: lowercase headwords of Webster's 2nd (``web2``) and GCIDE, regular inflections of them that
    wordfreq knows, and any wordfreq word of Zipf >= 3.5 with a vowel that web2 does not list as a proper
    noun. Order: non-proper words first, then by descending Zipf frequency, then alphabetically.
    """
    from english_words import get_english_words_set
    from wordfreq import iter_wordlist, zipf_frequency

    web2 = get_english_words_set(["web2"], lower=False, alpha=True)
    gcide = get_english_words_set(["gcide"], lower=True, alpha=True)
    lemmas = {w for w in web2 if w.islower() and w.isascii()} | {w for w in gcide if w.isascii()}
    allowed = {w for w in lemmas if len(w) == 5}
    for word in iter_wordlist("en", "large"):
        if len(word) != 5 or not (word.isascii() and word.isalpha() and word.islower()) or word in allowed:
            continue
        if _is_inflection(word, lemmas) or (
            zipf_frequency(word, "en") >= 3.5 and _vowel(word) and word.capitalize() not in web2
        ):
            allowed.add(word)
    for band in target_words().values():
        allowed.update(band)
    allowed = {w for w in allowed if re.fullmatch("[a-z]{5}", w)}  # the sources hold a few like "100th"
    proper = {w for w in allowed if w.capitalize() in web2 and w not in web2}
    return sorted(allowed, key=lambda w: (w in proper, -zipf_frequency(w, "en"), w))


def write_allowed_words(path: Path | None = None) -> Path:
    path = path or PACKAGE_DIR / "resources" / ALLOWED_WORDS_FILE
    path.write_text("\n".join(build_allowed_words()) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    # rebuilds the allowed-guess list from wordfreq / english-words; instance files: `playpen generate -g wordle`
    print(f"wrote {write_allowed_words()}")

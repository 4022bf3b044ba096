"""wordle, wordle_withclue and wordle_withcritic (clembench v2.0), in one package with shared rules."""

from __future__ import annotations

from pathlib import Path

from playpen.core.registry import GameSpec
from playpen.games.wordle.master import WordleMaster, WordleWithClueMaster, WordleWithCriticMaster
from playpen.games.wordle.players import scripted

INSTANCES_DIR = Path(__file__).resolve().parent / "in"


def _generator(game: str):
    def generate_instances(seed: int) -> dict[str, dict]:
        # imported here so that `python -m playpen.games.wordle.generate` does not import itself twice
        from playpen.games.wordle.generate import generate

        return generate(seed, game)

    return generate_instances

_INFO = {
    "clembench_version": "2.0",
    "instance_source": "our generator: targets from a curated pool of common English words banded by wordfreq "
    "Zipf frequency, clues written for Playpen (resources/target_words.json)",
    "offline_resources": "resources/allowed_words.txt (built from english-words web2/gcide and wordfreq); "
    "official experiments use their embedded lang_keywords.official_words_list",
}

#: replies imitating wordle's protocol for check_game's hostile replies
WORDLE_MARKERS = ("explanation: x\nguess: ", "explanation: x\nguess: hello\nguess: world",
                  "explanation: because\nguess: zzzzz")

GAMES: dict[str, GameSpec] = {
    "wordle": GameSpec(
        name="wordle",
        master=WordleMaster,
        description="Guess a secret five-letter word in six tries from green/yellow/red letter feedback.",
        domain="in",
        protocol_markers=WORDLE_MARKERS,
        paper_reward="success",
        target_keys=("target_word",),
        instances_dir=INSTANCES_DIR / "wordle",
        scripted=scripted,
        generate=_generator("wordle"),
        seed=28,
        info=_INFO,
    ),
    "wordle_withclue": GameSpec(
        name="wordle_withclue",
        master=WordleWithClueMaster,
        description="Wordle with a crossword-style clue for the secret word.",
        domain="in",
        protocol_markers=WORDLE_MARKERS,
        paper_reward="success",
        target_keys=("target_word",),
        instances_dir=INSTANCES_DIR / "wordle_withclue",
        scripted=scripted,
        extra_skills=("literal",),
        generate=_generator("wordle_withclue"),
        seed=28,
        info=_INFO,
    ),
    "wordle_withcritic": GameSpec(
        name="wordle_withcritic",
        master=WordleWithCriticMaster,
        description="Wordle with a clue, where a critic judges each proposed guess before the guesser commits.",
        domain="in",
        protocol_markers=WORDLE_MARKERS + ("explanation: x\nagreement: maybe", "agreement: yes\nagreement: no"),
        paper_reward="success",
        target_keys=("target_word",),
        learner="ReflectingWordGuesser",  # the paper's learner role
        instances_dir=INSTANCES_DIR / "wordle_withcritic",
        scripted=scripted,
        generate=_generator("wordle_withcritic"),
        seed=28,
        info=_INFO,
    ),
}

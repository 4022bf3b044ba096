"""Taboo: a WordDescriber describes a target word without using it or three related words; a WordGuesser
has three tries to name it."""

from pathlib import Path

from playpen.core.registry import GameSpec
from playpen.games.taboo.master import TabooMaster
from playpen.games.taboo.players import scripted, scripted_limits


def generate(seed: int = 0) -> dict[str, dict]:
    # imported here so that importing the game does not load the generator module
    from playpen.games.taboo.generate import generate as generate_splits

    return generate_splits(seed)


GAMES = {
    "taboo": GameSpec(
        name="taboo",
        master=TabooMaster,
        description="Describe a word without its taboo words; the partner guesses it in three tries.",
        domain="in",
        protocol_markers=("CLUE: ", "CLUE: apple\nCLUE: pear", "GUESS:", "GUESS: a b c", "GUESS: apple, pear"),
        learner="WordGuesser",  # the paper's learner role
        paper_reward="per_round",  # 1/#rounds when guessed
        target_keys=("target_word",),
        scripted_limits=scripted_limits,
        extra_skills=("independent",),
        extra_splits=("heldout",),
        instances_dir=Path(__file__).parent / "in",
        scripted=scripted,
        generate=generate,
        info={
            "clembench": "2.0 (taboo: high_en, medium_en, low_en; 20 instances each)",
            "instances": "our curated target list (data/targets.json), frequency bands by wordfreq Zipf",
            "resources": "NLTK's English stopword list (data/stopwords_en.txt); Porter2 stemmer as NLTK 3.8.1",
        },
    ),
}

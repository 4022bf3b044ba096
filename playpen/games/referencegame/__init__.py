"""The reference game: an Instruction Giver describes one of three 5x5 grids, an Instruction Follower picks it."""

from pathlib import Path

from playpen.core.registry import GameSpec
from playpen.games.referencegame.master import ReferenceGameMaster
from playpen.games.referencegame.players import scripted


def generate(seed: int = 0) -> dict[str, dict]:
    # imported here so that ``python -m playpen.games.referencegame.generate`` does not import its module twice
    from playpen.games.referencegame.generate import generate as generate_splits

    return generate_splits(seed)


GAMES = {
    "referencegame": GameSpec(
        name="referencegame",
        master=ReferenceGameMaster,
        description="Describe the target among three ASCII grids so that the partner can pick it out.",
        domain="in",
        protocol_markers=("Expression: ", "Answer: fourth", "Answer: first\nsecond"),
        paper_reward="success",
        learner="Instruction Follower",  # the paper's learner role
        instances_dir=Path(__file__).parent / "in",
        scripted=scripted,
        extra_skills=("literal",),
        generate=generate,
        info={
            "clembench": "2.0 (referencegame: letter, number, line_grids_rows, line_grids_columns, random; 18 each)",
            "instances": "our own grid families (grids.py): letters, digits, row lines, column lines, random grids",
            "resources": "none beyond the package",
        },
    ),
}

"""clembench's static suite: single-turn reference tasks (IFEval, EQ-Bench, CLadder, MMLU-Pro, BBH) as games.

They ship no instance files: the official clembench ones are played as they are (``playpen run -g static
-i <clembench>/static``). ``examples/`` holds a few hand-made instances for the checker and the tests only.
"""

from pathlib import Path

from playpen.core.registry import GameSpec
from playpen.games.static.master import (
    BBHGameMaster,
    CLadderGameMaster,
    EQBenchGameMaster,
    IFEvalGameMaster,
    MMLUProGameMaster,
)
from playpen.games.static.players import scripted_for

#: clembench's ``static_1.0`` benchmark: the tasks statscore averages over (bbh was taken out of it)
STATSCORE_GAMES = ("cladder", "eqbench", "ifeval", "mmlu_pro")

_HERE = Path(__file__).parent
SOURCE = "https://github.com/clp-research/clembench/tree/main/static"
_DESCRIPTIONS = {
    IFEvalGameMaster: "IFEval: follow verifiable formatting instructions (strict check of every instruction).",
    EQBenchGameMaster: "EQ-Bench: rate the intensity of a dialogue character's emotions from 0 to 10.",
    CLadderGameMaster: "CLadder: answer a causal-inference question with yes or no.",
    MMLUProGameMaster: "MMLU-Pro: multiple-choice questions with ten options, five worked examples first.",
    BBHGameMaster: "BIG-Bench Hard: 27 reasoning tasks with three-shot examples; exact-match answers.",
}

#: replies imitating each task's answer format for check_game's hostile replies (IFEval judges any reply)
_MARKERS = {
    EQBenchGameMaster: ("Anger: 5\nJoy: 0", "Anger: 11", "Anger: 0\nJoy: 0", "Anger: 5\nAnger: 6"),
    CLadderGameMaster: ("yes", "No.", "maybe yes"),
    MMLUProGameMaster: ("The answer is (A)", "The answer is (A). The answer is (B)", "The answer is (Z)"),
    BBHGameMaster: ("(A)", "True", "valid"),
}


def _spec(master) -> GameSpec:
    name = master.name
    return GameSpec(
        name=name,
        master=master,
        description=_DESCRIPTIONS[master],
        domain="static",
        protocol_markers=_MARKERS.get(master, ()),
        instances_dir=_HERE / "in",  # none shipped: see instances_help
        scripted=scripted_for(name),
        examples=_HERE / "examples" / f"{name}.json",
        validate=master.validate,
        instances_help=(f"pass clembench's instance file with -i (static/{name}/in/instances.json of {SOURCE}, "
                        f"or -i <clembench>/static for every static task)"),
        info={"clembench": f"static/{name} (benchmark static_1.0)" if name in STATSCORE_GAMES else f"static/{name}",
              "instances": "clembench's own instance files, loaded as they are"},
    )


GAMES = {master.name: _spec(master) for master in
         (IFEvalGameMaster, EQBenchGameMaster, CLadderGameMaster, MMLUProGameMaster, BBHGameMaster)}

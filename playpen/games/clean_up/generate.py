"""Seeded clean_up instances in clembench v3.0's instance format, with our own prompt texts.

Nine experiments as in v3.0: three backgrounds of rising clutter (easy, medium, hard) × 3, 5 or 7 objects;
``max_penalties`` = 2n + 2 and ``max_rounds`` = 4n for n objects (v3.0's values). Each instance places the same
letters at random free cells, independently for the two players. Each background belongs to one split (each
split has its own three), so no board is shared between train, validation and test.

Run ``playpen generate -g clean_up`` to rewrite ``in/{train,validation,test}.json``.
"""

from __future__ import annotations

import random
import string
from string import Template

from playpen.games.clean_up.board import EMPTY, Board

#: our backgrounds, three per split, in the order easy, medium, hard (more walls, fewer free cells)
BACKGROUNDS = {
    "train": (
        "╔═══════╗\n║◌◌◌◌◌◌◌║\n║◌◌◌◌◌◌◌║\n╟──┐◌◌◌◌║\n║◌◌│◌◌◌◌║\n║◌◌│◌◌◌◌║\n║◌◌◌◌◌◌◌║\n║◌◌◌◌◌◌◌║\n╚═══════╝",
        "╔═══╤═══╗\n║◌◌◌│◌◌◌║\n║◌◌◌│◌◌◌║\n╟─┐◌◌◌┌─╢\n║◌│◌◌◌│◌║\n║◌└───┘◌║\n║◌◌◌◌◌◌◌║\n║◌◌◌◌◌◌◌║\n╚═══════╝",
        "╔═╤═══╤═╗\n║◌│◌◌◌│◌║\n║◌└─┐◌│◌║\n║◌◌◌│◌◌◌║\n╟─┐◌└─┐◌║\n║◌│◌◌◌│◌║\n║◌└─┐◌└─╢\n║◌◌◌│◌◌◌║\n╚═══╧═══╝",
    ),
    "validation": (
        "╔═══════╗\n║◌◌◌◌◌◌◌║\n║◌◌◌◌┌──╢\n║◌◌◌◌│◌◌║\n║◌◌◌◌◌◌◌║\n║◌◌◌◌◌◌◌║\n║◌◌◌◌◌◌◌║\n║◌◌◌◌◌◌◌║\n╚═══════╝",
        "╔═══════╗\n║◌◌◌◌◌◌◌║\n╟───┐◌◌◌║\n║◌◌◌│◌◌◌║\n║◌◌◌└──┐║\n║◌◌◌◌◌◌│║\n║◌┌──◌◌◌║\n║◌│◌◌◌◌◌║\n╚═╧═════╝",
        "╔═╤═╤═══╗\n║◌│◌│◌◌◌║\n║◌│◌└─┐◌║\n║◌│◌◌◌│◌║\n║◌└─┐◌◌◌║\n║◌◌◌│◌┌─╢\n╟─┐◌│◌│◌║\n║◌│◌◌◌│◌║\n╚═╧═══╧═╝",
    ),
    "test": (
        "╔═══════╗\n║◌◌◌◌◌◌◌║\n║◌◌◌◌◌◌◌║\n║◌◌◌◌◌◌◌║\n║◌◌◌┌───╢\n║◌◌◌│◌◌◌║\n║◌◌◌◌◌◌◌║\n║◌◌◌◌◌◌◌║\n╚═══════╝",
        "╔═════╤═╗\n║◌◌◌◌◌│◌║\n║◌┌──◌│◌║\n║◌│◌◌◌◌◌║\n║◌│◌◌┌──╢\n║◌◌◌◌│◌◌║\n╟──┐◌◌◌◌║\n║◌◌│◌◌◌◌║\n╚══╧════╝",
        "╔═╤═════╗\n║◌│◌◌◌◌◌║\n║◌│◌┌─┐◌║\n║◌◌◌│◌│◌║\n╟─┐◌│◌◌◌║\n║◌│◌└─┐◌║\n║◌│◌◌◌│◌║\n║◌◌◌┌─┘◌║\n╚═══╧═══╝",
    ),
}
LEVELS = ("easy", "medium", "hard")
OBJECT_COUNTS = (3, 5, 7)
PER_EXPERIMENT = {"train": 20, "validation": 3, "test": 5}

TERMINATE_QUESTION = "finished?"
TERMINATE_ANSWER = "finished!"
SAY_PATTERN = r"(?P<head>.*)SAY: (?P<message>[^\n]+)(?P<tail>.*)"
MOVE_PATTERN = r"(?P<head>.*)MOVE: (?P<obj>[^,]+), \((?P<x>\d+), ?(?P<y>\d+)\)(?P<tail>.*)"

_RULES = Template("""\
Let's play a cooperative puzzle. This is your board:

```
${grid}```

Columns are numbered along the top (x, left to right), rows along the right edge (y, top to bottom). \
These objects stand on your board: ${objects}.

Your partner has a board with the same walls and the same objects, but their objects stand elsewhere. \
Neither of you can see the other's board.

Your shared goal: every object must end up at the same coordinates on both boards. Agree on a target \
layout by talking to each other, then move your objects there.

Each of your replies must be exactly one command and nothing else:
- `SAY: <message>` sends a one-line message to your partner;
- `MOVE: <object>, (<x>, <y>)` moves one of your objects to a free cell, i.e. one showing '${empty}'. \
Walls, frame lines and other objects block a cell.

Anything else, more than one command, or a move to a blocked or missing cell costs a penalty, and you \
reply again. The two of you may collect at most ${max_penalties} penalties; one more ends the game with \
nothing won. A round is one command from each of you, and the game stops after ${max_rounds} rounds.

When you believe the boards match, send `SAY: ${question}`. If your partner sent that, reply \
`SAY: ${answer}` to end the game.

The closer the objects stand on the two boards when the game ends, and the fewer penalties you collect, \
the higher your score.
""")
_P1_START = "\nYou begin: send your partner a message."
_P2_START = '\nYour partner opened the game with this message:\n\n"$$start_message"\n\nWhat is your command?'

INTERMITTENT = {
    "invalid_response": "Penalty: $reason\nReply with exactly one `SAY: <message>` or "
                        "`MOVE: <object>, (<x>, <y>)` command.\n",
    "message_relay": "Your partner got your message.\n\n",
    "command_prompt": "\n\nYour command?",
    "new_turn_move": "Your partner moved one of their objects.",
    "new_turn": 'Your partner says:\n"$turn_message"',
    "round_counter": "Round $round of at most {max_rounds}.\n",
    "penalty_counter": "Penalties so far: $penalty of at most {max_penalties}.\n",
    "penalty_reprompt": "Please try again.",
}
PARSE_ERRORS = {
    "head": "there is text before your command.",
    "tail": "there is text after your command.",
    "head_tail": "there is text before and after your command.",
    "several_commands": "your reply holds more than one command.",
    "restriction": "your message holds content that is not allowed.",
    "invalid_format": "your reply is not a SAY or MOVE command.",
    "invalid_start": "the game starts with a message to your partner (SAY).",
}
MOVE_MESSAGES = {
    "successful": "You moved '$object' to ($x,$y). Your board now:\n```\n$grid```\n",
    "out_of_bounds": "Penalty: ($x,$y) is not on the board.\n",
    "not_empty": "Penalty: ($x,$y) is blocked by '$object'.\n",
    "obj_not_found": "Penalty: there is no object '$object' on your board.\n",
}


def place(background: str, letters: list[str], rng: random.Random) -> list[dict]:
    free = [(x, y) for y, row in enumerate(background.split("\n")) for x, char in enumerate(row) if char == EMPTY]
    return [{"id": letter, "coord": list(cell)} for letter, cell in zip(letters, rng.sample(free, len(letters)))]


def instance(game_id: int, background: str, count: int, rng: random.Random) -> dict:
    letters = sorted(rng.sample(string.ascii_uppercase, count))
    objects_1, objects_2 = place(background, letters, rng), place(background, letters, rng)
    max_penalties, max_rounds = 2 * count + 2, 4 * count
    shown = ", ".join(f"'{letter}'" for letter in letters)

    def rules(objects: list[dict]) -> str:
        grid = Board(background, objects, MOVE_MESSAGES).render()
        return _RULES.substitute(grid=grid, objects=shown, empty=EMPTY, max_penalties=max_penalties,
                                 max_rounds=max_rounds, question=TERMINATE_QUESTION, answer=TERMINATE_ANSWER)

    return {
        "game_id": game_id,
        "modality": "text",
        "language": "en",
        "max_penalties": max_penalties,
        "max_rounds": max_rounds,
        "background": background,
        "intermittent_prompts": {key: text.format(max_rounds=max_rounds, max_penalties=max_penalties)
                                 for key, text in INTERMITTENT.items()},
        "say_pattern": SAY_PATTERN,
        "move_pattern": MOVE_PATTERN,
        "parse_errors": dict(PARSE_ERRORS),
        "move_messages": dict(MOVE_MESSAGES),
        "terminate_question": TERMINATE_QUESTION,
        "terminate_answer": TERMINATE_ANSWER,
        "objects_1": objects_1,
        "objects_2": objects_2,
        "p1_initial_prompt": rules(objects_1) + _P1_START,
        # the start message goes in when Player 1 has sent it (``$start_message``, as in clembench's files)
        "p2_initial_prompt": rules(objects_2).replace("$", "$$") + Template(_P2_START).substitute(),
    }


def generate(seed: int = 0) -> dict[str, dict]:
    rng = random.Random(f"clean_up-{seed}")
    splits = {}
    for split in ("train", "validation", "test"):
        experiments = []
        for level_index, (level, background) in enumerate(zip(LEVELS, BACKGROUNDS[split])):
            for count in OBJECT_COUNTS:
                experiments.append({
                    "name": f"{level_index}_{level}_{count}obj_en",
                    "game_instances": [instance(i, background, count, rng) for i in range(PER_EXPERIMENT[split])],
                })
        splits[split] = {"experiments": experiments}
    return splits

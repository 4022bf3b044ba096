"""Everything the explorer reads, in our own words. Protocol markers (``GO: <direction>``, ``DONE`` and the
graphreasoning dictionary line) are clembench's.

An official instance carries clembench's texts: the whole first prompt (``Prompt``, with ``$INITIAL_ROOM$``,
``$INITIAL_DIRECTIONS$`` and, for specificroom, ``$GOAL$``) and the describer's two answers
(``Player2_positive_answer`` with ``$ANOTHER_ROOM$``, ``Player2_negative_answer`` with ``$SAME_ROOM$``, both with
``$DIRECTIONS$``). Then those are filled in as clembench does: room names only on a named graph, an ambiguous
room (``Kitchen_(1, 2)``) by its name alone."""

from __future__ import annotations

import re
from string import Template
from typing import Any, Mapping

from playpen.games.official import fill, official_text

EXPLORE_RULES = """\
We are going to explore a house together, one room at a time. Your job is to enter every room at least \
once while changing rooms as rarely as you can, and to notice when no unexplored rooms are left: that is \
when the exploration is over.
Answer with exactly one command and nothing else:
GO: DIRECTION   moves you into the neighbouring room in that direction (DIRECTION is north, south, east or west)
DONE            ends the exploration
For example:
You are in the Pantry. Available directions: east, south. What is your next command?
GO: south
You are now in the Hallway. Available directions: north, west. What is your next command?
GO: west
...
You are now in the Attic. Available directions: east. What is your next command?
DONE"""

GRAPH_RULES = """\
We are going to explore a house together, one room at a time. Your job is to enter every room at least \
once while changing rooms as rarely as you can, to notice when no unexplored rooms are left (that is \
when the exploration is over), and to keep drawing the map of the rooms you have found so far.
Answer with a single line holding one dictionary and nothing else:
{"action": "<command>", "graph": {"nodes": [<rooms found so far>], "edges": {"north": [<pairs>], "south": [<pairs>], "east": [<pairs>], "west": [<pairs>]}}}
The command is GO: DIRECTION to move into the neighbouring room in that direction (DIRECTION is north, south, \
east or west) or DONE to end the exploration. A pair ("Room A", "Room B") listed under a direction means \
that Room B lies in that direction from Room A.
For example:
You are in the Pantry. Available directions: east, south. What is your next command?
{"action": "GO: south", "graph": {"nodes": ["Pantry"], "edges": {"north": [], "south": [], "east": [], "west": []}}}
You are now in the Hallway. Available directions: north, west. What is your next command?
{"action": "GO: west", "graph": {"nodes": ["Pantry", "Hallway"], "edges": {"north": [], "south": [("Pantry", "Hallway")], "east": [], "west": []}}}
...
You are now in the Attic. Available directions: east. What is your next command?
{"action": "DONE", "graph": {"nodes": ["Pantry", "Hallway", "Attic"], "edges": {"north": [], "south": [("Pantry", "Hallway")], "east": [], "west": [("Hallway", "Attic")]}}}"""

TARGET_RULES = """\
We are going to walk through a house, one room at a time, to find one particular room. Your job is to \
reach the target room and to stop as soon as you are standing in it.
Answer with exactly one command and nothing else:
GO: DIRECTION   moves you into the neighbouring room in that direction (DIRECTION is north, south, east or west)
DONE            says that you are in the target room and ends the search
For example:
The target room is the Attic. You are in the Pantry. Available directions: east, south. What is your next command?
GO: south
You are now in the Hallway. Available directions: north, west. What is your next command?
GO: west
...
You are now in the Attic. Available directions: east. What is your next command?
DONE"""

START = Template("Let us begin. You are in the $room. Available directions: $directions. What is your next command?")
TARGET_START = Template(
    "Let us begin. The target room is the $target. You are in the $room. Available directions: $directions. "
    "What is your next command?"
)
MOVED = Template("You are now in the $room. Available directions: $directions. What is your next command?")
BLOCKED = Template(
    "You cannot go that way. You are still in the $room. Available directions: $directions. "
    "What is your next command?"
)

#: Reads a position report back (used by the scripted explorers), ours or an official instance's; ``how`` is
#: "", "still " or "now " (ours; an official "entered" is "now " too).
POSITION = re.compile(
    r"You (?:are (?P<how>now |still |)in the|have made a step and (?P<entered>entered)) (?P<room>[^.\n]+)\. "
    r"(?:Currently a|A)vailable directions: (?P<directions>[a-z, ]*)\."
)
TARGET = re.compile(r"The target room is (?:the )?(?P<room>[^.\n]+)\.")


def directions_text(directions: list[str]) -> str:
    return ", ".join(directions)


def _room_name(instance: Mapping[str, Any], room: str) -> str:
    return room.split("_")[0] if instance.get("Ambiguity") is not None else room


def official_start(instance: Mapping[str, Any], room: str, directions: str, target: str | None = None) -> str | None:
    """The instance's whole first prompt, filled in; None for our instances."""
    prompt = official_text(instance, "Prompt")
    if prompt is None:
        return None
    values = {"$INITIAL_ROOM$": _room_name(instance, room), "$INITIAL_DIRECTIONS$": directions}
    if target is not None:
        values["$GOAL$"] = target
    return fill(prompt, values)


def official_answer(instance: Mapping[str, Any], moved: bool, room: str, directions: str) -> str | None:
    """The describer's answer after a move (``moved``) or a blocked one, filled in; None for our instances."""
    answer = official_text(instance, "Player2_positive_answer" if moved else "Player2_negative_answer")
    if answer is None:
        return None
    values = {"$DIRECTIONS$": directions}
    if instance.get("Game_Type", "named_graph") == "named_graph":
        values["$ANOTHER_ROOM$" if moved else "$SAME_ROOM$"] = _room_name(instance, room)
    return fill(answer, values)

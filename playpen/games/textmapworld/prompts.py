"""Everything the explorer reads, in our own words. Protocol markers (``GO: <direction>``, ``DONE`` and the
graphreasoning dictionary line) are clembench's."""

from __future__ import annotations

import re
from string import Template

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

#: Reads a position report back (used by the scripted explorers); ``how`` is "", "now " or "still ".
POSITION = re.compile(r"You are (?P<how>now |still |)in the (?P<room>[^.\n]+)\. Available directions: (?P<directions>[a-z, ]*)\.")
TARGET = re.compile(r"The target room is the (?P<room>[^.\n]+)\.")


def directions_text(directions: list[str]) -> str:
    return ", ".join(directions)

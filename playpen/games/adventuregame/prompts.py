"""Every text the Adventurer reads: the first prompt and the interpreter's feedback, in our own words.

The protocol markers are clembench's: the action line starts with ``>``, the plan variant adds a line starting
with ``Next actions:``, and ``> done`` ends the game.

An official instance carries clembench's first prompt (``prompt``, goals included): then it is sent as it is,
followed by our first room description. The room descriptions and feedback are the interpreter's own text in
clembench too (not instance data), so they stay ours: ``docs/fidelity.md``.
"""

from __future__ import annotations

from string import Template

INTRO = (
    "Let's play a text adventure. I tell you what you perceive, and you answer with exactly one action, "
    "on a line that starts with >."
)
BASIC_FORMAT = "Write nothing but the action. Example:\n> open cupboard"
PLAN_FORMAT = (
    "On the line after your action, write the actions you plan to do next, starting with \"Next actions:\" "
    "and separated by commas. Example:\n> open cupboard\nNext actions: take orange, close cupboard"
)
INVENTORY_LIMIT = "You can carry at most two objects at a time."
GOAL = Template("Your task: $goals.")
FINISH = 'When you have completed the task, answer "> done" to end the game.'


def initial_prompt(goal_phrases: list[str], plan: bool, inventory_limit: bool) -> str:
    parts = [INTRO, PLAN_FORMAT if plan else BASIC_FORMAT]
    if inventory_limit:
        parts.append(INVENTORY_LIMIT)
    parts.append(GOAL.substitute(goals=join_and(goal_phrases)))
    parts.append(FINISH)
    return "\n\n".join(parts)


def goal_phrase(index: int, thing: str, relation: str, place: str) -> str:
    verb = "put" if index == 0 else ""
    words = [w for w in (verb, "the", thing, relation, "the", place) if w]
    return " ".join(words)


def join_and(items: list[str], conjunction: str = "and") -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def with_article(labels: list[str]) -> list[str]:
    return [f"a {label}" for label in labels]


# ---------------------------------------------------------------- room and object descriptions
ROOM = Template("You are in the $room.")
ROOM_SEES = Template("You can see $things.")
ROOM_EXITS = Template("From here you can go to $rooms.")
STATE_CLOSED = Template("The $thing is closed.")
STATE_OPEN = Template("The $thing is open.")
STATE_ON = Template("The $thing is on the $place.")
STATE_IN = Template("The $thing is in the $place.")

INVENTORY_EMPTY = "You are carrying nothing."
INVENTORY_HOLDS = Template("You are carrying $things.")
CONTAINER_EMPTY = Template("There is nothing in the $container.")
CONTAINER_HOLDS = Template("Inside the $container you find $things.")

EXAMINE_BASE = Template("It is a $thing.")
EXAMINE_OPENABLE = Template("You can open and close it; right now it is $state.")
EXAMINE_TAKEABLE = "You could pick it up."
EXAMINE_CLOSED_CONTAINER = "It is closed, so you cannot look inside."
EXAMINE_LOCATED = Template("It is $relation the $place.")
EXAMINE_SUPPORT_EMPTY = "Nothing lies on it."
EXAMINE_SUPPORT_HOLDS = Template("On it you see $things.")

# ---------------------------------------------------------------- feedback of successful actions
SUCCESS = {
    "opened": Template("You open the $e. $contents"),
    "closed": Template("You close the $e."),
    "taken": Template("You pick up the $e. $inventory"),
    "put": Template("You place the $e $prep the $t."),
    "done": Template("You declare the adventure finished."),
}

# ---------------------------------------------------------------- feedback of failed actions
NOT_UNDERSTOOD = "That is not a command I understand."
UNKNOWN_VERB = Template("I do not know how to '$verb' here.")
UNKNOWN_WORD = Template("There is nothing called '$word' in this game.")
UNKNOWN_ARGUMENT = Template("'$word' is not something you can act on.")
ROOM_NOT_TAKEABLE = Template("The $room is a room; you cannot pick it up.")
ROOM_NOT_PUTTABLE = Template("The $room is a room; you cannot put it anywhere.")
ROOM_NOT_OPENABLE = Template("The $room is a room; there is nothing to open.")
ROOM_NOT_CLOSABLE = Template("The $room is a room; there is nothing to close.")
ALREADY_CARRIED = Template("You are already carrying the $e.")
NO_TAKING_FROM_INVENTORY = "Things you carry are already yours; there is no need to take them from your inventory."
OTHER_ROOM = Template("You are not in the $room.")

WRONG_TYPE = {
    "openable": Template("The $value cannot be opened or closed."),
    "takeable": Template("The $value cannot be picked up."),
    "movable": Template("The $value cannot be moved."),
    "receptacle": Template("Nothing can be put on or into the $value."),
    "room": Template("The $value is not a place you can go to."),
    "entity": Template("The $value is not an object you can examine."),
}
WRONG_TYPE_FALLBACK = Template("The $value does not fit this action.")

PRECONDITION = {
    "lost": Template("Something is wrong with where you are."),
    "not_visible": Template("There is no $e here that you could reach."),
    "already_held": Template("You are already carrying the $e."),
    "source_not_visible": Template("There is no $s here that you could reach."),
    "target_not_visible": Template("There is no $t here that you could reach."),
    "not_on_source": Template("The $e is not on the $s."),
    "not_in_source": Template("The $e is not in the $s."),
    "source_not_support": Template("Things cannot lie on the $s."),
    "source_not_container": Template("Things cannot be inside the $s."),
    "source_not_open": Template("The $s is closed."),
    "target_not_container": Template("Things cannot go inside the $t."),
    "target_not_support": Template("Things cannot be put on the $t."),
    "target_not_open": Template("The $t is closed."),
    "not_closed": Template("The $e is already open."),
    "not_open": Template("The $e is already closed."),
    "already_there": Template("You are already in the $d."),
    "no_passage": Template("There is no way from here to a $d."),
    "inventory_full": Template("Your hands are full: you can carry only two objects at a time."),
}

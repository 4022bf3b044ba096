"""Scripted Adventurers.

* ``competent``: knows the instance (as a player would after exploring), rebuilds the true world by replaying
  the commands it sees in its own message history, plans the rest breadth-first and answers the next step; once
  every goal holds it answers ``> done``. In the plan variant it adds ``Next actions:`` with its following steps.
* ``bad``: wanders between rooms, grabs and drops whatever it sees, examines things, sometimes forgets the ``>``
  and sometimes declares itself done far too early.

Both are deterministic: the bad player's choices are seeded by (seed, instance, turn).
"""

from __future__ import annotations

import random
from typing import Any, Mapping

from playpen.core.messages import Policy
from playpen.games.adventuregame import planner
from playpen.games.adventuregame.master import PLAN_MARKER
from playpen.games.adventuregame.world import Adventure, World


def scripted(role: str, skill: str, experiment: Mapping[str, Any], instance: Mapping[str, Any], seed: int) -> Policy:
    if skill == "competent":
        return CompetentAdventurer(instance)
    if skill == "bad":
        return BadAdventurer(experiment, instance, seed)
    raise ValueError(f"adventuregame: unknown skill {skill!r} (competent or bad)")


def _command_of(reply: str) -> str | None:
    text = reply.strip()
    return text[1:].split("\n")[0].strip() if text.startswith(">") else None


class _Tracker:
    """Keeps a world in step with the commands in the player's own history (replaying only new ones)."""

    def __init__(self, instance: Mapping[str, Any]):
        self.adventure = Adventure.from_instance(instance)
        self.plan_variant = instance.get("variant") == "plan"
        self._seen: list[str] = []
        self.world = World.start(self.adventure)

    def sync(self, messages: list[dict[str, str]]) -> World:
        replies = [m["content"] for m in messages if m["role"] == "assistant"]
        if replies[: len(self._seen)] != self._seen:
            self._seen = []
            self.world = World.start(self.adventure)
        for reply in replies[len(self._seen):]:
            command = _command_of(reply)
            if command is not None:
                self.world.process(command)
        self._seen = replies
        return self.world


class CompetentAdventurer:
    def __init__(self, instance: Mapping[str, Any]):
        self.tracker = _Tracker(instance)

    def __call__(self, messages: list[dict[str, str]]) -> str:
        world = self.tracker.sync(messages)
        steps = planner.plan(world)
        if not steps:  # goals met (or unreachable): stop
            return "> done"
        commands = [planner.command(world, step) for step in steps]
        reply = f"> {commands[0]}"
        if self.tracker.plan_variant:
            reply += f"{PLAN_MARKER} {', '.join(commands[1:3] or ['done'])}"
        return reply


class BadAdventurer:
    #: replies without the command marker (the game aborts on them)
    CHATTER = (
        "I think I should look around first.",
        "Let me go to the kitchen and see what is there.",
        "I have finished the task successfully!",
    )
    VERBS = ("look around", "walk north", "eat the apple", "search everywhere")

    def __init__(self, experiment: Mapping[str, Any], instance: Mapping[str, Any], seed: int):
        self.tracker = _Tracker(instance)
        self.seed = f"{seed}-{experiment.get('name')}-{instance.get('game_id')}"

    def __call__(self, messages: list[dict[str, str]]) -> str:
        turn = sum(1 for m in messages if m["role"] == "assistant")
        rng = random.Random(f"{self.seed}-{turn}")
        world = self.tracker.sync(messages)
        label = world.adventure.label
        roll = rng.random()
        if roll < 0.04:
            return rng.choice(self.CHATTER)
        if roll < 0.08 and turn > 3:
            command = "done"
        elif roll < 0.4:
            command = f"go to {label(rng.choice(world.exits() or [world.player_room()]))}"
        elif roll < 0.6:
            things = world.visible_things() or [world.player_room()]
            command = f"take {label(rng.choice(things))}"
        elif roll < 0.75:
            held = world.inventory() or world.visible_things() or [world.player_room()]
            places = world.visible_things() or [world.player_room()]
            command = f"put {label(rng.choice(held))} on {label(rng.choice(places))}"
        elif roll < 0.9:
            things = world.visible_things() or [world.player_room()]
            command = f"examine {label(rng.choice(things))}"
        else:
            command = rng.choice(self.VERBS)
        if self.tracker.plan_variant:
            return f"> {command}{PLAN_MARKER} {rng.choice(self.VERBS)}"
        return f"> {command}"

"""``check_game``'s named checks: every registered game passes them, each catches the bug it is named after, and
the hostile replies come from the games' specs (core knows no game)."""

import ast
import copy
import itertools
import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from playpen.core.check import CHECKS, HOSTILE_RESPONSES, GameCheckError, check_game, hostile_replies, play_scripted
from playpen.core.instances import InstanceRow, iter_rows, load_instances
from playpen.games import game_names, get_game
from tests.toygame import SPEC, EchoGame, instances

CORE = Path(__file__).resolve().parents[1] / "playpen" / "core"


@pytest.mark.parametrize("game", game_names())
def test_every_game_passes_every_named_check(game):
    spec = get_game(game)
    report = check_game(spec, episodes=3, hostile_rates=(1.0, 0.2))
    assert report.episodes == 6 and sum(report.outcomes.values()) == 6
    assert str(report).endswith("every episode passed messages, step, ends, scores, replay, copy, instance-round-trip")


class SharedCopy(EchoGame):
    def copy(self):  # shallow: the fork appends to the original's rounds
        return copy.copy(self)


class ForgetfulCopy(EchoGame):
    def copy(self):  # a new episode instead of a fork
        return type(self)(self.experiment, self.instance)


class Counting(EchoGame):
    episodes = itertools.count()

    def setup(self):  # state from outside the instance and the replies
        super().setup()
        self.log_event("episode number", next(self.episodes))


class IntKeys(EchoGame):
    def setup(self):  # {7: "seven"} in memory, {"7": "seven"} once written to JSON
        super().setup()
        self.log_event("name of 7", self.instance["names"].get(7))


class Endless(EchoGame):
    max_requests = 6

    def parse(self, role, response):
        return response

    def advance(self, role, move):
        if role == "Sayer":
            self.set_context("Echoer", "The number is 1.")
        else:
            self.set_context("Sayer", "Go on.")

    def on_request_limit(self):  # ends nothing
        pass


class Crashing(EchoGame):
    def parse(self, role, response):
        return str(int(response.split(":")[-1]))  # ValueError on most replies


class Mute(EchoGame):
    def setup(self):
        super().setup()
        self.set_context("Sayer", None)


@pytest.mark.parametrize("master, check, detail", [
    (SharedCopy, "copy", "stepping a fork made after 0 replies changed the original episode"),
    (ForgetfulCopy, "copy", r"a fork made after [1-5] replies, given the original's next replies, ended differently"),
    (Counting, "replay", "replaying the same replies gave a different episode"),
    (IntKeys, "instance-round-trip", "the experiment and instance read back from JSON played differently"),
    (Endless, "ends", "the episode did not end after 7 replies"),
    (Crashing, "step", r"(a fork's )?step\(.*\) raised ValueError"),
    (Mute, "messages", "malformed messages for Sayer"),
])
def test_each_check_catches_the_bug_it_is_named_after(master, check, detail):
    rows = [InstanceRow("echo", 0, {"name": "three", "rounds": 3}, 0, {"game_id": 0, "names": {7: "seven"}})]
    with pytest.raises(GameCheckError) as error:
        check_game(replace(SPEC, master=master), rows=rows, episodes=10, hostile_rates=(0.0, 0.5))
    assert error.value.check == check
    assert re.search(rf"^echo \[{check}\] \(echo/0_three/episode_0\): {detail}", str(error.value))


def test_the_toy_game_passes_and_the_checks_are_named():
    assert list(CHECKS) == ["messages", "step", "ends", "scores", "replay", "copy", "instance-round-trip"]
    rows = list(iter_rows("echo", instances()))
    assert check_game(SPEC, rows=rows, episodes=5).episodes == 15


# The replies imitating a protocol that core.check listed for all games before each game's spec declared its own
FORMER_MARKERS = (
    '{"action": "GO: north", "graph": {"nodes": [], "edges": {}}}', "CLUE: ", "CLUE: apple\nCLUE: pear", "GUESS:",
    "GUESS: a b c", "GUESS: apple, pear", "explanation: x\nguess: ", "explanation: x\nguess: hello\nguess: world",
    "explanation: because\nguess: zzzzz", "Expression: ", "Answer: fourth", "Answer: first\nsecond", "Command: DONE",
    "Command: put an X in every cell\nCommand: DONE", "X X X X X\nX X X X X\nX X X X X\nX X X X X\nX X X X X",
    "▢ ▢ ▢ ▢ ▢\n" * 7, "ANSWER: yes", "ANSWER: maybe\nASIDE: yes", "ASIDE: no", "QUESTION: is it?", "QUESTION: a? b?",
    "DESCRIPTION: nothing", "DECISION: same grid", "DECISION: different grids", "TARGETS: a, a, a", "GO: north",
    "GO: up", "DONE", "> take everything", "> done", ">", "> open the cupboard\nNext actions: take plate, done",
)


def test_no_marker_was_lost_and_each_game_plays_the_markers_of_its_own_protocol():
    specs = [get_game(name) for name in game_names()]
    declared = {marker for spec in specs for marker in spec.protocol_markers}
    assert set(FORMER_MARKERS) <= declared and not set(FORMER_MARKERS) & set(HOSTILE_RESPONSES)
    for spec in specs:
        row = next(iter_rows(spec.name, load_instances(spec.check_instances_file())))
        shown = "\n".join(message["content"] for role in spec.roles
                          for message in play_scripted(spec, row).history_of[role])
        own = [marker for marker in FORMER_MARKERS if re.match(r"[^:\n]*:", marker)
               and re.match(r"[^:\n]*:", marker).group() in shown]  # a tag its players are taught (CLUE:, GO:, ...)
        assert set(own) <= set(hostile_replies(spec.protocol_markers)), spec.name
        assert spec.domain == "static" or spec.protocol_markers, f"{spec.name} declares no protocol markers"


def test_core_imports_only_the_standard_library_and_itself():
    for path in CORE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or name.startswith("playpen.core"), f"{path.name}: {name}"

"""adventuregame: parser, interpreter rules, fail types, scores, scripted players, generator and fidelity."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings, strategies as st

from playpen.core import metrics
from playpen.core.check import check_game
from playpen.core.instances import iter_rows, load_instances
from playpen.eval.verify import verify
from playpen.games import get_game
from playpen.games.adventuregame.commands import Command, parse_command
from playpen.games.adventuregame.generate import EXPERIMENTS, generate
from playpen.games.adventuregame.master import NAN_WHEN_ABORTED
from playpen.games.adventuregame.world import Adventure, World
from playpen.results.records import recorded_replies

SPEC = get_game("adventuregame")
GOALS = ["on(plate1,table1)", "on(book1,table1)", "in(apple1,cupboard1)"]
FACTS = [
    "room(kitchen1,kitchen)", "room(livingroom1,livingroom)", "room(hallway1,hallway)",
    "exit(kitchen1,livingroom1)", "exit(livingroom1,kitchen1)", "exit(kitchen1,hallway1)", "exit(hallway1,kitchen1)",
    "type(player1,player)", "at(player1,kitchen1)",
    "type(counter1,counter)", "at(counter1,kitchen1)", "type(cupboard1,cupboard)", "at(cupboard1,kitchen1)",
    "closed(cupboard1)", "type(table1,table)", "at(table1,livingroom1)", "type(sidetable1,sidetable)",
    "at(sidetable1,livingroom1)", "type(plate1,plate)", "at(plate1,kitchen1)", "on(plate1,counter1)",
    "type(book1,book)", "at(book1,livingroom1)", "on(book1,sidetable1)", "type(apple1,apple)",
    "at(apple1,livingroom1)", "on(apple1,table1)", "type(pillow1,pillow)", "at(pillow1,kitchen1)",
    "in(pillow1,cupboard1)", "type(mop1,mop)", "at(mop1,hallway1)", "on(mop1,hallway1floor1)",
]


def instance(variant: str = "basic", limit: bool = False, **extra) -> dict:
    return {
        "game_id": 0, "variant": variant, "initial_state": FACTS, "goal_state": GOALS, "max_turns": 50,
        "optimal_turns": 9,
        "action_definitions": ["basic_actions_v2_invlimit.json" if limit else "basic_actions_v2.json"],
        "room_definitions": ["home_rooms.json"], "entity_definitions": ["home_entities.json"],
        "domain_definitions": ["home_domain_invlimit.json" if limit else "home_domain.json"], **extra,
    }


def world(limit: bool = False) -> World:
    return World.start(Adventure.from_instance(instance(limit=limit)))


def episode(replies, variant="basic", limit=False, **extra):
    master = SPEC.new_episode({"name": "test"}, instance(variant, limit, **extra))
    for reply in replies:
        if master.done:
            break
        master.step(reply)
    return master


WIN = ["> take plate", "> go to living room", "> put plate on table", "> put book on table", "> take apple",
       "> go kitchen", "> open cupboard", "> put apple in cupboard", "> done"]


# ---------------------------------------------------------------- parser
@pytest.mark.parametrize("text, expected", [
    ("open cupboard", Command("open", "cupboard")),
    ("open the wooden cupboard", Command("open", "cupboard")),
    ("go to the living room", Command("go", "living room")),
    ("go back to kitchen", Command("go", "kitchen")),
    ("move to the hallway", Command("go", "hallway")),
    ("pick up the book from the side table", Command("take", "book", "side table", "from")),
    ("take the plate out of the cupboard", Command("take", "plate", "cupboard", "out of")),
    ("put the book back on the table", Command("put", "book", "table", "on")),
    ("put book down", Command("put", "book", "down")),
    ("place plate in cupboard", Command("put", "plate", "cupboard", "in")),
    ("check the bed", Command("examine", "bed")),
    ("done", Command("done")),
    ("done now", Command(None, "done")),
    ("open", Command(None, "open")),
    ("go to the room you came from", Command(None, "go")),
    ("look around", Command(None, "look")),
])
def test_parser_readings(text, expected):
    assert parse_command(text) == expected


@pytest.mark.parametrize("text", ["", " take plate", "take plate, then go", "take 2 plates", "what's that", "ñam"])
def test_parser_rejects_non_words(text):
    assert parse_command(text) is None


# ---------------------------------------------------------------- interpreter rules and fail types
def test_room_description_lists_visible_things_and_exits():
    text = world().describe_room()
    assert "kitchen" in text and "plate" in text and "counter" in text and "cupboard is closed" in text
    assert "pillow" not in text  # inside the closed cupboard
    assert "living room" in text and "hallway" in text


@pytest.mark.parametrize("commands, fail_type, phase", [
    (["take book"], "entity_not_accessible", "resolution"),
    (["take pillow"], "entity_not_accessible", "resolution"),  # in the closed cupboard
    (["close cupboard"], "entity_state_mismatch", "resolution"),
    (["open cupboard", "open cupboard"], "entity_state_mismatch", "resolution"),
    (["go kitchen"], "going_to_current_room", "resolution"),
    (["go living room", "go hallway"], "no_exit_to", "resolution"),
    # a room type absent from the adventure resolves to nothing, and clembench counts such facts as true
    (["go bedroom"], "going_to_current_room", "resolution"),
    (["go to table"], "domain_trait_type_mismatch", "resolution"),
    (["take counter"], "domain_trait_type_mismatch", "resolution"),
    (["examine kitchen"], "domain_type_discrepancy", "resolution"),
    (["take kitchen"], "manipulating_room", "parsing"),
    (["take plate from living room"], "other_room_argument", "parsing"),
    (["take plate from inventory"], "taking_from_inventory", "parsing"),
    (["take plate", "take plate from inventory"], "taking_from_inventory", "resolution"),
    (["take spoon"], "undefined_repr_str", "parsing"),
    (["eat plate"], "undefined_action_verb", "parsing"),
    (["take the plate and the book"], "malformed_command", "parsing"),
    (["take plate, quickly"], "lark_exception", "parsing"),
    (["put plate on sidetable"], "undefined_repr_str", "parsing"),
    (["put plate on side table"], "entity_not_accessible", "resolution"),
])
def test_fail_types(commands, fail_type, phase):
    w = world()
    for command in commands[:-1]:
        w.process(command)
    result = w.process(commands[-1])
    assert (result.ok, result.fail_type, result.phase) == (False, fail_type, phase)


def test_other_room_argument_matches_the_current_room_by_label():
    w = world()
    assert w.process("take plate from kitchen").fail_type == "domain_trait_type_mismatch"  # kitchen: not a receptacle
    w.process("go living room")
    # clembench compares the room type with the room's label: "living room" never matches "livingroom"
    assert w.process("take book from living room").fail_type == "other_room_argument"


def test_inventory_limit():
    w = world(limit=True)
    assert w.process("take plate").ok
    assert w.process("go living room").ok
    assert w.process("take book").ok
    assert w.process("take apple").fail_type == "inventory_limit_exceeded"
    assert w.process("take book").fail_type == "entity_already_inventory"
    assert w.process("put book on table").ok and w.process("take apple").ok


def test_actions_change_the_world():
    w = world()
    result = w.process("open cupboard")
    assert result.ok and "pillow" in result.feedback and w.holds(("accessible", "pillow1"))
    assert w.process("take pillow").ok and w.holds(("in", "pillow1", "inventory"))
    assert w.process("close cupboard").ok and not w.holds(("open", "cupboard1"))
    assert w.process("go living room").ok and w.holds(("at", "pillow1", "livingroom1"))
    assert w.process("examine table").ok
    # put needs the object in the room only, not in the inventory (as in clembench)
    assert w.process("put book on table.").ok and w.holds(("on", "book1", "table1"))
    assert w.process("done").done


def test_copy_branches_independently():
    master = episode(WIN[:2])
    branch = master.copy()
    branch.step("> put plate on table")
    assert len(branch.goals_known) == 1 and len(master.goals_known) == 0
    assert master.world.holds(("in", "plate1", "inventory"))


# ---------------------------------------------------------------- game master: format, end, scores
def test_win_scores_100():
    master = episode(WIN)
    episode_scores = master.scores()[metrics.EPISODE_SCORES_KEY]
    assert master.outcome.status.value == "success"
    assert episode_scores[metrics.MAIN_SCORE] == 100
    assert episode_scores["achieved_goal_ratio"] == 1.0
    assert episode_scores["turns_over_par"] == 0 and episode_scores["turn_ratio"] == 1.0
    assert episode_scores[metrics.REQUEST_COUNT] == 9


def test_early_done_loses_with_partial_score():
    master = episode(WIN[:3] + ["> done"])
    scores = master.scores()[metrics.EPISODE_SCORES_KEY]
    assert (scores[metrics.LOSE], scores[metrics.SUCCESS]) == (1, 0)
    assert scores[metrics.MAIN_SCORE] == pytest.approx(100 / 3)
    assert scores["hallucination_count"] == 1 and math.isnan(scores["turns_over_par"])


def test_missing_command_tag_aborts():
    master = episode(["> take plate", "I think the task is complete."])
    scores = master.scores()
    assert master.outcome.reason == "command_tag_missing"
    assert scores[metrics.EPISODE_SCORES_KEY][metrics.VIOLATED_REQUEST_COUNT] == 1
    assert scores[metrics.TURN_SCORES_KEY]["1"]["hallucination"] == 1
    # v2.0 scores aborted episodes by the goals achieved so far (0 here)
    assert scores[metrics.EPISODE_SCORES_KEY][metrics.MAIN_SCORE] == 0


def test_plan_variant_needs_next_actions_unless_done():
    assert episode(["> take plate"], variant="plan").outcome.reason == "next_actions_missing"
    master = episode(["> take plate\nNext actions: go to living room, put plate on table",
                      "> go to living room\nNext actions: put plate on table", "> done"], variant="plan")
    turns = master.scores()[metrics.TURN_SCORES_KEY]
    assert master.outcome.status.value == "lose"
    assert turns["0"]["plan_command_success_ratio"] == 1.0 and turns["1"]["plan_followed"] == 1
    assert master.world.holds(("in", "plate1", "inventory"))  # the plans ran on the side and were rolled back


def test_turn_limit_aborts_even_with_goals_met():
    replies = WIN[:-1] + ["> examine counter"] * 41 + ["> done"]
    master = episode(replies)
    scores = master.scores()[metrics.EPISODE_SCORES_KEY]
    assert master.requests == 50 and master.outcome.status.value == "aborted"
    assert scores["turn_limit_loss"] == 1 and scores[metrics.MAIN_SCORE] == 100  # v2.0: scored anyway
    fixed = episode(replies, **{NAN_WHEN_ABORTED: True}).scores()[metrics.EPISODE_SCORES_KEY]
    assert math.isnan(fixed[metrics.MAIN_SCORE])


def test_an_official_prompt_is_followed_by_the_first_room_description():
    master = SPEC.new_episode({"name": "x"}, instance("plan", True, prompt="Official rules.\n\n"))
    assert master.messages_for() == [{"role": "user", "content": (
        "Official rules.\n\nYou are in the kitchen. You can see a counter, a cupboard and a plate. The cupboard is "
        "closed. The plate is on the counter. From here you can go to the living room or the hallway.")}]


def test_prompt_is_ours_and_names_the_goals():
    master = SPEC.new_episode({"name": "x"}, instance("plan", True))
    text = master.messages_for()[0]["content"]
    assert text.startswith("Let's play a text adventure.")
    assert "Next actions:" in text and "two objects" in text and "> done" in text
    assert "plate on the table" in text and "apple in the cupboard" in text


# ---------------------------------------------------------------- contract, fuzzing, players
def test_check_game():
    report = check_game(SPEC, episodes=6)
    assert report.episodes == 18


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=12))
def test_any_replies_keep_the_contract(replies):
    master = episode([r if i % 2 else "> " + r for i, r in enumerate(replies)], variant="plan")
    if master.done:
        scores = master.scores()[metrics.EPISODE_SCORES_KEY]
        assert scores[metrics.ABORTED] + scores[metrics.SUCCESS] + scores[metrics.LOSE] == 1
        assert 0 <= scores[metrics.MAIN_SCORE] <= 100
    else:
        assert master.current_role == "Adventurer" and master.messages_for()


def _play(skill: str, split: str = "validation"):
    outcomes = []
    for row in iter_rows("adventuregame", load_instances(SPEC.instances_file(split))):
        master = SPEC.new_episode(row.experiment, row.instance)
        policy = SPEC.scripted("Adventurer", skill, row.experiment, row.instance, 7)
        while not master.done:
            master.step(policy(master.messages_for()))
        outcomes.append(master.outcome.status.value)
    return outcomes


def test_competent_player_wins():
    outcomes = _play("competent")
    assert outcomes.count("success") / len(outcomes) >= 0.9


def test_bad_player_rarely_wins():
    outcomes = _play("bad")
    assert outcomes.count("success") / len(outcomes) <= 0.1


# ---------------------------------------------------------------- generator
def test_generated_files_shape_and_disjoint_splits():
    adventures = {}
    for split in ("train", "validation", "test"):
        data = load_instances(SPEC.instances_file(split))
        assert [e["name"] for e in data["experiments"]] == [name for name, *_ in EXPERIMENTS]
        adventures[split] = {json.dumps([i["initial_state"], i["goal_state"]]) for e in data["experiments"]
                             for i in e["game_instances"]}
    assert len(adventures["test"]) == 32 and len(adventures["validation"]) == 4
    assert not adventures["train"] & adventures["test"] and not adventures["validation"] & adventures["test"]
    assert not adventures["train"] & adventures["validation"]


def test_optimal_commands_win_generated_instances():
    for row in list(iter_rows("adventuregame", load_instances(SPEC.instances_file("validation")))):
        master = SPEC.new_episode(row.experiment, row.instance)
        for command in row.instance["optimal_commands"] + ["done"]:
            master.step(f"> {command}\nNext actions: done")
        assert master.outcome.status.value == "success"
        assert master.requests - 1 == row.instance["optimal_turns"]


def test_generator_is_seeded():
    small = {"train": 1, "validation": 1, "test": 1}
    first = generate(3, small)
    assert first == generate(3, small) and first != generate(4, small)
    assert len(first["test"]["experiments"]) == 8


# ---------------------------------------------------------------- official instances and fidelity
def test_official_instances_load_and_optimal_commands_win(clembench_instances):
    rows = list(iter_rows("adventuregame", load_instances(clembench_instances / "adventuregame/in/instances.json")))
    assert len(rows) == 128
    outcomes = []
    for row in rows:
        master = SPEC.new_episode(row.experiment, row.instance)
        assert master.messages_for()[0]["content"].startswith(row.instance["prompt"] + "You are in the ")
        failures = [master.world.process(c).fail_type for c in row.instance["optimal_commands"]]
        outcomes.append(master.world.goals_met() == frozenset(master.adventure.goals))
        if not outcomes[-1]:
            # clembench reused the unlimited solutions for the inventory-limit experiments, and hard adventure 10
            # has its book "at" the living room but on a table elsewhere, so clembench cannot take it either
            limited = "invlimittwo" in row.experiment["name"] and "inventory_limit_exceeded" in failures
            assert limited or (row.instance["game_id"] == 10 and "hard" in row.experiment["name"])
    assert sum(outcomes) == 116


def test_verify_agrees_on_every_recorded_episode(clembench_runs):
    for run in clembench_runs:
        checks = verify(run, {"adventuregame"})
        assert len(checks) == 24
        assert [c.reason for c in checks if c.status != "agree"] == []


def _same(a, b) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b or (isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) < 1e-9)


def test_every_turn_and_episode_score_matches_the_records(clembench_runs):
    """Beyond verify's four figures: fail types, goal scores, exploration and plan metrics, per turn."""
    compared = 0
    for run in clembench_runs:
        for path in sorted(run.glob("*/adventuregame/*/episode_*")):
            interactions = json.loads((path / "interactions.json").read_text())
            recorded = json.loads((path / "scores.json").read_text())
            experiment = json.loads((path.parent / "experiment.json").read_text())
            record = SPEC.replay_instance(json.loads((path / "instance.json").read_text()), interactions)
            master = SPEC.new_episode(experiment, record)
            for reply in recorded_replies(interactions):
                master.step(reply)
            ours = master.scores()
            for turn, scores in recorded["turn scores"].items():
                for key, value in scores.items():
                    assert _same(value, ours["turn scores"][turn][key]), (path, turn, key)
                    compared += 1
            for key, value in recorded["episode scores"].items():
                assert _same(value, ours["episode scores"][key]), (path, key)
    assert compared > 50_000

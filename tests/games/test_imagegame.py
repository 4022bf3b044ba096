import collections
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playpen.core.check import check_game, check_scores, finish_scripted, play_scripted
from playpen.core.instances import iter_rows, load_instances
from playpen.core.master import Status
from playpen.eval.verify import verify
from playpen.games import get_game, grids
from playpen.games.imagegame import GAMES, replay_instance
from playpen.games.imagegame.generate import SIZES, generate
from playpen.games.imagegame.master import ROUND_CAP_KEY
from playpen.games.imagegame.players import command_cells, command_plan
from playpen.games.imagegame.prompts import NEXT_COMMAND
from playpen.games.imagegame.scoring import changed_cell_count, precision_recall_f1

SPEC = GAMES["imagegame"]
GIVER, FOLLOWER = SPEC.roles
E = "▢"
EMPTY = "\n".join([" ".join([E] * 5)] * 5)
TARGET = "\n".join(["V V V V V", f"{E} {E} {E} {E} {E}", "V V V V V", f"{E} {E} {E} {E} {E}", "V V V V V"])


def grid(*rows: str) -> str:
    """``grid("VV...", ...)``: one string of cells per row, "." for an empty cell."""
    return "\n".join(" ".join(E if cell == "." else cell for cell in row) for row in rows)


def play(replies, target=TARGET, **extra):
    master = SPEC.new_episode({"name": "compact_grids"}, {"game_id": 0, "target_grid": target, "grid_dimension": 5, **extra})
    for reply in replies:
        master.step(reply)
    return master


def episode(master):
    return master.scores()["episode scores"]


FIRST_ROW = grid("VVVVV", ".....", ".....", ".....", ".....")
TWO_ROWS = grid("VVVVV", ".....", "VVVVV", ".....", ".....")


# ---------------------------------------------------------------------------------------------- rules
def test_roles_and_registry():
    assert SPEC.roles == ("Instruction Giver", "Instruction Follower")
    assert SPEC.domain == "in"
    assert get_game("imagegame") is SPEC


def test_giver_sees_target_and_follower_gets_first_line_of_instruction():
    master = play([])
    first = master.messages_for(GIVER)[-1]["content"]
    assert TARGET in first and first.endswith(NEXT_COMMAND)
    master.step("Command: Fill the first row with V")
    follower_context = master.messages_for(FOLLOWER)[-1]["content"]
    assert follower_context.endswith("\n\nCommand: Fill the first row with V")
    assert master.rounds[0][-1]["action"] == {"type": "found instruction", "content": "Command: Fill the first row with V"}
    master.step(FIRST_ROW)
    assert master.current_role == GIVER and master.current_round == 1
    assert master.messages_for(GIVER)[-1]["content"] == NEXT_COMMAND
    master.step("command: fill the third row with V\n")
    assert master.messages_for(FOLLOWER)[-1]["content"] == "command: fill the third row with V"


def test_an_official_instance_s_texts_are_sent_as_clembench_sends_them():
    master = play([], player_1_prompt_header="Describe this:", player_1_question="Next?",
                  player_2_prompt_header="Draw what you are told.")
    assert master.messages_for(GIVER)[-1]["content"] == f"Describe this:\n{TARGET}\nNext?"
    master.step("Command: Fill the first row with V")
    assert master.messages_for(FOLLOWER)[-1]["content"] == (
        "Draw what you are told.\n\nCommand: Fill the first row with V")
    master.step(FIRST_ROW)
    assert master.messages_for(GIVER)[-1]["content"] == "Next?"


def test_giver_never_sees_the_drawn_grid():
    master = play(["Command: Fill the first row with V", FIRST_ROW, "Command: DONE"])
    assert all(FIRST_ROW not in m["content"] for m in master.history_of[GIVER])


@pytest.mark.parametrize("reply", ["Command: DONE", "command:done", "COMMAND : Done", "  Command: DONE  "])
def test_done_variants_end_the_episode(reply):
    master = play(["Command: Fill the first row with V", FIRST_ROW, reply])
    assert master.done and master.outcome.status is Status.LOSE
    assert master.rounds[-1][-1]["action"]["type"] == "found terminate pattern"


@pytest.mark.parametrize("reply", [
    "Put a V in the first row",  # no prefix
    "Command:Put a V in the first row",  # clembench needs "command: " with the space
    "Command:",
    "Command: Put an E in the second row\n\nWhat is your next command?",  # real failure in the fixtures
    "Command: DONE\nThanks!",
    "Instruction: put a V",
    "",
])
def test_bad_instruction_aborts(reply):
    master = play([reply])
    assert master.outcome.status is Status.ABORTED
    scores = episode(master)
    assert scores["Aborted"] == 1 and math.isnan(scores["Main Score"]) and math.isnan(scores["F1"])
    assert (scores["Request Count"], scores["Violated Request Count"]) == (1, 1)
    assert master.rounds[0][-1]["action"] == {"type": "invalid format", "content": "Invalid instruction format"}


@pytest.mark.parametrize("reply", [
    FIRST_ROW + "<|end_of_text|>",
    "V V V V V V\n" + "\n".join([" ".join([E] * 5)] * 4),  # six cells in a row
    FIRST_ROW.lower(),  # letters must be upper case
    "Here is the grid:\n" + FIRST_ROW,
    FIRST_ROW.replace(E, "."),
    "\n".join(FIRST_ROW.split("\n")[:4]),  # four rows
])
def test_bad_grid_aborts(reply):
    master = play(["Command: Fill the first row with V", reply])
    assert master.outcome.status is Status.ABORTED
    scores = episode(master)
    assert (scores["Request Count"], scores["Parsed Request Count"], scores["Violated Request Count"]) == (2, 1, 1)
    assert master.rounds[0][-1]["action"] == {"type": "invalid format", "content": "Invalid grid format"}


def test_grid_with_surrounding_blank_lines_is_accepted():
    master = play(["Command: Fill the first row with V", "\n\n" + FIRST_ROW + "\n\n", "Command: DONE"])
    assert master.outcome.status is Status.LOSE


# ---------------------------------------------------------------------------------------------- scores
def test_perfect_drawing_succeeds():
    master = play(["Command: Fill rows 1, 3 and 5 with V", TARGET, "Command: DONE"])
    scores = episode(master)
    assert master.outcome.status is Status.SUCCESS
    assert (scores["Precision"], scores["Recall"], scores["F1"], scores["Main Score"]) == (100, 100, 100, 100)
    assert (scores["Success"], scores["Lose"], scores["Aborted"]) == (1, 0, 0)
    assert scores["Request Count"] == 3 and scores["Request Success Ratio"] == 1.0


def test_partial_drawing_scores_f1():
    # 10 of 15 target cells, no wrong cell: P 1.0, R 0.6667, F1 0.8
    master = play(["Command: Fill the first row with V", FIRST_ROW, "Command: Fill the third row with V", TWO_ROWS, "Command: DONE"])
    scores = episode(master)
    assert (scores["Precision"], scores["Recall"], scores["F1"], scores["Main Score"]) == (100, 67, 80, 80)
    assert master.outcome.status is Status.LOSE and scores["Lose"] == 1
    turns = master.scores()["turn scores"]
    assert (turns["0"]["Precision"], turns["0"]["Recall"], turns["0"]["F1"]) == (100, 33, 50)
    assert turns["0"]["Changed Cell Count"] == 5 and turns["1"]["Changed Cell Count"] == 5


def test_f1_from_the_fixture_target():
    # 15 right cells and 5 wrong ones: P 0.75, R 1.0, F1 0.8571 -> 86 (llama3-8b, compact episode 0)
    drawn = grid("VVVVV", "VVVVV", "VVVVV", ".....", "VVVVV")
    assert precision_recall_f1(TARGET, drawn) == (75.0, 100.0, 86.0)


def test_f1_ignores_letter_case_and_counts_wrong_letters():
    assert precision_recall_f1("a ▢\n▢ b", "A ▢\n▢ B") == (100.0, 100.0, 100.0)
    assert precision_recall_f1("A ▢\n▢ B", "A ▢\n▢ C") == (50.0, 50.0, 50.0)
    assert precision_recall_f1("A ▢\n▢ B", "▢ C\n▢ ▢") == (0.0, 0.0, 0)


def test_shape_mismatch_scores_zero_but_unscorable_grids_keep_previous_scores():
    assert precision_recall_f1(TARGET, "V V V\nV V V") == (0.0, 0.0, 0.0)
    assert precision_recall_f1(TARGET, EMPTY) is None  # clembench divides by zero: nothing drawn
    # a tab passes the regex but splits into 4 cells: in the first row the width check says 0 ...
    assert precision_recall_f1(TARGET, TARGET.replace("V V", "V\tV", 1)) == (0.0, 0.0, 0.0)
    # ... in a later row clembench's evaluator fails, and the previous scores stay
    ragged = "\n".join(row if index != 2 else row.replace("V V", "V\tV", 1) for index, row in enumerate(TARGET.split("\n")))
    assert precision_recall_f1(TARGET, ragged) is None
    assert changed_cell_count(EMPTY, ragged) == 0
    assert changed_cell_count(EMPTY, TARGET) == 15


def test_empty_drawn_grid_keeps_the_previous_turn_scores():
    master = play(["Command: Fill the first row with V", FIRST_ROW, "Command: Clear everything", EMPTY, "Command: DONE"])
    turns = master.scores()["turn scores"]
    assert turns["1"]["F1"] == turns["0"]["F1"] == 50
    assert turns["1"]["Changed Cell Count"] == 5
    assert episode(master)["Main Score"] == 50


def test_grid_with_extra_text_lines_resets_scores_to_zero():
    # "\s" in clembench's pattern also matches a newline: six text lines pass, and the size check gives 0
    six_lines = "V\nV V V V\nV V V V V\nV V V V V\nV V V V V\nV V V V V"
    master = play(["Command: Fill the first row with V", FIRST_ROW, "Command: Fill everything", six_lines, "Command: DONE"])
    assert episode(master)["F1"] == 0 and master.outcome.status is Status.LOSE


def test_instruction_metrics_and_averages():
    master = play(["Command: Fill the first row with V", FIRST_ROW, "Command: Fill the third row with V", TWO_ROWS, "Command: DONE"])
    turns, scores = master.scores()["turn scores"], episode(master)
    assert turns["0"]["Generated Expression Length"] == len("Command: Fill the first row with V")
    assert turns["0"]["Generated Expression Number of Tokens"] == 7
    assert scores["Average Generated Instruction Length"] == 34.0
    assert scores["Average Generated Expression Number of Tokens"] == 7.0
    assert scores["Average Changed Cell Count"] == 5.0
    assert "F1" not in turns["2"]  # the DONE round has request counts only


def test_done_on_the_first_turn_loses_with_zero():
    master = play(["Command: DONE"])
    scores = episode(master)
    assert master.outcome.status is Status.LOSE
    assert (scores["Main Score"], scores["F1"], scores["Precision"], scores["Recall"]) == (0, 0, 0, 0)
    assert math.isnan(scores["Average Changed Cell Count"])
    check_scores(master)


def test_round_cap_is_25_in_v2():
    replies = []
    for _ in range(25):
        replies += ["Command: Fill the first row with V", FIRST_ROW]
    master = play(replies)
    assert master.done and master.outcome.status is Status.LOSE and len(master.rounds) == 25
    assert master.rounds[-1][-1]["action"] == {"type": "game end", "content": "turn limit reached"}
    assert episode(master)["Main Score"] == 50


def test_round_cap_can_be_raised_and_replays_of_clemcore3_records_use_50():
    replies = []
    for _ in range(25):
        replies += ["Command: Fill the first row with V", FIRST_ROW]
    master = play(replies, **{ROUND_CAP_KEY: 50})
    assert not master.done and master.current_role == GIVER
    instance = {"game_id": 1, "grid_dimension": 5, "target_grid": TARGET}
    assert replay_instance(instance, {"meta": {"clem_version": "3.2.0"}})[ROUND_CAP_KEY] == 50
    assert ROUND_CAP_KEY not in replay_instance(instance, {"meta": {"clem_version": "2.4.1"}})
    assert ROUND_CAP_KEY not in replay_instance(instance, {"meta": {}})


def test_replies_are_stripped_like_clembench_backends():
    master = play(["  Command: Fill the first row with V  ", "\n" + FIRST_ROW + "  ", "Command: DONE"])
    assert episode(master)["F1"] == 50


# ---------------------------------------------------------------------------------------------- grids
def test_grid_helpers():
    shape = grids.from_pattern("X..../XX.../...../...../.....")
    assert grids.render_grid(shape).split("\n")[1] == f"X X {E} {E} {E}"
    assert grids.parse_grid(grids.render_grid(shape)) == shape
    assert grids.rotate(grids.rotate(grids.rotate(grids.rotate(shape)))) == shape
    assert grids.flip_horizontal(shape)[0] == (E, E, E, E, "X")
    assert grids.flip_vertical(shape)[4] == ("X",) + (E,) * 4
    assert len(grids.symmetries(shape)) == 8
    assert len(grids.symmetries(grids.from_pattern(grids.SHAPES[0]))) == 1  # the plus is symmetric
    assert grids.canonical(shape) == grids.canonical(grids.rotate(shape))
    assert grids.differing_cells(shape, grids.invert_cells(shape, [(0, 0), (4, 4)])) == [(0, 0), (4, 4)]
    assert grids.relabel(shape, "Q")[0][0] == "Q"
    assert all(len(s.split("/")) == 5 and all(len(row) == 5 for row in s.split("/")) for s in grids.SHAPES)


# ---------------------------------------------------------------------------------------------- players
def test_command_language():
    assert command_cells("Command: Put an A in the second row, fourth column", 5) == ([(1, 3)], "A")
    assert command_cells("Command: put a b in row 5 column 1", 5) == ([(4, 0)], "B")
    assert command_cells("Command: Fill the last column with K", 5) == ([(r, 4) for r in range(5)], "K")
    assert command_cells("Command: Fill the whole grid with Z", 5)[0][-1] == (4, 4)
    assert command_cells("Command: Put a V in the sixth row, first column", 5) is None
    assert command_cells("Command: draw a cat", 5) is None
    plan = command_plan(grids.parse_grid(TARGET))
    assert plan == [f"Command: Fill the {o} row with V" for o in ("first", "third", "fifth")]


def _play_scripted(rows, skill):
    outcomes = collections.Counter()
    for seed, row in enumerate(rows):
        master = play_scripted(SPEC, row, skill, seed)
        check_scores(master)
        outcomes[master.outcome.status] += 1
    return outcomes


def test_competent_players_win_and_bad_players_do_not():
    rows = list(iter_rows("imagegame", load_instances(SPEC.instances_file("validation"))))
    rows += list(iter_rows("imagegame", load_instances(SPEC.instances_file("test"))))
    competent, bad = _play_scripted(rows, "competent"), _play_scripted(rows, "bad")
    assert competent[Status.SUCCESS] / len(rows) >= 0.95
    assert (bad[Status.LOSE] + bad[Status.ABORTED]) / len(rows) >= 0.9
    assert bad[Status.LOSE] > 0 and bad[Status.ABORTED] > 0


def test_scripted_players_are_deterministic():
    row = next(iter_rows("imagegame", load_instances(SPEC.instances_file("validation"))))
    for role in SPEC.roles:
        master = SPEC.new_episode(row.experiment, row.instance)
        if role == FOLLOWER:
            master.step("Command: Put a Q in the first row, first column")
        messages = master.messages_for(role)
        replies = {SPEC.scripted(role, "bad", row.experiment, row.instance, 7)(messages) for _ in range(3)}
        assert len(replies) == 1


def test_unknown_role_or_skill():
    row = next(iter_rows("imagegame", load_instances(SPEC.instances_file("validation"))))
    with pytest.raises(ValueError):
        SPEC.scripted("Drawer", "competent", row.experiment, row.instance, 0)
    with pytest.raises(ValueError):
        SPEC.scripted(GIVER, "genius", row.experiment, row.instance, 0)


# ---------------------------------------------------------------------------------------------- contract
def test_check_game():
    report = check_game(SPEC, episodes=12)
    assert report.episodes == 36


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("Command:DONE VXQ▢\n\t abc")), max_size=60), max_size=12)
       | st.lists(st.text(), max_size=12))
def test_any_replies_end_in_a_defined_outcome(replies):
    row = next(iter_rows("imagegame", load_instances(SPEC.instances_file("validation"))))
    master = SPEC.new_episode(row.experiment, row.instance)
    for reply in replies:
        if master.done:
            break
        master.step(reply)
    finish_scripted(SPEC, master, row)
    check_scores(master)
    replayed = SPEC.new_episode(row.experiment, row.instance)
    for reply in master.responses:
        replayed.step(reply)
    assert replayed.rounds == master.rounds
    assert json.dumps(replayed.scores()) == json.dumps(master.scores())


# ---------------------------------------------------------------------------------------------- instances
def test_generated_files_are_the_generator_output_and_splits_are_disjoint():
    generated = generate(0)
    layouts = {}
    for split, data in generated.items():
        assert load_instances(SPEC.instances_file(split)) == json.loads(json.dumps(data))
        assert {e["name"]: len(e["game_instances"]) for e in data["experiments"]} == SIZES[split]
        shapes = set()
        for experiment in data["experiments"]:
            for instance in experiment["game_instances"]:
                target = grids.parse_grid(instance["target_grid"])
                assert len({cell for row in target for cell in row} - {E}) == 1  # one letter
                shape = grids.relabel(target, "X")
                # compact shapes: whole symmetry families per split
                shapes.add(grids.canonical(shape) if experiment["name"] == "compact_grids" else shape)
        layouts[split] = shapes
    assert not layouts["train"] & layouts["test"]
    assert not layouts["train"] & layouts["validation"]
    assert not layouts["validation"] & layouts["test"]
    assert generate(0) == generated and generate(1) != generated


def test_official_instances_load_and_play(clembench_instances):
    for name in ("instances.json", "instances_v1.6.json", "instances_v0.9.json"):
        rows = list(iter_rows("imagegame", load_instances(clembench_instances / "imagegame" / "in" / name)))
        outcomes = _play_scripted(rows[::7], "competent")
        assert outcomes[Status.SUCCESS] == len(rows[::7]), name
    official = load_instances(clembench_instances / "imagegame" / "in" / "instances.json")
    assert {e["name"]: len(e["game_instances"]) for e in official["experiments"]} == SIZES["test"]


@pytest.mark.parametrize("run", ["llama3-8b-base", "tulu3-8b"])
def test_fidelity_against_clembench_records(fixtures_dir, run):
    checks = verify(fixtures_dir / "clembench-runs" / run, {"imagegame"})
    assert len(checks) == 11
    assert [c.reason for c in checks if c.status != "agree"] == []

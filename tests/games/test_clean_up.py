import collections
import json
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playpen.core.check import check_game, check_replies, check_scores, play_scripted
from playpen.core.instances import iter_rows, load_instances
from playpen.core.master import Status
from playpen.eval.verify import InstanceFiles, verify
from playpen.games import get_game
from playpen.games.clean_up import GAMES, scoring
from playpen.games.clean_up.board import Board
from playpen.games.clean_up.generate import BACKGROUNDS, MOVE_MESSAGES, PER_EXPERIMENT, generate, instance
from playpen.games.clean_up.players import next_move
from playpen.results.records import recorded_messages

SPEC = GAMES["clean_up"]
P1, P2 = SPEC.roles
BACKGROUND = "╔═══╗\n║◌◌◌║\n║◌│◌║\n║◌◌◌║\n╚═══╝"


def small(objects_1=((1, 1), (3, 3)), objects_2=((3, 1), (1, 3)), **changes):
    """A 3x3 board (a wall in the middle) with objects A and B, in our wording; 6 penalties, 8 rounds."""
    inst = instance(0, BACKGROUND, 2, random.Random(0))
    inst["objects_1"] = [{"id": i, "coord": list(c)} for i, c in zip("AB", objects_1)]
    inst["objects_2"] = [{"id": i, "coord": list(c)} for i, c in zip("AB", objects_2)]
    return {**inst, **changes}


def play(replies, inst=None):
    master = SPEC.new_episode({"name": "test"}, inst or small())
    for reply in replies:
        master.step(reply)
    return master


def episode(master):
    return master.scores()["episode scores"]


def last_message(master, role):
    return master.messages_for(role)[-1]["content"]


# ---------------------------------------------------------------------------------------------- board
def test_board_renders_coordinates_and_moves_objects():
    board = Board(BACKGROUND, [{"id": "A", "coord": [1, 1]}], MOVE_MESSAGES)
    assert board.render() == " 123\n╔═══╗\n║A◌◌║ 1\n║◌│◌║ 2\n║◌◌◌║ 3\n╚═══╝\n"
    assert board.move("A", 2, 2).message == "Penalty: (2,2) is blocked by '│'.\n"
    assert board.move("A", 9, 1).message == "Penalty: (9,1) is not on the board.\n"
    assert board.move("Z", 1, 2).message == "Penalty: there is no object 'Z' on your board.\n"
    result = board.move("A", 3, 3)
    assert result.ok and board.objects == {"A": (3, 3)} and board.is_free(1, 1)
    assert result.message == "You moved 'A' to (3,3). Your board now:\n```\n 123\n╔═══╗\n║◌◌◌║ 1\n║◌│◌║ 2\n║◌◌A║ 3\n╚═══╝\n```\n"


def test_expected_distance_sum_is_clembenchs_random_placement_distance():
    # 9x9 block, 3 objects: the value every v3.0 clean_up record logs
    board = Board("\n".join(["◌" * 9] * 9), [{"id": c, "coord": [i, 1]} for i, c in enumerate("ABC")], MOVE_MESSAGES)
    assert board.expected_distance_sum() == pytest.approx(12.570787221094177, abs=1e-12)


# ---------------------------------------------------------------------------------------------- scores
def test_score_formulas():
    assert scoring.penalty_score(0, 8) == 1.0
    assert scoring.penalty_score(5, 8) == pytest.approx(0.7727272727272727)
    assert scoring.penalty_score(8, 8) == 0.5
    assert scoring.distance_score(0.0, 14.8, 12.57) == 1.0
    assert scoring.distance_score(5.0, 14.79669127533634, 12.570787221094177) == pytest.approx(0.6321695264959064)
    assert scoring.distance_score(13.0, 14.8, 12.57) == 0.0  # worse than random
    assert scoring.consistency_score(3, 3) == pytest.approx(2 / 3)
    assert scoring.consistency_score(1, 3) is None
    moves = [("Player 1", "C"), ("Player 2", "L"), ("Player 2", "P")]
    assert scoring.shifts(moves + [("Player 1", "P")]) == 2
    assert scoring.coverage_score(moves, ("Player 1", "Player 2"), 3) == pytest.approx(2 / 4 * 3 / 4)
    assert scoring.main_score({"Distance Score": 0.6321695264959064, "Penalty Score": 0.5}) == pytest.approx(31.60847632479532)


# ---------------------------------------------------------------------------------------------- rules
def test_player_1_must_open_with_a_message():
    master = play(["MOVE: A, (2, 1)"])
    assert master.current_role == P1 and master.penalties == 1
    assert last_message(master, P1) == ("Penalty: the game starts with a message to your partner (SAY).\n"
                                        "Reply with exactly one `SAY: <message>` or `MOVE: <object>, (<x>, <y>)` "
                                        "command.\n\nPenalties so far: 1 of at most 6.\nPlease try again.")
    assert master.violated_request_counts == [1]


@pytest.mark.parametrize("reply, key", [
    ("Hi! SAY: hello", "head"), ("SAY: hello\nbye", "tail"), ("x\nSAY: hello\ny", "head_tail"),
    ("SAY: hi\nMOVE: A, (2, 1)", "several_commands"), ("hello", "invalid_format"), ("SAY:hello", "invalid_format"),
])
def test_format_errors_cost_a_penalty_and_the_player_tries_again(reply, key):
    master = play(["SAY: let us start", reply])
    assert master.current_role == P2 and master.penalties == 1 and not master.done
    assert master.messages_for(P2)[-1]["content"].startswith(f"Penalty: {master.parse_errors[key]}\n")
    assert master.stats[scoring.PARSE_ERRORS] == 1


def test_backticks_are_removed_and_relay_prefixes_the_next_message():
    master = play(["```\nSAY: put A at (2,1)\n```"])
    assert master.current_role == P2
    assert last_message(master, P2).endswith('Your partner opened the game with this message:\n\n"put A at (2,1)"\n\n'
                                             "What is your command?")
    master.step("MOVE: A, (2, 1)")  # P2's valid move ends round 0
    assert master.current_role == P1 and master.round == 1 and master.current_round == 1
    assert last_message(master, P1) == ("Your partner got your message.\n\nRound 1 of at most 8.\n"
                                        "Penalties so far: 0 of at most 6.\nYour partner moved one of their objects."
                                        "\n\nYour command?")
    master.step("SAY: done?")
    assert last_message(master, P2).startswith("You moved 'A' to (2,1). Your board now:\n```\n 123\n")


def test_an_invalid_move_costs_a_penalty_but_is_no_violated_request():
    master = play(["SAY: go", "MOVE: B, (2, 2)"])
    assert master.current_role == P2 and master.penalties == 1
    assert master.violated_request_counts == [0] and master.stats[scoring.INVALID_MOVES] == 1
    assert last_message(master, P2) == "Penalty: (2,2) is blocked by '│'.\n\nPenalties so far: 1 of at most 6.\nPlease try again."


def test_finished_question_and_answer_end_the_game():
    master = play(["SAY: A to (3,1), B to (1,3)", "SAY: ok", "MOVE: A, (3, 1)", "SAY: go on", "MOVE: B, (1, 3)",
                   "SAY: finished?"])
    assert not master.done
    master.step("SAY: finished!")  # answered after the partner asked
    assert master.outcome.status is Status.SUCCESS
    scores = episode(master)
    assert (scores["Success"], scores["Lose"], scores["Aborted"]) == (1, 0, 0)
    assert scores["End Distance Sum"] == 0 and scores["Rounds"] == 3 and scores["Penalties"] == 0
    assert scores["Main Score"] == 100.0 and scores["Moves"] == [["Player 1", "A"], ["Player 1", "B"]]


def test_finished_answer_without_a_question_goes_on():
    master = play(["SAY: finished!", "SAY: finished!"])
    assert not master.done and master.current_role == P1


def test_too_many_penalties_abort_and_count_as_a_loss():
    master = play(["oops"] * 7)
    assert master.outcome.status is Status.ABORTED and master.penalties == 7
    scores = episode(master)
    assert (scores["Aborted"], scores["Lose"], scores["Success"]) == (1, 1, 0)
    assert math.isnan(scores["Main Score"])


def test_the_round_limit_ends_the_game_as_a_success_or_a_loss():
    master = play(["SAY: wait"] * 16)  # 8 rounds, boards still apart: distance 4 < expected 4.99
    assert master.outcome.status is Status.SUCCESS and master.round == 8
    scores = episode(master)
    assert scores["Main Score"] == pytest.approx(scoring.distance_score(4.0, 4.0, scores["Expected Distance Sum"]) * 100)
    far = play(["SAY: wait"] * 16, small(objects_1=((1, 1), (1, 3)), objects_2=((3, 3), (3, 1))))
    far_scores = episode(far)
    assert far_scores["End Distance Sum"] > far_scores["Expected Distance Sum"]
    assert far.outcome.status is Status.LOSE
    assert (far_scores["Success"], far_scores["Lose"], far_scores["Main Score"]) == (1, 1, 0.0)


def test_restricted_content_is_a_parse_error():
    master = play(["SAY: my secret"], small(restricted_patterns=["secret"]))
    assert master.current_role == P1 and master.penalties == 1
    assert last_message(master, P1).startswith("Penalty: your message holds content that is not allowed.")


def test_record_keys_are_the_ones_clembenchs_scorer_reads():
    master = play(["SAY: A to (3,1), B to (1,3)", "SAY: ok", "MOVE: A, (3, 1)", "SAY: go on", "MOVE: B, (1, 3)",
                   "SAY: finished?", "SAY: finished!"])
    keys = master.record_keys()
    for key in ("Moves", "Init States", "End States", "Shifts", "Max Shifts", "Min Shifts", "End Distance Sum",
                "Init Distance Sum", "Expected Distance Sum", "Penalties", "Max Penalties", "Rounds", "Max Rounds",
                "Object Count", "Aborted", "Lose", "Success", "Valid Moves", "Invalid Moves", "Parse Errors"):
        assert key in keys, key
    assert keys["Init States"]["state_2"] == [{"id": "A", "coord": [3, 1]}, {"id": "B", "coord": [1, 3]}]


# ---------------------------------------------------------------------------------------------- players
def test_next_move_parks_a_blocker_when_goals_block_each_other():
    board = Board(BACKGROUND, [{"id": "A", "coord": [1, 1]}, {"id": "B", "coord": [3, 1]}], MOVE_MESSAGES)
    obj, x, y = next_move(board, {"A": (3, 1), "B": (1, 1)})
    assert obj == "A" and (x, y) not in {(1, 1), (3, 1)} and board.is_free(x, y)
    assert next_move(board, {"A": (1, 1), "B": (3, 1)}) is None


def _outcomes(rows, skill):
    outcomes, scores = collections.Counter(), []
    for seed, row in enumerate(rows):
        master = play_scripted(SPEC, row, skill, seed)
        check_scores(master)
        outcomes[master.outcome.status] += 1
        scores.append(master.scores()["episode scores"]["Main Score"])
    return outcomes, scores


def test_competent_players_win_and_bad_players_do_not():
    rows = list(iter_rows(SPEC.name, load_instances(SPEC.instances_file("test"))))
    competent, scores = _outcomes(rows, "competent")
    assert competent[Status.SUCCESS] == len(rows) and all(score == 100 for score in scores)
    bad, bad_scores = _outcomes(rows, "bad")
    assert bad[Status.ABORTED] > len(rows) / 3
    assert sum(0 if math.isnan(score) else score for score in bad_scores) / len(rows) < 30


def test_unknown_role_or_skill():
    row = next(iter_rows(SPEC.name, load_instances(SPEC.instances_file("validation"))))
    with pytest.raises(ValueError):
        SPEC.scripted("GridCleaner", "competent", row.experiment, row.instance, 0)
    with pytest.raises(ValueError):
        SPEC.scripted(P1, "genius", row.experiment, row.instance, 0)


# ---------------------------------------------------------------------------------------------- contract
def test_check_game():
    report = check_game(SPEC, episodes=10)
    assert report.episodes == 30


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["SAY: hi", "SAY: finished?", "SAY: finished!", "MOVE: A, (1, 1)", "MOVE: B, (2, 3)",
                                 "x SAY: y", "", "MOVE: Q, (0, 0)"]), max_size=30) | st.lists(st.text(), max_size=20))
def test_any_replies_end_in_a_defined_outcome(replies):
    row = next(iter_rows(SPEC.name, load_instances(SPEC.instances_file("validation"))))
    check_replies(SPEC, row, replies)


# ---------------------------------------------------------------------------------------------- instances
def test_generated_files_are_the_generator_output_and_splits_are_disjoint():
    splits = generate(SPEC.seed)
    for split, data in splits.items():
        assert load_instances(SPEC.instances_file(split)) == json.loads(json.dumps(data))
        assert len(data["experiments"]) == 9
        for experiment in data["experiments"]:
            assert len(experiment["game_instances"]) == PER_EXPERIMENT[split]
    backgrounds = {split: {i["background"] for e in d["experiments"] for i in e["game_instances"]}
                   for split, d in splits.items()}
    assert backgrounds == {split: set(BACKGROUNDS[split]) for split in splits}
    assert not backgrounds["train"] & backgrounds["test"] and not backgrounds["validation"] & backgrounds["test"]
    assert generate(1) != splits


def test_generated_prompts_carry_only_the_start_message_placeholder():
    inst = generate(0)["test"]["experiments"][0]["game_instances"][0]
    assert "$" not in inst["p1_initial_prompt"]
    assert inst["p2_initial_prompt"].count("$") == 1 and "$start_message" in inst["p2_initial_prompt"]


def _official(clembench_instances):
    path = clembench_instances / "clean_up" / "in" / "instances_en.json"
    if not path.is_file():
        pytest.skip("clembench's clean_up instances are absent")
    return path


def test_official_instances_load_and_play(clembench_instances):
    rows = list(iter_rows(SPEC.name, load_instances(_official(clembench_instances))))
    assert len(rows) == 27
    outcomes, scores = _outcomes(rows, "competent")
    assert outcomes[Status.SUCCESS] == 27 and all(score == 100 for score in scores)


def test_verify_agrees_with_the_v3_records(fixtures_dir, clembench_instances):
    runs = fixtures_dir / "clembench-runs-v3"
    if not runs.is_dir():
        pytest.skip("no clembench v3.0 records")
    checks = verify(runs, {"clean_up"}, InstanceFiles.load(_official(clembench_instances)))
    assert [c.status for c in checks] == ["agree", "agree"], [c.reason for c in checks]


def test_every_prompt_equals_the_recorded_one(fixtures_dir, clembench_instances):
    """Prompt-exact: the official instance's texts render every game-master message of the v3.0 records."""
    data = load_instances(_official(clembench_instances))
    rows = {(r.experiment_name, r.instance["game_id"]): r for r in iter_rows("clean_up", data)}
    paths = sorted((fixtures_dir / "clembench-runs-v3").glob("*/clean_up/*/instance_*/interactions.json"))
    if not paths:
        pytest.skip("no clembench v3.0 clean_up records")
    for path in paths:
        record = json.loads(path.read_text())
        row = rows[(record["meta"]["experiment_name"], record["meta"]["game_id"])]
        master = SPEC.new_episode(row.experiment, row.instance)
        recorded = recorded_messages(record)
        sent = []
        for message in recorded:
            if message.reply:
                master.step(message.text)
            else:
                sent.append(master.messages_for(master.current_role)[-1]["content"])
        assert sent == [m.text for m in recorded if not m.reply]


def test_registry():
    assert get_game("clean_up") is SPEC and SPEC.domain == "out" and SPEC.roles == ("Player 1", "Player 2")

"""referencegame: parsing, scores, grids, scripted players, instances, fidelity to clembench v2.0."""

from __future__ import annotations

import json
import math
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playpen.core.check import check_game, check_scores, play_scripted
from playpen.core.instances import iter_rows, load_instances
from playpen.core.master import Status
from playpen.core.metrics import EPISODE_SCORES_KEY, TURN_SCORES_KEY
from playpen.eval.verify import verify
from playpen.games import get_game
from playpen.games.referencegame import GAMES, grids
from playpen.games.referencegame.generate import POOL_SIZES, TARGETS, generate, triplet_instances
from playpen.games.referencegame.master import FOLLOWER, GIVER
from playpen.games.referencegame.players import describe, scripted
from playpen.results.records import read_json

SPEC = GAMES["referencegame"]
A, B, C = grids.from_pattern("XXXXX/...../...../...../....."), grids.from_pattern("X..../X..../X..../X..../X...."), \
    grids.from_pattern("...../..X../...../...../.....")
EXPERIMENT = {"name": "letter_grids"}


def instance(position: int = 1, **overrides) -> dict:
    built = triplet_instances(0, A, [B, C])[position - 1]
    return {**built, **overrides}


def new(position: int = 1, **overrides):
    return SPEC.new_episode(EXPERIMENT, instance(position, **overrides))


def play(master, *replies: str):
    for reply in replies:
        assert not master.done, f"episode ended before {reply!r}"
        master.step(reply)
    return master


def episode(master) -> dict:
    return master.scores()[EPISODE_SCORES_KEY]


# ------------------------------------------------------------------------------------------ parsing
@pytest.mark.parametrize("reply", [
    "Expression: the grid with a full top row",
    "expression:the grid with a full top row",
    "EXPRESSION: the grid with a full top row\n\n",
    "Expression:\nthe grid with a full top row",  # \s* after the tag may eat the newline
    "  Expression: x  ",  # replies are stripped first, as clembench's backends do
])
def test_valid_expressions(reply):
    master = play(new(), reply)
    assert not master.done and master.current_role == FOLLOWER


@pytest.mark.parametrize("reply", [
    "Expression: the grid with a full top row\nI hope this helps",
    "The target: the grid with a full top row",
    "Expression:",
    "",
])
def test_invalid_expressions_abort_at_player_1(reply):
    master = play(new(), reply)
    scores = episode(master)
    assert master.outcome.status is Status.ABORTED
    assert scores["Aborted at Player 1"] == 1 and scores["Aborted at Player 2"] == 0
    assert all(math.isnan(scores[k]) for k in ("Main Score", "Success", "Lose", "Generated Expression Length",
                                                "Generated Expression Number of Tokens"))
    assert scores["Request Count"] == 1 and scores["Violated Request Count"] == 1


@pytest.mark.parametrize(("reply", "won"), [
    ("Answer: first", True),
    ("answer: First grid.", True),
    ("Answer:1", True),
    ("Answer: 12", True),  # 'first|...|1' matches '1', the rest of the line is ignored
    ("Answer: third<|end_of_text|>\n", False),
    ("Answer: Second", False),
])
def test_valid_answers(reply, won):
    master = play(new(), "Expression: the full top row", reply)
    assert master.outcome.status is (Status.SUCCESS if won else Status.LOSE)


@pytest.mark.parametrize("reply", ["Answer: the first", "First", "Answer: first\nbecause", "Answer: fourth", "Answer:"])
def test_invalid_answers_abort_at_player_2(reply):
    master = play(new(), "Expression: the full top row", reply)
    scores = episode(master)
    assert master.outcome.status is Status.ABORTED
    assert scores["Aborted at Player 1"] == 0 and scores["Aborted at Player 2"] == 1
    assert math.isnan(scores["Success"]) and math.isnan(scores["Lose"]) and math.isnan(scores["Main Score"])
    assert scores["Generated Expression Length"] == len("Expression: the full top row")
    assert scores["Violated Request Count"] == 1 and scores["Parsed Request Count"] == 1


def test_liberal_mode_accepts_more_lines():
    master = play(new(p1_mode="liberal", p2_mode="liberal"), "Expression: top row\nmore", "Answer: first\nmore")
    assert master.outcome.status is Status.SUCCESS


@pytest.mark.parametrize(("position", "answers"), [(1, ("first", "1")), (2, ("second", "2")), (3, ("third", "3"))])
def test_the_target_name_decides(position, answers):
    for answer in answers:
        assert play(new(position), "Expression: x", f"Answer: {answer}").outcome.status is Status.SUCCESS


# ------------------------------------------------------------------------------------------ scores & messages
def test_success_and_loss_scores():
    won = play(new(), "Expression: the grid with the full top row", "Answer: first")
    lost = play(new(), "Expression: the grid with the full top row", "Answer: second")
    for master, success in ((won, 1), (lost, 0)):
        scores = episode(master)
        assert (scores["Success"], scores["Lose"], scores["Aborted"]) == (success, 1 - success, 0)
        assert scores["Main Score"] == 100 * success
        assert scores["Generated Expression Length"] == 42
        assert scores["Generated Expression Number of Tokens"] == 8
        turn = master.scores()[TURN_SCORES_KEY]["0"]
        assert turn["Success"] == success and turn["Generated Expression Length"] == 42
        assert len(master.rounds) == 1


def test_follower_sees_the_whole_giver_reply_and_its_own_grid_order():
    master = play(new(3), "  Expression: the grid with the full top row  ")
    text = master.messages_for(FOLLOWER)[0]["content"]
    assert "\nExpression: the grid with the full top row\n" in text
    assert grids.grids_in(text) == [C, B, A]  # target third: (D2, D1, T)
    giver_text = master.history_of[GIVER][0]["content"]
    assert grids.grids_in(giver_text) == [A, B, C]


def test_official_prompt_headers_are_sent_as_clembench_sends_them():
    master = new(player_1_prompt_header="CLEMBENCH HEADER",
                 player_2_prompt_header="Grids ...\n\nTARGET_EXPRESSION\nQuestion: which?")
    assert master.messages_for(GIVER)[0]["content"] == "CLEMBENCH HEADER"
    play(master, "  Expression: the full top row ")
    assert master.messages_for(FOLLOWER)[0]["content"] == "Grids ...\n\nExpression: the full top row\nQuestion: which?"


def test_our_instances_get_our_own_wording():
    master = new(3)
    assert master.messages_for(GIVER)[0]["content"].startswith("We are playing a reference game.")


# ------------------------------------------------------------------------------------------ grids
def test_grid_families():
    letters, numbers = grids.letter_grids(), grids.number_grids()
    rows, columns = grids.row_line_grids(), grids.column_line_grids()
    assert (len(letters), len(numbers), len(rows), len(columns)) == (36, 40, 30, 30)
    everything = letters + numbers + rows + columns
    assert len(set(everything)) == len(everything)
    for grid in everything:
        assert [len(row) for row in grids.cells(grid)] == [5] * 5
        assert set(grid) <= {"X", "□", " ", "\n"}
    assert all(set(row) in ({"X"}, {"□"}) for grid in rows for row in grids.cells(grid))
    assert grids.transpose(grids.transpose(letters[0])) == letters[0]


def test_levenshtein_and_nearest():
    assert grids.levenshtein("kitten", "sitting") == 3 and grids.levenshtein("", "abc") == 3
    pool = [A, B, C, grids.from_pattern("XXXX./...../...../...../.....")]
    assert grids.nearest(A, pool) == [pool[3], C]


def _edit_distance_table(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="X□ \nab", max_size=70), st.text(alphabet="X□ \nab", max_size=70))
def test_bit_vector_levenshtein_equals_the_table(a, b):
    assert grids.levenshtein(a, b) == _edit_distance_table(a, b)


def test_triplets_are_arranged_as_in_clembench():
    arranged = [[i[k] for k in ("player_2_first_grid", "player_2_second_grid", "player_2_third_grid")]
                for i in triplet_instances(0, A, [B, C])]
    assert arranged == [[A, B, C], [B, A, C], [C, B, A]]


# ------------------------------------------------------------------------------------------ contract
def test_check_game():
    report = check_game(SPEC, episodes=10)
    assert report.episodes == 30


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=80), max_size=4))
def test_any_replies_keep_the_episode_defined(replies):
    master = new(2)
    competent = {role: scripted(role, "competent", EXPERIMENT, instance(2), 1) for role in SPEC.roles}
    for reply in replies:
        if master.done:
            break
        master.step(reply)
    while not master.done:
        master.step(competent[master.current_role](master.messages_for()))
    check_scores(master)
    assert master.requests <= 2


# ------------------------------------------------------------------------------------------ scripted players
def _play_scripted(row, giver: str, follower: str, seed: int):
    return play_scripted(SPEC, row, {GIVER: giver, FOLLOWER: follower}, seed)


def _rows(split: str):
    return list(iter_rows("referencegame", load_instances(SPEC.instances_file(split))))


def test_competent_players_win_and_bad_players_do_not():
    rows = _rows("validation") + _rows("test")
    competent = [_play_scripted(row, "competent", "competent", i).outcome.status for i, row in enumerate(rows)]
    bad = [_play_scripted(row, "bad", "bad", i).outcome.status for i, row in enumerate(rows)]
    assert competent.count(Status.SUCCESS) / len(rows) >= 0.95
    assert bad.count(Status.SUCCESS) / len(rows) <= 0.4
    assert bad.count(Status.ABORTED) >= 1


def test_competent_giver_names_distinguishing_cells():
    assert describe(A, [B, C]) == ("Expression: The grid where the cell in the first row and second column is filled "
                                   "and the cell in the first row and first column is filled.")
    follower = scripted(FOLLOWER, "competent", EXPERIMENT, instance(2), 0)
    master = play(new(2), describe(A, [B, C]))
    assert follower(master.messages_for(FOLLOWER)) == "Answer: second"


def test_literal_giver_copies_the_targets_first_row_and_the_follower_reads_it():
    giver = scripted(GIVER, "literal", EXPERIMENT, instance(0), 0)
    master = new(2)
    expression = giver(master.messages_for(GIVER))
    first_row = grids.cells(A)[0]
    states = ["filled" if cell == grids.FILLED else "empty" for cell in first_row]
    assert expression == "Expression: The grid where " + " and ".join(
        f"the cell in the first row and {grids.ORDINALS[c]} column is {state}" for c, state in enumerate(states)) + "."
    follower = scripted(FOLLOWER, "literal", EXPERIMENT, instance(2), 0)  # the literal skill's follower is competent
    assert follower(play(master, expression).messages_for(FOLLOWER)) == "Answer: second"


def test_literal_giver_wins_where_the_first_row_tells_the_grids_apart():
    rows = _rows("test")
    wins = [_play_scripted(row, "literal", "competent", i).outcome.status == Status.SUCCESS
            for i, row in enumerate(rows)]
    separable = [grids.cells(row.instance["player_1_target_grid"])[0] not in
                 (grids.cells(row.instance["player_1_second_grid"])[0], grids.cells(row.instance["player_1_third_grid"])[0])
                 for row in rows]
    assert all(won for won, apart in zip(wins, separable) if apart)
    assert sum(wins) == 74 and len(rows) == 90  # the figure players.py documents


def test_scripted_players_are_deterministic():
    row = _rows("validation")[0]
    a, b = _play_scripted(row, "bad", "bad", 11), _play_scripted(row, "bad", "bad", 11)
    assert a.rounds == b.rounds and json.dumps(a.scores()) == json.dumps(b.scores())


# ------------------------------------------------------------------------------------------ instances
@cache
def generated(seed: int) -> dict:
    return generate(seed)


def test_generator_is_seeded_disjoint_and_sized_like_clembench():
    splits = generated(0)
    assert generate(0) == splits and generated(1) != splits
    used: dict[str, set[str]] = {}
    for split, data in splits.items():
        assert [e["name"] for e in data["experiments"]] == [
            "letter_grids", "number_grids", "line_grids_rows", "line_grids_columns", "random_grids"]
        used[split] = set()
        for experiment in data["experiments"]:
            instances = experiment["game_instances"]
            assert [i["game_id"] for i in instances] == list(range(len(instances)))
            if split != "train":
                assert len(instances) == 3 * TARGETS[split]
            for item in instances:
                triplet = {item["player_1_target_grid"], item["player_1_second_grid"], item["player_1_third_grid"]}
                assert len(triplet) == 3
                shown = {item["player_2_first_grid"], item["player_2_second_grid"], item["player_2_third_grid"]}
                assert shown == triplet
                position = ["first", "second", "third"].index(item["target_grid_name"][0])
                assert item[f"player_2_{['first', 'second', 'third'][position]}_grid"] == item["player_1_target_grid"]
                used[split] |= triplet
    assert len(splits["test"]["experiments"][0]["game_instances"]) == 18
    assert sum(len(e["game_instances"]) for e in splits["train"]["experiments"]) >= 3 * 90
    assert not used["train"] & used["test"] and not used["train"] & used["validation"]
    assert not used["validation"] & used["test"]
    assert POOL_SIZES["test"] == 6


def test_committed_instance_files_are_the_generator_output():
    for split, data in generated(0).items():
        assert load_instances(SPEC.instances_file(split)) == data


def test_registry_and_domain():
    assert get_game("referencegame") is SPEC and SPEC.domain == "in"
    assert SPEC.roles == ("Instruction Giver", "Instruction Follower")


# ------------------------------------------------------------------------------------------ fidelity
def test_official_instances_load_and_play(clembench_instances):
    official = load_instances(clembench_instances / "referencegame" / "in" / "instances.json")
    rows = list(iter_rows("referencegame", official))
    assert len(rows) == 90
    for index, row in enumerate(rows):
        assert _play_scripted(row, "competent", "competent", index).outcome.status is Status.SUCCESS


def test_roles_are_the_recorded_ones(clembench_runs):
    for path in clembench_runs[0].rglob("referencegame/*/*/interactions.json"):
        players = read_json(path)["players"]
        assert (players["Player 1"]["game_role"], players["Player 2"]["game_role"]) == SPEC.roles
        break


def test_verify_agrees_with_every_recorded_episode(clembench_runs):
    for run in clembench_runs:
        checks = verify(run, {"referencegame"})
        disagreements = [check.reason for check in checks if check.status != "agree"]
        assert checks and not disagreements, disagreements


def test_expression_metrics_match_the_records(clembench_runs):
    for run in clembench_runs:
        for scores_file in run.rglob("referencegame/*/*/scores.json"):
            recorded = read_json(scores_file)[EPISODE_SCORES_KEY]
            folder = scores_file.parent
            master = SPEC.new_episode(read_json(folder.parent / "experiment.json"), read_json(folder / "instance.json"))
            for event in (e for turn in read_json(folder / "interactions.json")["turns"] for e in turn):
                if event["action"]["type"] == "get message" and event["to"] == "GM":
                    master.step(event["action"]["content"])
            ours = episode(master)
            for key in ("Generated Expression Length", "Generated Expression Number of Tokens",
                        "Aborted at Player 1", "Aborted at Player 2", "Request Count", "Parsed Request Count"):
                assert ours[key] == recorded[key], (scores_file, key)

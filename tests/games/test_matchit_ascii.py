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
from playpen.games.matchit_ascii import GAMES
from playpen.games.matchit_ascii.generate import EXPERIMENTS, PER_EXPERIMENT, generate
from playpen.games.matchit_ascii.master import schedule
from playpen.games.matchit_ascii.players import partner_rows, requested_kind

SPEC = GAMES["matchit_ascii"]
A, B = SPEC.roles
E = "▢"
GRID = "\n".join(["X X X X X", f"X {E} {E} {E} X", f"X {E} {E} {E} X", f"X {E} {E} {E} X", "X X X X X"])
FLAGS = {"description": "DESCRIPTION:", "question": "QUESTION:", "answer": "ANSWER:", "decision": "DECISION:"}
SAME = {"name": "same_grid", "flags": FLAGS, "solution": "same grid", "wrong_solution": "different grids"}
DIFFERENT = {"name": "different_grid", "flags": FLAGS, "solution": "different grids", "wrong_solution": "same grid"}
OPENING = ["DESCRIPTION: a frame", "DESCRIPTION: a frame too", "QUESTION: is the middle empty?"]
MIDDLE = ["ANSWER: yes", "QUESTION: corners filled?", "ANSWER: yes", "QUESTION: any X inside?"] * 2
LAST_ROUND = ["ANSWER: no", "QUESTION: border complete?", "ANSWER: yes"]


def play(replies, experiment=SAME, grid_b=GRID, decision_turn=3):
    master = SPEC.new_episode(experiment, {"game_id": 0, "grid_a": GRID, "grid_b": grid_b, "decision_turn": decision_turn})
    for reply in replies:
        master.step(reply)
    return master


def full(decision_b, decision_a):
    return OPENING + MIDDLE + LAST_ROUND + [decision_b, decision_a]


def episode(master):
    return master.scores()["episode scores"]


# ---------------------------------------------------------------------------------------------- rules
def test_roles_and_registry():
    assert SPEC.roles == ("Player A", "Player B")
    assert SPEC.domain == "out"
    assert get_game("matchit_ascii") is SPEC


def test_fixed_schedule_with_decision_turn_3():
    turns = schedule(A, B, 3)
    assert [(t.role, t.kind, t.round) for t in turns[:3]] == [(A, "description", 0), (B, "description", 0), (B, "question", 0)]
    assert [(t.role, t.kind) for t in turns if t.round == 3] == [(A, "answer"), (A, "question"), (B, "answer"), (B, "decision")]
    assert [(t.role, t.kind, t.round) for t in turns[-1:]] == [(A, "decision", 4)]
    assert len(turns) == 16
    assert sum(t.kind == "question" for t in turns if t.role == A) == sum(t.kind == "question" for t in turns if t.role == B) == 3


def test_both_right_wins_100():
    master = play(full("DECISION: same grid", "DECISION: same grid"))
    scores = episode(master)
    assert master.outcome.status is Status.SUCCESS
    assert (scores["Main Score"], scores["Player Score"], scores["Success"], scores["Lose"]) == (100, 100, 1, 0)
    assert scores["Request Count"] == 16 and scores["Violated Request Count"] == 0
    requests_per_round = [t["Request Count"] for t in master.scores()["turn scores"].values()]
    assert requests_per_round == [3, 4, 4, 4, 1]


def test_one_right_decision_loses_with_player_score_50():
    master = play(full("DECISION: same grid", "DECISION: different grids"))
    scores = episode(master)
    assert master.outcome.status is Status.LOSE
    assert (scores["Main Score"], scores["Player Score"], scores["Lose"]) == (0, 50, 1)


def test_both_wrong_scores_zero():
    master = play(full("DECISION: same grid", "DECISION: same grid"), experiment=DIFFERENT, grid_b=GRID.replace("X", E, 1))
    assert (episode(master)["Main Score"], episode(master)["Player Score"]) == (0, 0)


@pytest.mark.parametrize("decision", [
    "DECISION: Same Grid.", "DECISION: same grid...", "DECISION: same grid\n", "  DECISION: same grid  ", "DECISION: SAME GRID",
])
def test_decision_normalisation(decision):
    master = play(full(decision, decision))
    assert master.outcome.status is Status.SUCCESS


@pytest.mark.parametrize("decision", [
    "DECISION: same grid<|end_of_text|>",  # the real failure in the tulu3 records
    "DECISION: same grids",
    "DECISION: the same grid",
    "DECISION:same grid",
    "DECISION: same grid\nbecause the descriptions match",
    "DECISION: same grid!",
])
def test_wrong_decision_content_aborts(decision):
    master = play(full(decision, "DECISION: same grid")[:-1])
    scores = episode(master)
    assert master.outcome.status is Status.ABORTED and master.requests == 15
    assert math.isnan(scores["Main Score"]) and math.isnan(scores["Player Score"])
    assert (scores["Aborted"], scores["Success"], scores["Lose"], scores["Violated Request Count"]) == (1, 0, 0, 1)


@pytest.mark.parametrize("reply", ["", "   ", "description: lower case", "DESCRIPTION:no space", "The grid: DESCRIPTION: x",
                                   "QUESTION: asking first", "**DESCRIPTION:** bold"])
def test_wrong_flag_or_empty_reply_aborts(reply):
    master = play([reply])
    assert master.outcome.status is Status.ABORTED
    assert master.rounds[0][-1]["action"] == {"type": "Game over", "content": "Aborted"}


def test_flag_is_checked_on_the_first_word_of_the_first_line():
    master = play(["\n\nDESCRIPTION: a frame\nwith more lines"])
    assert not master.done
    assert play(["DESCRIPTION:\ta frame"]).outcome.status is Status.ABORTED


@pytest.mark.parametrize("position, reply", [(3, "QUESTION: out of turn"), (4, "ANSWER: instead of a question"), (14, "ANSWER: no decision")])
def test_reply_with_the_wrong_flag_for_the_turn_aborts(position, reply):
    replies = full("DECISION: same grid", "DECISION: same grid")[:position] + [reply]
    assert play(replies).outcome.status is Status.ABORTED


def test_messages_relay_the_partner():
    master = play(OPENING[:2])
    assert master.current_role == B
    assert master.messages_for(B)[-1]["content"].startswith("Here is my grid description. DESCRIPTION: a frame\n")
    master.step(OPENING[2])
    context = master.messages_for(A)[-1]["content"]
    assert context.startswith("Here is my grid description. DESCRIPTION: a frame too\nQUESTION: is the middle empty?")
    assert '"ANSWER:"' in context
    master.step("ANSWER: yes")
    assert '"QUESTION:"' in master.messages_for(A)[-1]["content"]
    master.step("QUESTION: corners filled?")
    assert master.messages_for(B)[-1]["content"].startswith("ANSWER: yes\nQUESTION: corners filled?")
    master = play(full("DECISION: same grid", "DECISION: same grid")[:15])
    assert master.current_role == A and master.current_round == 4
    assert master.messages_for(A)[-1]["content"].startswith("ANSWER: yes\n")
    assert '"DECISION: same grid"' in master.messages_for(A)[-1]["content"]


def test_an_official_experiment_s_texts_replace_ours():
    official = {**SAME, "initial_prompt": "Your grid:\n$GRID$\nDescribe it.", "desc_intro": "Mine: ",
                "q_reprompt": "Ask.", "a_request": " Answer.", "d_reprompt": "Decide."}
    master = play([], official)
    assert master.messages_for(A)[-1]["content"] == f"Your grid:\n{GRID}\nDescribe it."

    def play_on(*replies):
        for reply in replies:
            master.step(reply)

    play_on(*OPENING[:2])
    assert master.messages_for(B)[-1]["content"] == "Mine: DESCRIPTION: a frame\nAsk."
    play_on(OPENING[2])
    assert master.messages_for(A)[-1]["content"] == (
        "Mine: DESCRIPTION: a frame too\nQUESTION: is the middle empty? Answer.")
    play_on("ANSWER: yes")
    assert master.messages_for(A)[-1]["content"] == "Ask."
    play_on("QUESTION: corners filled?", *full("DECISION: same grid", "DECISION: same grid")[5:14])
    assert master.messages_for(B)[-1]["content"] == "Decide."
    play_on("DECISION: same grid")
    assert master.messages_for(A)[-1]["content"] == "ANSWER: yes\nDecide."


def test_grids_are_private():
    master = play([], grid_b=GRID.replace("X", E, 1))
    assert GRID in master.messages_for(A)[-1]["content"]
    master.step("DESCRIPTION: a frame")
    assert GRID not in master.messages_for(B)[-1]["content"]


@pytest.mark.parametrize("decision_turn, requests", [(1, 8), (3, 16), (5, 24)])
def test_other_decision_turns(decision_turn, requests):
    turns = schedule(A, B, decision_turn)
    assert len(turns) == requests and turns[-1].round == decision_turn + 1


# ---------------------------------------------------------------------------------------------- players
def test_player_helpers():
    assert requested_kind('ANSWER: no\nQUESTION: x? Please answer, starting with "ANSWER:"', FLAGS) == "answer"
    assert requested_kind('ANSWER: no\nReply "DECISION: same grid" or "DECISION: different grids"', FLAGS) == "decision"
    rows = partner_rows([{"role": "user", "content": "DESCRIPTION: Row 1 is X ▢ X ▢ X. Row 2 is X X X X X."},
                         {"role": "assistant", "content": "QUESTION: row 2?"},
                         {"role": "user", "content": "ANSWER: My row 2 is ▢ ▢ ▢ ▢ ▢."}])
    assert rows == {0: ("X", E, "X", E, "X"), 1: (E,) * 5}


def _play_scripted(rows, skill):
    outcomes = collections.Counter()
    for seed, row in enumerate(rows):
        master = play_scripted(SPEC, row, skill, seed)
        check_scores(master)
        outcomes[master.outcome.status] += 1
    return outcomes


def test_competent_players_win_and_bad_players_do_not():
    rows = list(iter_rows(SPEC.name, load_instances(SPEC.instances_file("validation"))))
    rows += list(iter_rows(SPEC.name, load_instances(SPEC.instances_file("test"))))
    competent, bad = _play_scripted(rows, "competent"), _play_scripted(rows, "bad")
    assert competent[Status.SUCCESS] == len(rows)
    assert (bad[Status.LOSE] + bad[Status.ABORTED]) / len(rows) >= 0.6
    assert bad[Status.LOSE] > 0 and bad[Status.ABORTED] > 0


def test_unknown_role_or_skill():
    row = next(iter_rows(SPEC.name, load_instances(SPEC.instances_file("validation"))))
    with pytest.raises(ValueError):
        SPEC.scripted("MatchItPlayer", "competent", row.experiment, row.instance, 0)
    with pytest.raises(ValueError):
        SPEC.scripted(A, "genius", row.experiment, row.instance, 0)


# ---------------------------------------------------------------------------------------------- contract
def test_check_game():
    report = check_game(SPEC, episodes=12)
    assert report.episodes == 36


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["DESCRIPTION: x", "QUESTION: y?", "ANSWER: z", "DECISION: same grid",
                                 "DECISION: different grids", "", "decision: x"]), max_size=18)
       | st.lists(st.text(), max_size=18))
def test_any_replies_end_in_a_defined_outcome(replies):
    row = next(iter_rows(SPEC.name, load_instances(SPEC.instances_file("validation"))))
    master = SPEC.new_episode(row.experiment, row.instance)
    for reply in replies:
        if master.done:
            break
        master.step(reply)
    finish_scripted(SPEC, master, row)
    check_scores(master)
    assert master.requests <= 16
    replayed = SPEC.new_episode(row.experiment, row.instance)
    for reply in master.responses:
        replayed.step(reply)
    assert replayed.rounds == master.rounds
    assert json.dumps(replayed.scores()) == json.dumps(master.scores())


# ---------------------------------------------------------------------------------------------- instances
def _parse(text):
    return grids.parse_grid(text)


def test_generated_pairs_follow_the_experiment_rules():
    for split, data in generate(0).items():
        assert [e["name"] for e in data["experiments"]] == list(EXPERIMENTS)
        for experiment in data["experiments"]:
            instances = experiment["game_instances"]
            assert len(instances) == PER_EXPERIMENT[split]
            assert len({(i["grid_a"], i["grid_b"]) for i in instances}) == len(instances)
            for instance in instances:
                a, b = _parse(instance["grid_a"]), _parse(instance["grid_b"])
                differing = grids.differing_cells(a, b)
                if experiment["name"] == "same_grid":
                    assert a == b and experiment["solution"] == "same grid"
                elif experiment["name"] == "similar_grid_1":
                    assert b in grids.symmetries(a) and a != b
                elif experiment["name"] == "similar_grid_2":
                    assert len(differing) == 2
                else:
                    assert len(differing) >= 3 and grids.canonical(a) != grids.canonical(b)
                if experiment["name"] != "same_grid":
                    assert experiment["solution"] == "different grids"


def test_generated_files_are_the_generator_output_and_splits_are_disjoint():
    generated = generate(0)
    used = {}
    for split, data in generated.items():
        assert load_instances(SPEC.instances_file(split)) == json.loads(json.dumps(data))
        used[split] = {
            grids.canonical(_parse(instance[key]))
            for experiment in data["experiments"] for instance in experiment["game_instances"] for key in ("grid_a", "grid_b")
        }
    assert not used["train"] & used["test"]
    assert not used["train"] & used["validation"]
    assert not used["validation"] & used["test"]
    assert generate(0) == generated and generate(1) != generated


def test_official_instances_load_and_play(clembench_instances):
    for name in ("instances.json", "instances_1q.json", "instances_5q.json", "instances_v1.6.json"):
        rows = list(iter_rows(SPEC.name, load_instances(clembench_instances / "matchit_ascii" / "in" / name)))
        assert _play_scripted(rows[::3], "competent")[Status.SUCCESS] == len(rows[::3]), name
    official = load_instances(clembench_instances / "matchit_ascii" / "in" / "instances.json")
    assert {e["name"]: len(e["game_instances"]) for e in official["experiments"]} == {n: 10 for n in EXPERIMENTS}


@pytest.mark.parametrize("run", ["llama3-8b-base", "tulu3-8b"])
def test_fidelity_against_clembench_records(fixtures_dir, run):
    checks = verify(fixtures_dir / "clembench-runs" / run, {"matchit_ascii"})
    assert len(checks) == 8
    assert [c.reason for c in checks if c.status != "agree"] == []

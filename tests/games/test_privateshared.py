import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playpen.core import metrics
from playpen.core.check import check_game, check_scores
from playpen.core.instances import iter_rows, load_instances
from playpen.core.master import Status
from playpen.eval.verify import verify
from playpen.games import get_game
from playpen.games.privateshared import GAMES, prompts, replay_instance
from playpen.games.privateshared.generate import SLOT_VALUES, THINGS, generate
from playpen.games.privateshared.master import PSEUDO_TURN_FLAG, bench_score, is_slot_reply, parse_probe_reply

SPEC = GAMES["privateshared"]
EPISODE, TURNS = metrics.EPISODE_SCORES_KEY, metrics.TURN_SCORES_KEY

# Two slots, asked in the order b, a; probes go in slot order (a, b).
EXPERIMENT = {"name": "letter-number"}
INSTANCE = {
    "game_id": 0,
    "tag": "QUESTIONER",
    "slots": {"a": "1234", "b": "5678"},
    "request_order": ["b", "a"],
    "requests": {"a": 0, "b": 1},
    "probes": {"0": {"a": 0, "b": 0}, "1": {"a": 1, "b": 0}, "2": {"a": 0, "b": 1}},
    "lang": "en",
}
NO, YES = "ASIDE: no", "ASIDE: yes"
PERFECT = [NO, NO, "ANSWER: 5678.", NO, YES, "ANSWER: It is 1234.", YES, YES]


def play(replies, instance=INSTANCE, experiment=EXPERIMENT):
    game = SPEC.new_episode(experiment, instance)
    for reply in replies:
        game.step(reply)
    return game


def episode(game):
    return game.scores()[EPISODE]


# ---------------------------------------------------------------- parsing
@pytest.mark.parametrize("reply, value", [
    ("ASIDE: yes", 1), ("ASIDE: Yes.", 1), ("ASIDE: No, the questioner does not know yet.", 0),
    ("ASIDE: Nothing has been said.", 0),  # clembench only looks at the start: "no…"
    ("ASIDE: yesterday", 1), ("ASIDE: ASIDE: no", 0), ("ASIDE:no", 0),
    ("ASIDE: maybe", None), ("Yes.", None), ("aside: yes", None), ("ANSWER: yes", None),
    ("ASIDE: No.\n\nANSWER: No.", None), ("ASIDE: yes\n", 1), ("ASIDE:", None),
])
def test_probe_reply_parsing(reply, value):
    assert parse_probe_reply(reply) == value


@pytest.mark.parametrize("reply, ok", [
    ("ANSWER: Cologne.", True), ("ANSWER:Cologne", True), ("ANSWER: From Cologne.\n\n", True),
    ("ANSWER: Cologne.\n\nASIDE: My departure point is Cologne.", False), ("Answer: Cologne", False),
    ("I leave from Cologne.", False), ("ASIDE: Cologne", False),
])
def test_slot_reply_format(reply, ok):
    assert is_slot_reply(reply) is ok


def test_bench_score_is_harmonic_mean_of_slot_filling_and_truncated_kappa():
    assert bench_score(0.8, 0.4) == pytest.approx(53.333333333333336)
    assert bench_score(1.0, 0.0) == 0.0
    assert bench_score(0, 0) == 0
    assert bench_score(1.0, 1.0) == 100.0


# ---------------------------------------------------------------- flow
def test_perfect_episode_succeeds_with_main_score_100():
    game = play(PERFECT)
    assert game.outcome.status is Status.SUCCESS
    scores = game.scores()
    ep = scores[EPISODE]
    assert ep[metrics.MAIN_SCORE] == 100.0
    assert ep["Accuracy"] == 1.0 and ep["Kappa"] == 1.0 and ep["Truncated Kappa"] == 1.0
    assert ep["Slot-Filling-Accuracy"] == 1.0 and ep["Middle-Accuracy"] == 1.0
    assert ep[metrics.REQUEST_COUNT] == 8 and ep[metrics.VIOLATED_REQUEST_COUNT] == 0
    # rounds = probe rounds; the answer to question k is counted in probe round k
    assert game.request_counts == [2, 3, 3]
    assert scores[TURNS]["0"] == {"Accuracy": 1.0, metrics.REQUEST_COUNT: 2, metrics.VIOLATED_REQUEST_COUNT: 0,
                                  metrics.PARSED_REQUEST_COUNT: 2}
    assert scores[TURNS]["1"]["Slot Filled?"] == 1 and "Slot Filled?" not in scores[TURNS]["0"]


def test_contexts_probes_are_forgotten_and_instructions_stay_with_the_first_question():
    game = SPEC.new_episode(EXPERIMENT, INSTANCE)
    first = game.messages_for()
    assert len(first) == 1
    text = first[0]["content"]
    assert "A: 1234" in text and "B: 5678" in text and "ASIDE: <one sentence>" in text
    assert text.endswith("ME: Does the questioner know the number of the letter A? Reply with yes or no and nothing else.")
    game.step(NO)
    assert game.messages_for()[0]["content"].startswith(text.split("ME: ")[0])  # instructions repeated
    game.step(NO)
    question = game.messages_for()
    assert len(question) == 1 and question[0]["content"].endswith(
        "QUESTIONER: What number was given to B? Reply to this question only, in one short sentence, then stop.")
    assert "WHAT: Numbers for letters" in question[0]["content"]
    game.step("ANSWER: 5678.")
    probe = game.messages_for()
    assert [m["role"] for m in probe] == ["user", "assistant", "user"]
    assert probe[1]["content"] == "ANSWER: 5678."
    assert probe[2]["content"] == "ME: Have you told the questioner which number A has? Reply with yes or no and nothing else."
    game.step(NO)
    assert len(game.messages_for()) == 3  # the probe and its answer were not remembered
    assert game.rounds[1][0] == {"from": "Player 2", "to": "GM", "action": {"type": "request", "content":
                                 "QUESTIONER: What number was given to B? Reply to this question only, in one short sentence, then stop."}}


def test_invalid_probe_reply_is_asked_again_with_a_nudge_and_counts_as_violated():
    game = play(["Yes."])
    assert not game.done
    assert game.messages_for()[-1]["content"].endswith(
        "ME: Please read the question again. Does the questioner know the number of the letter A? "
        "Reply with yes or no and nothing else.")
    for reply in [NO] + PERFECT[1:]:
        game.step(reply)
    assert game.outcome.status is Status.SUCCESS
    ep = episode(game)
    assert ep[metrics.REQUEST_COUNT] == 9 and ep[metrics.VIOLATED_REQUEST_COUNT] == 1
    assert game.scores()[TURNS]["0"][metrics.VIOLATED_REQUEST_COUNT] == 1


def test_five_invalid_probe_replies_abort():
    game = play(["No."] * 4)
    assert not game.done
    sent = [e["action"]["content"] for e in game.rounds[0] if e["action"]["type"] == "send message"]
    sent.append(game.messages_for()[-1]["content"])
    assert "\n\nME: Does the questioner know" in sent[0]
    for attempt, text in enumerate(sent[1:], start=1):
        assert f"\n\nME: {prompts.RETRY_NUDGES[attempt]} Does the questioner know" in text
    game.step("No.")
    assert game.outcome.status is Status.ABORTED
    scores = game.scores()
    ep = scores[EPISODE]
    assert ep[metrics.ABORTED] == 1 and ep[metrics.LOSE] == 0 and ep[metrics.SUCCESS] == 0
    assert ep[metrics.REQUEST_COUNT] == 5 and ep[metrics.VIOLATED_REQUEST_COUNT] == 5
    for name in (metrics.MAIN_SCORE, "Accuracy", "Kappa", "Truncated Kappa", "Slot-Filling-Accuracy"):
        assert math.isnan(ep[name])
    assert "Middle-Accuracy" not in ep  # its probe round was never completed
    assert scores[TURNS] == {}


def test_malformed_slot_answer_aborts_as_in_2_0_0():
    game = play([NO, NO, "ANSWER: 5678.\nASIDE: That is all."])
    assert game.outcome.status is Status.ABORTED
    scores = game.scores()
    assert list(scores[TURNS]) == ["0"]  # only the completed probe round is scored
    assert math.isnan(scores[EPISODE]["Middle-Accuracy"])  # its round (0) was played, but the episode aborted
    assert scores[EPISODE][metrics.VIOLATED_REQUEST_COUNT] == 1


def test_slot_answer_without_the_value_is_not_filled_but_still_counts_as_shared():
    game = play([NO, NO, "ANSWER: I would rather not say.", NO, YES, "ANSWER: 1234", YES, YES])
    assert game.outcome.status is Status.LOSE
    ep = episode(game)
    assert ep["Slot-Filling-Accuracy"] == 0.5 and ep["Accuracy"] == 1.0
    assert ep[metrics.MAIN_SCORE] == pytest.approx(100 * 2 * 0.5 * 1.0 / 1.5)
    assert game.scores()[TURNS]["1"]["Slot Filled?"] == 0


def test_anticipated_value_counts_as_shared_from_the_next_probe_round():
    game = play([NO, NO, "ANSWER: B is 5678 and A is 1234.", YES, YES, "ANSWER: 1234.", YES, YES])
    assert game.outcome.status is Status.SUCCESS
    anticipated = [e["action"]["content"] for e in game.rounds[1] if e["action"]["type"] == "metadata"]
    assert anticipated == ["Slot filled: True", "Value for A anticipated in answer 1."]
    # without anticipation "no" would be right for A in round 1
    late = play([NO, NO, "ANSWER: B is 5678 and A is 1234.", NO, YES, "ANSWER: 1234.", YES, YES])
    assert late.outcome.status is Status.LOSE and episode(late)["Accuracy"] == pytest.approx(5 / 6)


def test_kappa_of_a_constant_answerer_is_zero_and_truncated_to_int_zero():
    game = play([NO, NO, "ANSWER: 5678.", NO, NO, "ANSWER: 1234.", NO, NO])
    ep = episode(game)
    assert game.outcome.status is Status.LOSE
    assert ep["Kappa"] == 0.0 and ep["Truncated Kappa"] == 0 and ep[metrics.MAIN_SCORE] == 0.0
    assert ep["Accuracy"] == 0.5 and ep["Middle-Accuracy"] == 1.0


def test_kappa_and_main_score_of_one_wrong_probe():
    game = play([NO, NO, "ANSWER: 5678.", NO, YES, "ANSWER: 1234.", NO, YES])
    ep = episode(game)
    assert ep["Accuracy"] == pytest.approx(5 / 6)
    assert ep["Kappa"] == pytest.approx(2 / 3)
    assert ep[metrics.MAIN_SCORE] == pytest.approx(80.0)
    assert game.scores()[TURNS]["2"]["Accuracy"] == 0.5


def test_negative_kappa_is_truncated():
    game = play([YES, YES, "ANSWER: 5678.", YES, NO, "ANSWER: 1234.", NO, NO])
    ep = episode(game)
    assert ep["Kappa"] < 0 and ep["Truncated Kappa"] == 0 and ep[metrics.MAIN_SCORE] == 0.0


def test_middle_accuracy_uses_probe_round_int_n_plus_1_over_2_minus_1():
    rows = list(iter_rows("privateshared", load_instances(SPEC.instances_file("validation"))))
    for row in rows[::3]:
        game = SPEC.new_episode(row.experiment, row.instance)
        policy = SPEC.scripted("Answerer", "competent", row.experiment, row.instance, 0)
        while not game.done:
            game.step(policy(game.messages_for()))
        n = len(row.instance["slots"])
        assert len(game.rounds) == n + 1 and game.played_probe_rounds == n + 1
        assert episode(game)["Middle-Accuracy"] == game.scores()[TURNS][str(int((n + 1) / 2) - 1)]["Accuracy"]


def test_head_records_acknowledgement_turn():
    assert replay_instance(INSTANCE, {"turns": [[{"action": {"label": "context"}}]]}) == INSTANCE
    flagged = replay_instance(INSTANCE, {"turns": [[{"action": {"label": "pseudo"}}, {"action": {"label": "pseudo"}}]]})
    assert flagged[PSEUDO_TURN_FLAG] is True
    game = SPEC.new_episode(EXPERIMENT, flagged)
    assert "ME:" not in game.messages_for()[0]["content"].split("Here we go.")[1]
    game.step("Ok.")
    assert [m["content"] for m in game.messages_for()[1:]] == [
        "Ok.", "ME: Does the questioner know the number of the letter A? Reply with yes or no and nothing else."]
    for reply in PERFECT:
        game.step(reply)
    assert game.outcome.status is Status.SUCCESS and game.request_counts == [3, 3, 3]


# ---------------------------------------------------------------- contract
def test_check_game():
    report = check_game(SPEC, episodes=8)
    assert report.episodes == 24


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=12))
def test_any_replies_end_defined_or_keep_running(replies):
    game = SPEC.new_episode(EXPERIMENT, INSTANCE)
    for reply in replies:
        if game.done:
            break
        game.step(reply)
    policy = SPEC.scripted("Answerer", "competent", EXPERIMENT, INSTANCE, 0)
    while not game.done:
        game.step(policy(game.messages_for()))
    check_scores(game)
    ep = episode(game)
    assert game.outcome.status is not Status.RUNNING
    if not ep[metrics.ABORTED]:
        assert 0 <= ep["Accuracy"] <= 1 and 0 <= ep["Slot-Filling-Accuracy"] <= 1


def _play_split(skill, split="validation"):
    outcomes = []
    for row in iter_rows("privateshared", load_instances(SPEC.instances_file(split))):
        game = SPEC.new_episode(row.experiment, row.instance)
        policy = SPEC.scripted("Answerer", skill, row.experiment, row.instance, row.instance_index)
        while not game.done:
            game.step(policy(game.messages_for()))
        outcomes.append(game.outcome.status)
    return outcomes


def test_competent_answerer_wins_and_bad_one_does_not():
    competent = _play_split("competent")
    assert competent.count(Status.SUCCESS) == len(competent)
    bad = _play_split("bad")
    assert bad.count(Status.SUCCESS) <= len(bad) * 0.1


def test_scripted_players_are_deterministic():
    row = next(iter_rows("privateshared", load_instances(SPEC.instances_file("validation"))))
    runs = []
    for _ in range(2):
        game = SPEC.new_episode(row.experiment, row.instance)
        policy = SPEC.scripted("Answerer", "bad", row.experiment, row.instance, 5)
        while not game.done:
            game.step(policy(game.messages_for()))
        runs.append(game.responses)
    assert runs[0] == runs[1]


def test_registry_and_spec():
    assert get_game("privateshared") is SPEC
    assert SPEC.domain == "in" and SPEC.roles == ("Answerer",)


# ---------------------------------------------------------------- prompts and instances
@pytest.mark.parametrize("experiment", list(prompts.SCENARIOS))
def test_probe_phrasings_identify_their_slot(experiment):
    scene = prompts.SCENARIOS[experiment]
    slots = list(scene.probes)
    for slot in slots:
        for index, question in enumerate(scene.probes[slot]):
            for attempt in (1, 5):
                assert prompts.probed_slot(scene, slots, prompts.probe_text(question, attempt)) == slot
        for request in scene.requests[slot]:
            assert prompts.probed_slot(scene, slots, request) is None


def test_generated_splits():
    data = generate(0)
    assert generate(0) == data
    sizes = {split: [len(e["game_instances"]) for e in d["experiments"]] for split, d in data.items()}
    assert sizes == {"train": [30] * 5, "validation": [3] * 5, "test": [10] * 5}
    boards = {}
    for split, d in data.items():
        assert [e["name"] for e in d["experiments"]] == list(prompts.SCENARIOS)
        for e in d["experiments"]:
            scene = prompts.SCENARIOS[e["name"]]
            for instance in e["game_instances"]:
                values = [v.lower() for v in instance["slots"].values()]
                assert not any(a != b and a in b for a in values for b in values)
                assert sorted(instance["request_order"]) == sorted(instance["slots"])
                assert set(instance["probes"]) == {str(i) for i in range(len(values) + 1)}
                assert all(i < len(scene.requests[s]) for s, i in instance["requests"].items())
                boards.setdefault((e["name"], tuple(instance["slots"].items())), set()).add(split)
    assert all(len(splits) == 1 for splits in boards.values())
    for split in data:
        assert load_instances(SPEC.instances_file(split)) == data[split], "in/ files differ from generate(0)"


def test_value_pools_do_not_contain_each_other():
    for pools in SLOT_VALUES.values():
        values = [v.lower() for pool in pools.values() for v in pool]
        assert len(values) == len(set(values))
    assert len(THINGS) == len(set(THINGS))


# ---------------------------------------------------------------- clembench data
def test_official_instances_load_and_play(clembench_instances):
    path = clembench_instances / "privateshared" / "in" / "instances.json"
    rows = list(iter_rows("privateshared", load_instances(path)))
    assert len(rows) == 50
    for row in rows:
        scene = prompts.scenario(row.experiment["name"])
        # our phrasing lists cover every index clembench's instances use
        assert all(i < len(scene.requests[s]) for s, i in row.instance["requests"].items())
        assert all(i < len(scene.probes[s]) for r in row.instance["probes"].values() for s, i in r.items())
        game = SPEC.new_episode(row.experiment, row.instance)
        policy = SPEC.scripted("Answerer", "competent", row.experiment, row.instance, 0)
        while not game.done:
            game.step(policy(game.messages_for()))
        assert game.outcome.status is Status.SUCCESS
        # the instance's instructions, then our first request (clembench's request texts are not in its
        # instance files); the probes before it are forgotten
        first = game.history_of["Answerer"][0]["content"]
        assert first.startswith(f"{row.instance['initial_prompt']}\n\n{row.instance['tag']}: ")


def test_verify_against_recorded_clembench_runs(clembench_runs):
    expected = {"llama3-8b-base": 10, "tulu3-8b": 6}  # tulu's other 4 episodes have no scores.json
    for run in clembench_runs:
        checks = verify(run, {"privateshared"})
        assert [c.reason for c in checks if c.status != "agree"] == []
        assert len(checks) == expected[run.name]


def test_replayed_records_reproduce_every_clembench_metric(clembench_runs):
    from playpen.results.records import episodes, recorded_replies

    compared = 0
    for record in episodes(Path(clembench_runs[0]).parent, {"privateshared"}):
        if not record.file("scores.json").is_file():
            continue  # a broken clembench record
        episode_dir, interactions, recorded = record.path, record.interactions, record.scores
        instance = replay_instance(record.instance, interactions)
        game = play(recorded_replies(interactions), instance, record.experiment)
        ours = game.scores()
        for name, value in recorded[EPISODE].items():
            if name in (metrics.REQUEST_COUNT, metrics.PARSED_REQUEST_COUNT, metrics.REQUEST_SUCCESS_RATIO):
                continue  # HEAD's fabricated "Ok." is one more request in our replay
            mine = ours[EPISODE][name]
            assert (math.isnan(value) and math.isnan(mine)) or mine == pytest.approx(value), (episode_dir, name)
        assert list(ours[TURNS]) == list(recorded[TURNS])
        for turn, values in recorded[TURNS].items():
            assert ours[TURNS][turn]["Accuracy"] == pytest.approx(values["Accuracy"])
            assert ours[TURNS][turn].get("Slot Filled?") == values.get("Slot Filled?")
        # clembench logs every probe with its ground truth and parsed answer
        probes = [(p["target"], p["gt"], p["value"]) for r in interactions["probes"] for p in r if p.get("value") in (0, 1)]
        assert [(p.slot.upper(), p.gt, p.value) for r in game.probe_rounds for p in r.probes][: len(probes)] == probes
        compared += 1
    assert compared == 16

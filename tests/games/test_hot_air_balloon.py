import collections
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playpen.core.check import check_game, check_replies, check_scores, play_scripted
from playpen.core.instances import iter_rows, load_instances
from playpen.core.master import Status
from playpen.eval.verify import verify
from playpen.games import get_game
from playpen.games.hot_air_balloon import GAMES
from playpen.games.hot_air_balloon.generate import ERROR_PROMPTS, PER_EXPERIMENT, TAGS, generate
from playpen.games.hot_air_balloon.players import last_proposal
from playpen.games.hot_air_balloon.rules import best_harmonic, best_value, deal_scores
from playpen.results.records import recorded_messages

SPEC = GAMES["hot_air_balloon"]
P1, P2 = SPEC.roles
WEIGHTS = {"A1": 5, "B2": 4, "C3": 3}
V1 = {"A1": 10, "B2": 1, "C3": 5}
V2 = {"A1": 1, "B2": 10, "C3": 5}
SR = "STRATEGIC REASONING: {'think'}\n"


def small(mode="independent", **changes):
    """Three items, limit 8: player 1's best is {A1, C3} (15), player 2's {B2, C3} (15)."""
    inst = {"game_id": 0, "negotiation_mode": mode, "item_weights": WEIGHTS, "player1_preferences": V1,
            "player2_preferences": V1 if mode == "equal" else V2, "max_weight": 8, "max_u1": 15, "max_u2": 15,
            "max_total_utility": 30, "max_harmonic": 400 / 7,
            "pareto_optima_sets": [], "empty_turn_limit": 2, "patience": 1, "strategic_reasoning": True,
            "require_argument": True, **ERROR_PROMPTS, "player1_initial_prompt": "P1 rules",
            "player2_initial_prompt": "P2 rules", **TAGS}
    return {**inst, **changes}


def play(replies, inst=None):
    master = SPEC.new_episode({"name": "test"}, inst or small())
    for reply in replies:
        master.step(reply)
    return master


def episode(master):
    return master.scores()["episode scores"]


def reply(*blocks):
    return SR + "\n".join(blocks)


PROPOSE_AC = reply("PROPOSAL: {'A1', 'C3'}", "ARGUMENT: {'mine'}")


# ---------------------------------------------------------------------------------------------- arithmetic
def test_knapsack_and_deal_scores():
    assert best_value(WEIGHTS, V1, 8) == (15, frozenset({"A1", "C3"}))
    # {A1, C3} or {B2, C3}: 100 % and 40 % -> harmonic mean 400/7
    assert best_harmonic(WEIGHTS, V1, V2, 8, 15, 15) == pytest.approx(400 / 7)
    scores = deal_scores(small(), {"A1", "C3"})
    assert scores["u1"] == 100 and scores["u2"] == pytest.approx(40) and scores["score"] == pytest.approx(100)
    assert deal_scores(small(), {"C3"})["score"] == pytest.approx(100 / 3 / (400 / 7) * 100)
    assert deal_scores(small(mode="equal"), {"A1", "C3"})["score"] == 100  # equal mode: player 1's utility
    assert deal_scores(small(), {"A1", "B2", "C3"})["score"] == 0  # over the limit
    assert math.isnan(deal_scores(small(), None)["score"])


# ---------------------------------------------------------------------------------------------- rules
def test_the_partner_sees_the_reply_without_the_reasoning():
    master = play([PROPOSE_AC])
    assert master.current_role == P2
    assert master.messages_for(P2) == [{"role": "user", "content": "P2 rules\n\nPROPOSAL: {'A1', 'C3'}\nARGUMENT: {'mine'}"}]


def test_an_agreement_to_an_active_proposal_ends_the_game():
    master = play([PROPOSE_AC, reply("ARGUMENT: {'fine'}", "AGREE: {'C3', 'A1'}")])
    assert master.outcome.status is Status.SUCCESS and master.final_deal == {"A1", "C3"}
    scores = episode(master)
    assert scores["Main Score"] == pytest.approx(deal_scores(small(), {"A1", "C3"})["score"])
    assert master.record_keys()["Total weight deal"] == 8 and master.record_keys()["Played turns"] == 2


@pytest.mark.parametrize("bad, key", [
    ("PROPOSAL: {'A1'}\nARGUMENT: {'x'}", "no_sr_prompt"),
    (SR + "PROPOSAL: {'A1'}", "no_argument_prompt"),
    (SR + "PROPOSAL: {'A1'}\nARGUMENT: {'x'}\nthanks!", "untagged_sequence_prompt"),
    (SR + "PROPOSAL: {A1}\nARGUMENT: {'x'}", "invalid_python_set_error"),
    (SR + "PROPOSAL: {'Z9'}\nARGUMENT: {'x'}", "proposal_error_prompt"),
    (SR + "REFUSE: {'A1'}\nARGUMENT: {'x'}", "refuse_error_prompt"),
    (SR + "AGREE: {'A1'}\nARGUMENT: {'x'}", "agreement_non_active_prompt"),
])
def test_a_broken_reply_costs_patience_then_ends_the_game(bad, key):
    master = play([bad])
    assert master.current_role == P1 and master.messages_for(P1)[-1]["content"] == ERROR_PROMPTS[key]
    assert master.patience[P1] == 0 and not master.done
    master.step(bad)  # patience 1: the second time ends the game
    parse_error = key in ("no_sr_prompt", "no_argument_prompt", "untagged_sequence_prompt", "invalid_python_set_error")
    assert master.outcome.status is (Status.ABORTED if parse_error else Status.LOSE)
    scores = episode(master)
    assert math.isnan(scores["Main Score"]) if parse_error else scores["Main Score"] == 0
    assert scores["Violations Player 1"] == int(parse_error)


def test_too_many_replies_without_a_proposal_lose():
    talk = reply("ARGUMENT: {'let us talk'}")
    master = play([PROPOSE_AC, talk, talk])
    assert not master.done
    master.step(talk)  # a third reply in a row without a proposal: over the limit of 2
    assert master.outcome.status is Status.LOSE


def test_a_refusal_withdraws_the_proposal():
    master = play([PROPOSE_AC, reply("REFUSE: {'A1', 'C3'}", "PROPOSAL: {'B2', 'C3'}", "ARGUMENT: {'no'}"),
                   reply("AGREE: {'A1', 'C3'}", "ARGUMENT: {'hm'}")])
    assert master.current_role == P1 and master.messages_for(P1)[-1]["content"] == ERROR_PROMPTS["agreement_non_active_prompt"]


def test_reply_with_only_reasoning_is_retried():
    master = play([SR + "ARGUMENT: {'a'}"])
    assert master.current_role == P2  # an argument is enough to be relayed
    master = play(["STRATEGIC REASONING: {'only this'}"], small(require_argument=False))
    assert master.messages_for(P1)[-1]["content"] == ERROR_PROMPTS["only_sr_prompt"]


# ---------------------------------------------------------------------------------------------- players
def test_last_proposal_reads_the_latest_set():
    assert last_proposal("PROPOSAL: {'A1'}\nARGUMENT: {'x'}\nPROPOSAL: {'B2', 'C3'}") == {"B2", "C3"}
    assert last_proposal("PROPOSAL: {'A', 'B', 'C', …}") is None


def _outcomes(rows, skill):
    outcomes, scores = collections.Counter(), []
    for seed, row in enumerate(rows):
        master = play_scripted(SPEC, row, skill, seed)
        check_scores(master)
        outcomes[master.outcome.status] += 1
        scores.append(master.scores()["episode scores"]["Main Score"])
    return outcomes, scores


def test_competent_players_agree_and_bad_players_do_not():
    rows = list(iter_rows(SPEC.name, load_instances(SPEC.instances_file("test"))))
    competent, scores = _outcomes(rows, "competent")
    assert competent[Status.SUCCESS] == len(rows) and min(scores) > 40
    bad, _ = _outcomes(rows, "bad")
    assert bad[Status.SUCCESS] / len(rows) < 0.3 and bad[Status.ABORTED] > 0


def test_unknown_role_or_skill():
    row = next(iter_rows(SPEC.name, load_instances(SPEC.instances_file("validation"))))
    with pytest.raises(ValueError):
        SPEC.scripted("Negotiator", "competent", row.experiment, row.instance, 0)
    with pytest.raises(ValueError):
        SPEC.scripted(P1, "genius", row.experiment, row.instance, 0)


# ---------------------------------------------------------------------------------------------- contract
def test_check_game():
    assert check_game(SPEC, episodes=10).episodes == 30


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from([PROPOSE_AC, reply("AGREE: {'A1', 'C3'}", "ARGUMENT: {'ok'}"), "x", "",
                                 reply("ARGUMENT: {'hm'}"), SR + "PROPOSAL: {1: 2}\nARGUMENT: {'x'}"]), max_size=20)
       | st.lists(st.text(), max_size=12))
def test_any_replies_end_in_a_defined_outcome(replies):
    row = next(iter_rows(SPEC.name, load_instances(SPEC.instances_file("validation"))))
    check_replies(SPEC, row, replies)


# ---------------------------------------------------------------------------------------------- instances
def test_generated_files_are_the_generator_output_and_splits_are_disjoint():
    splits = generate(SPEC.seed)
    items = {}
    for split, data in splits.items():
        assert load_instances(SPEC.instances_file(split)) == json.loads(json.dumps(data))
        for experiment in data["experiments"]:
            assert len(experiment["game_instances"]) == PER_EXPERIMENT[split]
        items[split] = {i for e in data["experiments"] for inst in e["game_instances"] for i in inst["item_weights"]}
    assert not items["train"] & items["test"] and not items["validation"] & items["test"]
    assert not items["train"] & items["validation"]


def test_official_instances_load_and_play(clembench_instances):
    path = clembench_instances / "air_balloon_survival" / "in" / "instances_en.json"
    if not path.is_file():
        pytest.skip("clembench's air_balloon_survival instances are absent")
    rows = list(iter_rows(SPEC.name, load_instances(path)))
    outcomes, _ = _outcomes(rows, "competent")
    assert outcomes[Status.SUCCESS] == len(rows) == 5


def test_verify_and_first_prompts_of_the_v3_records(fixtures_dir):
    runs = fixtures_dir / "clembench-runs-v3"
    paths = sorted(runs.glob("*/hot_air_balloon/*/instance_*/interactions.json"))
    if not paths:
        pytest.skip("no clembench v3.0 hot_air_balloon records")
    checks = verify(runs, {"hot_air_balloon"})
    assert [c.status for c in checks] == ["agree"] * len(paths), [c.reason for c in checks]
    for path in paths:
        record = json.loads(path.read_text())
        messages = recorded_messages(record)
        experiment, instance = SPEC.record_instance(record, messages)
        master = SPEC.new_episode(experiment, instance)
        first = {}
        for message in messages:
            if message.reply:
                master.step(message.text)
            elif message.player not in first:
                first[message.player] = (message.text, master.messages_for(master.current_role)[-1]["content"])
        assert all(recorded == ours for recorded, ours in first.values())


def _record(*messages):
    """A clembench v3.0 record holding ``messages``: (player, text, is a reply) in order."""
    turns = [[{"from": player if is_reply else "GM", "to": "GM" if is_reply else player,
               "action": {"type": "get message" if is_reply else "send message", "content": text}}
              for player, text, is_reply in messages]]
    players = {"GM": {"model_name": "programmatic"}, P1: {"model_name": "m"}, P2: {"model_name": "m"}}
    return {"meta": {"game_id": 1, "experiment_name": "air_balloon_survival_en_reasoning off_easy"},
            "players": players, "turns": turns}


# v3.0's prompt opening (data from a record), shortened to the parts record_instance reads
_V3_PROMPT = ('LIMIT = 4100\n\nItem effort = {"A19": 108, "B91": 133}\n\n'
              'Item importance values = {"A19": 138, "B91": 583}\n\nInteraction Protocol:\n')
_V3_NO_SR = ("Your response did not start with the proper strategic reasoning tag at the very beginning of your "
             "response. The very first structured format must be of the form STRATEGIC REASONING: {...}. Try again.")


def test_a_record_without_strategic_reasoning_rebuilds_a_reasoning_off_instance():
    # deepseek-v3.2, air_balloon_survival_en_reasoning off_easy, instance 1: no STRATEGIC REASONING anywhere
    opening = "PROPOSAL: {'A19', 'B91'}  \nARGUMENT: {'This combination balances high-value items.'}"
    record = _record((P1, _V3_PROMPT, False), (P1, opening, True),
                     (P2, _V3_PROMPT + "\n\nYou will now receive the first message of the other player.\n\n"
                      + opening, False))
    experiment, instance = SPEC.record_instance(record, recorded_messages(record))
    assert instance["strategic_reasoning"] is False and instance["max_weight"] == 4100
    master = SPEC.new_episode(experiment, instance)
    master.step(opening)
    assert not master.done and master.current_role == P2


def test_the_recorded_reprompt_text_is_the_instance_text_of_that_error():
    # mistral-3-large-2512, negotiation_easy, instance 0: a cut-off reasoning, then clembench's no_sr_prompt
    prompt = _V3_PROMPT + "STRATEGIC REASONING: {'...'}\n"
    cut_off = "STRATEGIC REASONING: {\nTo maximize my total importance while staying under the LIMIT (3358)"
    valid = "STRATEGIC REASONING: {mine}\n\nPROPOSAL: {'A19'}\nARGUMENT: {\nEfficient.\n}"
    chat = "PROPOSAL: {'A19'}\nARGUMENT: {\nEfficient.\n}"
    record = _record((P1, prompt, False), (P1, cut_off, True), (P1, _V3_NO_SR, False), (P1, valid, True),
                     (P2, prompt + "\n\nYou will now receive the first message of the other player.\n\n" + chat,
                      False))
    _, instance = SPEC.record_instance(record, recorded_messages(record))
    assert instance["strategic_reasoning"] is True
    assert instance["no_sr_prompt"] == _V3_NO_SR
    assert instance["no_argument_prompt"] == ERROR_PROMPTS["no_argument_prompt"]  # not in the record: ours


def test_a_record_where_only_player_1_played_replays_to_its_abort():
    # gpt-5.2, negotiation_hard, instance 1: an underscore in the tag three times, aborted before Player 2 played
    prompt = _V3_PROMPT + "STRATEGIC REASONING: {'...'}\n"
    underscored = "STRATEGIC_REASONING: {'Re-offer the same feasible anchor bundle.'}\nPROPOSAL: {'A19', 'B91'}"
    record = _record((P1, prompt, False), (P1, underscored, True), (P1, _V3_NO_SR, False), (P1, underscored, True),
                     (P1, _V3_NO_SR, False), (P1, underscored, True))
    messages = recorded_messages(record)
    experiment, instance = SPEC.record_instance(record, messages)
    assert instance["player2_preferences"] == instance["player1_preferences"] == {"A19": 138, "B91": 583}
    master = SPEC.new_episode(experiment, instance)
    for message in messages:
        if message.reply:
            master.step(message.text)
    assert master.outcome.status is Status.ABORTED and math.isnan(episode(master)["Main Score"])


def test_registry():
    assert get_game("hot_air_balloon") is SPEC and SPEC.domain == "out"

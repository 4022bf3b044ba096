import collections
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playpen.core.check import check_game, check_replies, check_scores, play_scripted
from playpen.core.errors import PlaypenError
from playpen.core.instances import iter_rows, load_instances
from playpen.core.master import Status
from playpen.eval.verify import verify
from playpen.games import get_game
from playpen.games.dond import GAMES, scoring
from playpen.games.dond.generate import ITEMS, LANGUAGES, MODES, PER_EXPERIMENT, generate
from playpen.games.dond.master import match_type, stemmer
from playpen.games.dond.players import partner_values
from playpen.results.records import recorded_messages

SPEC = GAMES["dond"]
P1, P2 = SPEC.roles
INSTANCE = {"game_id": 0, "item_types": ["book", "hat", "knife"], "item_types_plural": ["books", "hats", "knives"],
            "item_counts": [2, 1, 2], "player_a_values": [3, 4, 0], "player_b_values": [1, 0, 4]}


def experiment(mode="coop", language="en", max_turns=2):
    return {"name": f"{mode}_{language}", "mode": mode, "language": language, "max_turns": max_turns,
            "initial_prompt": "Items: $ITEMS$. Yours: $VALUE_FUNCTION$. $N$ messages each.\n",
            "proposal_early": "They proposed; your turn.", "proposal_timeout": "Time is up: propose."}


def play(replies, mode="coop", language="en", instance=INSTANCE, max_turns=2):
    master = SPEC.new_episode(experiment(mode, language, max_turns), instance)
    for reply in replies:
        master.step(reply)
    return master


def episode(master):
    return master.scores()["episode scores"]


# ---------------------------------------------------------------------------------------------- prompts, parsing
def test_prompts_fill_the_experiment_template():
    master = play(["hello"])
    assert master.messages_for(P2)[-1]["content"] == (
        "Items: 2 books, 1 hat, 2 knives. Yours: book: 1, hat: 0, knife: 4. 2 messages each.\n\n\nhello")


def test_item_names_match_by_number_form_then_stem():
    stem = stemmer("en")
    types, plurals = INSTANCE["item_types"], INSTANCE["item_types_plural"]
    assert match_type(2, "books", types, plurals, stem) == "book"
    assert match_type(1, "books", types, plurals, stem) == "book"  # the other form
    assert match_type(2, "knife", types, plurals, stem) == "knife"
    assert match_type(1, "booking", types, plurals, stem) == "book"  # Snowball stem "book"
    assert match_type(1, "pen", types, plurals, stem) is None


@pytest.mark.parametrize("reply, reason", [
    ("[I want 2 books]", 'proposal does not start with "proposal:"'),
    ("[Proposal: two books]", "proposal does not include number/name pairs"),
    ("[Proposal: 2 pens]", "proposal must include only valid item types"),
    ("[Proposal: 1 book, 1 books]", "proposal must include every item type only once"),
])
def test_malformed_proposals_abort(reply, reason):
    master = play([reply])
    assert master.outcome.status is Status.ABORTED and master.outcome.reason == reason
    assert math.isnan(episode(master)["Main Score"])


# one instance of each of clembench's official non-English files (dond/in/instances_{coop_de,semi_it,comp_hu}.json)
_OFFICIAL = {
    "de": ({"game_id": 1, "item_types": ["Kamm", "Bleistift", "Teller"], "item_types_plural": ["Kämme", "Bleistifte",
            "Teller"], "item_counts": [2, 2, 1], "player_a_values": [0, 0, 10], "player_b_values": [1, 1, 6]},
           "Die Menge der verfügbaren Gegenstände ist:\n\n2 Kämme, 2 Bleistifte, 1 Teller",
           "[Vorschlag: 1 Teller]", "[Vorschlag: 2 Kämme, 2 Bleistifte]"),
    "it": ({"game_id": 5, "item_types": ["guanto", "uovo", "fiore"], "item_types_plural": ["guanti", "uova", "fiori"],
            "item_counts": [2, 1, 2], "player_a_values": [0, 4, 3], "player_b_values": [2, 2, 2]},
           "Die Menge der verfügbaren Gegenstände ist:\n\n2 guanti, 1 uovo, 2 fiori",
           "[Proposta: 1 uovo, 2 fiori]", "[Proposta: 2 guanti]"),
    "hu": ({"game_id": 49, "item_types": ["villa", "pohár", "banán"], "item_types_plural": ["villák", "poharak",
            "banánok"], "item_counts": [1, 3, 1], "player_a_values": [4, 2, 0], "player_b_values": [1, 0, 9]},
           "Die Menge der verfügbaren Gegenstände ist:\n\n1 villa, 3 poharak, 1 banán",
           "[Javaslat: 1 villa, 3 poharak]", "[Javaslat: 1 banán]"),
}


@pytest.mark.parametrize("language", sorted(_OFFICIAL))
def test_official_non_english_instances_render_and_split(language):
    instance, items_line, first, second = _OFFICIAL[language]
    exp = {**experiment("coop", language, 5),
           "initial_prompt": "Die Menge der verfügbaren Gegenstände ist:\n\n$ITEMS$\n\n$VALUE_FUNCTION$\n"}
    master = SPEC.new_episode(exp, instance)
    assert master.messages_for(P1)[-1]["content"].startswith(items_line)
    master.step(first)
    master.step(second)
    assert master.outcome.status is Status.SUCCESS and episode(master)["Main Score"] == 100


def test_german_and_italian_prefixes():
    assert play(["[Vorschlag: 2 books]"], language="de").proposals[P1] == [2, 0, 0]
    assert play(["[Proposta: 1 hat,]"], language="it").proposals[P1] == [0, 1, 0]
    assert play(["[Javaslat: 2 knives]"], language="hu").proposals[P1] == [0, 0, 2]


# ---------------------------------------------------------------------------------------------- rules
def test_complementary_proposals_succeed_with_the_coop_score():
    master = play(["hi", "hi", "[Proposal: 2 books, 1 hat]", "[Proposal: 2 knives]"])
    assert master.outcome.status is Status.SUCCESS
    assert master.messages_for(P2)[-2]["content"] == "They proposed; your turn."
    assert episode(master)["Main Score"] == 100.0  # 10 + 8 = the best sum
    assert master.record_keys()["sum_of_scores"] == 18 and master.record_keys()["pareto_optimal"] == 1


def test_conflicting_proposals_lose():
    master = play(["[Proposal: 2 books, 2 knives]", "[Proposal: 1 knife]"])
    assert master.outcome.status is Status.LOSE
    assert episode(master)["Main Score"] == 0.0 and episode(master)["Sum of Points"] == 0.0


def test_competitive_mode_always_scores_100_unless_aborted():
    assert episode(play(["[Proposal: 2 books, 2 knives]", "[Proposal: 1 knife]"], mode="comp"))["Main Score"] == 100


def test_semi_mode_scores_the_pareto_gap():
    master = play(["[Proposal: 1 book]", "[Proposal: 2 knives]"], mode="semi")
    # A gets 3 of its best 10 (B's best: 8); giving A the other book and the hat gains A 7, B nothing lost
    assert master.record_keys()["pareto_improvement"] == 7
    assert episode(master)["Main Score"] == pytest.approx(100 * (1 - 7 / 10))


def test_a_message_after_a_proposal_or_in_the_last_round_aborts():
    assert play(["[Proposal: 1 book]", "ok then"]).outcome.status is Status.ABORTED
    master = play(["a", "b", "c", "d"])
    assert master.messages_for(P1)[-1]["content"] == "d\n\n\nTime is up: propose."
    master.step("e")
    assert master.outcome.status is Status.ABORTED


def test_too_many_items_abort():
    assert play(["[Proposal: 3 books]"]).outcome.status is Status.ABORTED


def test_scoring_formulas():
    counts, a, b = [2, 1, 2], [3, 4, 0], [1, 0, 4]
    assert scoring.max_sum(counts, a, b) == 18 and scoring.max_player(counts, a, b) == 10
    assert scoring.pareto_gain(counts, a, b, [2, 1, 0], [0, 0, 2]) == 0


# ---------------------------------------------------------------------------------------------- players
def test_partner_values_reads_the_latest_values_message():
    assert partner_values([{"role": "user", "content": "rules\n\nVALUES book=3 hat=0"}]) == {"book": 3, "hat": 0}


def _outcomes(rows, skill):
    outcomes, scores = collections.Counter(), []
    for seed, row in enumerate(rows):
        master = play_scripted(SPEC, row, skill, seed)
        check_scores(master)
        outcomes[master.outcome.status] += 1
        scores.append(master.scores()["episode scores"]["Main Score"])
    return outcomes, scores


def test_competent_players_split_best_and_bad_players_do_not():
    rows = list(iter_rows(SPEC.name, load_instances(SPEC.instances_file("test"))))
    competent, scores = _outcomes(rows, "competent")
    assert competent[Status.SUCCESS] == len(rows) and all(score == 100 for score in scores)
    bad, _ = _outcomes(rows, "bad")
    assert bad[Status.SUCCESS] / len(rows) < 0.3


def test_unknown_role_or_skill():
    row = next(iter_rows(SPEC.name, load_instances(SPEC.instances_file("validation"))))
    with pytest.raises(ValueError):
        SPEC.scripted("DealOrNoDealPlayer", "competent", row.experiment, row.instance, 0)
    with pytest.raises(ValueError):
        SPEC.scripted(P1, "genius", row.experiment, row.instance, 0)


# ---------------------------------------------------------------------------------------------- contract
def test_check_game():
    assert check_game(SPEC, episodes=10).episodes == 30


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["hi", "[Proposal: 1 book]", "[Proposal: 2 knives, 1 hat]", "[x]", "", " ",
                                 "[Proposal: ² books]", "[Proposal:]"]), max_size=12) | st.lists(st.text(), max_size=12))
def test_any_replies_end_in_a_defined_outcome(replies):
    row = next(iter_rows(SPEC.name, load_instances(SPEC.instances_file("validation"))))
    check_replies(SPEC, row, replies)


# ---------------------------------------------------------------------------------------------- instances
def test_generated_files_are_the_generator_output_and_splits_are_disjoint():
    splits = generate(SPEC.seed)
    words = {}
    for split, data in splits.items():
        assert load_instances(SPEC.instances_file(split)) == json.loads(json.dumps(data))
        assert [e["name"] for e in data["experiments"]] == [f"{m}_{lang}" for lang in LANGUAGES for m in MODES]
        for exp in data["experiments"]:
            assert len(exp["game_instances"]) == PER_EXPERIMENT[split]
            for inst in exp["game_instances"]:
                for values in (inst["player_a_values"], inst["player_b_values"]):
                    assert scoring.points(inst["item_counts"], values) == 10
        words[split] = {w for e in data["experiments"] for i in e["game_instances"] for w in i["item_types"]}
    assert not words["train"] & words["test"] and not words["validation"] & words["test"]
    assert all(len({s for s, _ in ITEMS[lang]}) == len(ITEMS[lang]) for lang in LANGUAGES)


def test_experiment_filter_selects_a_language():
    from playpen.rollout.planner import select_rows

    rows = select_rows(SPEC, split="test", experiments={"coop_de", "semi_de", "comp_de"})
    assert {row.experiment["language"] for row in rows} == {"de"} and len(rows) == 15


def test_unsupported_language_is_refused():
    with pytest.raises(PlaypenError, match="dond plays en, de, it, hu"):
        SPEC.validate(experiment(language="fr"), INSTANCE, "instances_coop_fr.json")
    SPEC.validate(experiment(language="hu"), INSTANCE, "instances_coop_hu.json")  # clembench's Hungarian files


def test_verify_and_prompts_of_the_v3_records(fixtures_dir):
    runs = fixtures_dir / "clembench-runs-v3"
    paths = sorted(runs.glob("*/dond/*/instance_*/interactions.json"))
    if not paths:
        pytest.skip("no clembench v3.0 dond records")
    checks = verify(runs, {"dond"})
    assert [c.status for c in checks] == ["agree"] * len(paths), [c.reason for c in checks]
    for path in paths:
        record = json.loads(path.read_text())
        messages = recorded_messages(record)
        exp, inst = SPEC.record_instance(record, messages)
        master = SPEC.new_episode(exp, inst)
        sent = []
        for message in messages:
            if message.reply:
                master.step(message.text)
            else:
                sent.append(master.messages_for(master.current_role)[-1]["content"])
        assert sent == [m.text for m in messages if not m.reply]


def test_registry():
    assert get_game("dond") is SPEC and SPEC.domain == "out"

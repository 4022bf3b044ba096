"""wordle, wordle_withclue, wordle_withcritic: rules, scores, scripted players, instances, fidelity."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playpen.core.check import check_game, check_scores
from playpen.core.errors import ParseError, RuleViolation
from playpen.core.instances import iter_rows, load_instances
from playpen.core.metrics import EPISODE_SCORES_KEY, TURN_SCORES_KEY
from playpen.games import get_game
from playpen.games.wordle import GAMES, prompts
from playpen.games.wordle.generate import COMMON_CONFIG, DEFAULT_SEED, SPLIT_SIZES, generate
from playpen.games.wordle.players import Constraints, scripted
from playpen.games.wordle.rules import (
    INVALID_FORMAT,
    INVALID_START_WORD,
    INVALID_WORD_LENGTH,
    MORE_THAN_ONE_GUESS,
    NOT_VALID_CRITIC_WORD,
    NOT_VALID_WORD_FOR_GAME,
    UNKNOWN_TAGS,
    UnknownWord,
    closeness,
    colours,
    critic_metrics,
    feedback,
    parse_reply,
    strategy_scores,
    validate_agreement,
    validate_guess,
    variant_main_score,
    wordle_main_score,
)
from playpen.games.wordle.words import default_vocabulary, ranked_words, target_words, vocabulary_for

VARIANTS = ("wordle", "wordle_withclue", "wordle_withcritic")
OFFICIAL_FILES = {
    "wordle": "instances.json",
    "wordle_withclue": "instances_withclue.json",
    "wordle_withcritic": "instances_withcritic.json",
}
EXPERIMENT = {"name": "high_frequency_words_no_clue_no_critic", "common_config": COMMON_CONFIG}


def g(word: str, why: str = "a reason") -> str:
    return f"explanation: {why}\nguess: {word}"


def a(verdict: str, why: str = "a reason") -> str:
    return f"explanation: {why}\nagreement: {verdict}"


def new(game: str = "wordle", target: str = "crane", clue: str = "bird or building machine", **config):
    experiment = {**EXPERIMENT, "common_config": {**COMMON_CONFIG, **config}}
    instance = {"game_id": 1, "target_word": target, "target_word_clue": clue, "target_word_difficulty": "high_frequency"}
    return GAMES[game].new_episode(experiment, instance)


def play(master, *replies: str):
    for reply in replies:
        assert not master.done, f"episode ended before {reply!r}"
        master.step(reply)
    return master


def episode_scores(master) -> dict:
    return master.scores()[EPISODE_SCORES_KEY]


# ------------------------------------------------------------------------------------------------ colours
@pytest.mark.parametrize(
    ("guess", "target", "expected"),
    [
        ("house", "party", "h<red> o<red> u<red> s<red> e<red>"),
        ("patly", "party", "p<green> a<green> t<yellow> l<red> y<green>"),
        ("fossa", "staff", "f<yellow> o<red> s<yellow> s<red> a<yellow>"),
        ("spell", "crone", "s<red> p<red> e<yellow> l<red> l<red>"),
        ("grape", "guava", "g<green> r<red> a<green> p<red> e<red>"),
        # the green e at the end uses up one e before the yellows are given out, left to right
        ("eerie", "spree", "e<yellow> e<red> r<green> i<red> e<green>"),
        ("crane", "crane", "c<green> r<green> a<green> n<green> e<green>"),
    ],
)
def test_colour_feedback_is_two_pass(guess, target, expected):
    assert feedback(guess, target) == expected


def test_the_prompt_example_is_correct_feedback():
    prompt = prompts.guesser_prompt({}, 6, clue=False, critic=False)
    assert f"guess_feedback: {feedback('trace', 'crane')}" in prompt
    assert 'secret word were "crane", the guess "trace"' in prompt


# ------------------------------------------------------------------------------------------------ parsing
@pytest.mark.parametrize(
    ("reply", "key"),
    [
        ("guess: crane", INVALID_START_WORD),
        ("Explanation: x\nguess: crane", INVALID_START_WORD),  # case-sensitive start
        ("I think\nexplanation: x\nguess: crane", INVALID_START_WORD),
        ("explanation: x\n\nguess: crane", UNKNOWN_TAGS),
        ("explanation: x\nguess: crane\nthanks", UNKNOWN_TAGS),
        ("explanation: x", MORE_THAN_ONE_GUESS),
        ("explanation: my guess: slate\nguess: crane", MORE_THAN_ONE_GUESS),
        ("explanation: x guess: crane\nguess: slate", MORE_THAN_ONE_GUESS),
    ],
)
def test_protocol_errors(reply, key):
    with pytest.raises(ParseError) as error:
        parse_reply(reply)
    assert error.value.key == key


def test_reply_parsing_accepts_case_and_whitespace_variants():
    assert parse_reply("  explanation: start wide\nGUESS:  Crane \n").content == "crane"
    assert parse_reply("explanation: start wide\nguess: crane").explanation == "start wide"
    assert parse_reply("explanation: all on one line guess: crane").content == "crane"
    assert parse_reply("explanation:\nguess: crane").explanation == ""
    assert parse_reply("explanation: fine\nagreement: Yes", "agreement:").content == "yes"


@pytest.mark.parametrize(
    ("guess", "key", "error"),
    [
        ("crane.", INVALID_FORMAT, RuleViolation),
        ("audio<|end_of_text|>", INVALID_FORMAT, RuleViolation),
        ("two words", INVALID_FORMAT, RuleViolation),
        ("", INVALID_FORMAT, RuleViolation),
        ("funk", INVALID_WORD_LENGTH, RuleViolation),
        ("cranes", INVALID_WORD_LENGTH, RuleViolation),
        ("xqzvw", NOT_VALID_WORD_FOR_GAME, UnknownWord),
    ],
)
def test_guess_validation(guess, key, error):
    with pytest.raises(error) as raised:
        validate_guess(guess, 5, default_vocabulary())
    assert raised.value.key == key


def test_agreement_validation():
    validate_agreement("yes")
    validate_agreement("no")
    for value, key in (("maybe", NOT_VALID_CRITIC_WORD), ("yes.", INVALID_FORMAT), ("yes no", INVALID_FORMAT)):
        with pytest.raises(RuleViolation) as raised:
            validate_agreement(value)
        assert raised.value.key == key


# ------------------------------------------------------------------------------------------------ score formulas
def test_closeness_and_strategy_scores_match_a_recorded_episode():
    guesses = ["house", "stamp", "plate", "patly", "party"]
    colour_lists = [colours(word, "party") for word in guesses]
    assert [closeness(c) for c in colour_lists] == [0, 9, 13, 18, 25]
    assert strategy_scores(guesses, colour_lists, aborted=False) == [0, -20, 30, 30, 70]


def test_strategy_uses_letter_sets():
    guesses = ["bless", "messy"]  # s is both yellow and red in "bless": -20 for e, -20 and +10 for s
    assert strategy_scores(guesses, [colours(w, "staff") for w in guesses], aborted=False) == [0, -30]


def test_strategy_of_a_single_guess():
    assert strategy_scores(["crane"], [colours("crane", "crane")], aborted=False) == [100]
    assert strategy_scores(["slate"], [colours("slate", "crane")], aborted=True) == [0]
    assert strategy_scores([], [], aborted=True) == []


def test_main_score_formulas():
    assert [wordle_main_score(t) for t in range(1, 7)] == [100, 100, 100, 50, 30, 20]
    assert [variant_main_score(t) for t in range(1, 7)] == [100.0, 50.0, 33.33, 25.0, 20.0, 16.67]


def test_critic_ratios():
    changes, ratios = critic_metrics(["fruit", "guava"], ["grape", "guava"], ["no", "yes"])
    assert changes == [1, 0]
    assert list(ratios.values()) == [1.0, 0.0, 0.0, 1.0]
    changes, ratios = critic_metrics(["forum"], ["agora"], ["yes"])
    assert list(ratios.values()) == [0.0, 1.0, 0, 0]  # no disagreement at all: 0, not NaN
    changes, ratios = critic_metrics(["forum"], [], ["yes"])  # cut short by an abort: nothing to pair
    assert changes == [] and all(math.isnan(v) for v in ratios.values())
    _, ratios = critic_metrics(["a", "b", "c"], ["a", "x", "c"], ["yes", "yes", "no"])
    assert list(ratios.values()) == [0.5, 0.5, 1.0, 0.0]


# ------------------------------------------------------------------------------------------------ wordle episodes
def test_win_in_round_five_with_a_reprompt_scores_30():
    master = play(new(target="party"), g("house"), g("stamp"), g("plate"), g("qqqqq"), g("patly"), g("party"))
    assert master.outcome.status.value == "success"
    assert len(master.rounds) == 5
    scores = episode_scores(master)
    assert scores["Main Score"] == 30
    assert (scores["Request Count"], scores["Parsed Request Count"], scores["Violated Request Count"]) == (6, 6, 0)
    assert scores["Guess Repetitions"] == 0
    turns = master.scores()[TURN_SCORES_KEY]
    assert turns["3"]["Request Count"] == 2  # the re-prompt stays in its round
    assert [turns[str(i)]["Strategy Score"] for i in range(5)] == [0, -20, 30, 30, 70]


@pytest.mark.parametrize(("rounds", "score"), [(1, 100), (3, 100), (4, 50), (5, 30), (6, 20)])
def test_wordle_main_score_by_round(rounds, score):
    misses = [g(w) for w in ("slate", "pious", "dumpy", "brick", "fjord")[: rounds - 1]]
    master = play(new(target="crane"), *misses, g("crane"))
    assert episode_scores(master)["Main Score"] == score


def test_six_wrong_guesses_lose():
    master = play(new(target="crane"), *[g(w) for w in ("slate", "slate", "pious", "dumpy", "brick", "fjord")])
    scores = episode_scores(master)
    assert (scores["Lose"], scores["Success"], scores["Aborted"], scores["Main Score"]) == (1, 0, 0, 0)
    assert scores["Guess Repetitions"] == 1


def test_context_after_a_guess_and_after_an_unknown_word():
    master = play(new(target="crane"), g("slate"))
    context = master.messages_for()[-1]["content"]
    assert context.startswith("guess_feedback: s<red> l<red> a<green> t<red> e<green>\n\n")
    assert context.endswith("explanation: details\nguess: word")
    master.step(g("qqqqq"))
    assert master.messages_for()[-1]["content"].startswith('"qqqqq" is not in the list of words')


def test_five_unknown_words_are_reprompted_and_the_sixth_aborts():
    master = play(new(), *[g("qqqqq")] * 5)
    assert not master.done and len(master.rounds) == 1
    master.step(g("zzzzz"))
    scores = episode_scores(master)
    assert scores["Aborted"] == 1 and math.isnan(scores["Main Score"]) and math.isnan(scores["Guess Repetitions"])
    assert (scores["Request Count"], scores["Parsed Request Count"], scores["Violated Request Count"]) == (6, 6, 0)
    assert math.isnan(master.scores()[TURN_SCORES_KEY]["0"]["Closeness Score"])  # no valid guess at all


def test_the_reprompt_counter_resets_after_a_valid_guess():
    master = play(new(), *[g("qqqqq")] * 5, g("slate"), *[g("qqqqq")] * 5, g("crane"))
    assert master.outcome.status.value == "success"
    assert episode_scores(master)["Main Score"] == 100


@pytest.mark.parametrize(
    "reply",
    ["guess: crane", "explanation: x\n\nguess: crane", "explanation: x\nguess: crane.", g("funk"), g("cranes"), g("a b")],
)
def test_every_other_error_aborts_at_once_as_a_violated_request(reply):
    master = play(new(), g("slate"), reply)
    scores = episode_scores(master)
    assert scores["Aborted"] == 1 and math.isnan(scores["Main Score"])
    assert (scores["Request Count"], scores["Parsed Request Count"], scores["Violated Request Count"]) == (2, 1, 1)
    turns = master.scores()[TURN_SCORES_KEY]
    assert turns["0"]["Strategy Score"] == 0  # a lone guess of an aborted episode scores 0, not 100


def test_abort_before_any_guess_has_nan_turn_scores():
    turns = play(new(), "no idea").scores()[TURN_SCORES_KEY]
    assert math.isnan(turns["0"]["Closeness Score"]) and math.isnan(turns["0"]["Strategy Score"])


def test_first_guess_win_has_strategy_100():
    master = play(new(), g("crane"))
    assert master.scores()[TURN_SCORES_KEY]["0"]["Strategy Score"] == 100


# ------------------------------------------------------------------------------------------------ withclue
def test_withclue_shows_the_clue_after_the_rules_and_scores_100_over_t():
    master = new("wordle_withclue", target="crane", clue="tall wading bird")
    first = master.messages_for()[0]["content"]
    assert first.startswith("Let's play Wordle.") and first.endswith("\n\nclue: tall wading bird")
    play(master, g("slate"), g("brick"), g("crane"))
    assert episode_scores(master)["Main Score"] == 33.33


# ------------------------------------------------------------------------------------------------ withcritic
def test_withcritic_round_structure_and_messages():
    master = new("wordle_withcritic", target="guava", clue="fruit jelly source")
    assert GAMES["wordle_withcritic"].roles == ("ReflectingWordGuesser", "WordCritic")
    master.step(g("fruit", "a fruit"))
    assert master.current_role == "WordCritic"
    critic_view = master.messages_for()[-1]["content"]
    assert critic_view.endswith("clue: fruit jelly source\nexplanation: a fruit\nguess: fruit")
    master.step(a("no", "too general"))
    assert master.current_role == "ReflectingWordGuesser"
    assert master.messages_for()[-1]["content"].startswith(
        "clue: fruit jelly source\nguess_agreement: no\nagreement_explanation: too general\n\n"
    )
    master.step(g("grape"))
    assert len(master.rounds) == 2 and master.current_role == "ReflectingWordGuesser"
    assert master.messages_for()[-1]["content"].startswith("guess_feedback: g<green> r<red> a<green> p<red> e<red>")
    master.step(g("guava"))
    # from the second round on the critic gets the format reminder
    assert master.messages_for()[-1]["content"].endswith("explanation: details\nagreement: yes or no")
    play(master, a("yes"), g("guava"))
    scores = master.scores()
    episode = scores[EPISODE_SCORES_KEY]
    assert episode["Main Score"] == 50.0 and episode["Request Count"] == 6
    assert [episode[k] for k in list(episode)[-4:]] == [1.0, 0.0, 0.0, 1.0]
    assert [scores[TURN_SCORES_KEY][str(i)]["Change-Of-Opinion"] for i in range(2)] == [1, 0]
    assert [scores[TURN_SCORES_KEY][str(i)]["Closeness Score"] for i in range(2)] == [10, 25]


def test_withcritic_only_the_committed_guess_counts():
    master = play(new("wordle_withcritic", target="crane"), g("crane"), a("no"), g("slate"))
    assert not master.done and master.guesses == ["slate"]


def test_withcritic_critic_errors_abort_without_reprompt():
    for bad in ("agreement: yes", a("maybe"), "explanation: x\nagreement: yes\nagreement: no"):
        master = play(new("wordle_withcritic"), g("slate"), bad)
        scores = episode_scores(master)
        assert scores["Aborted"] == 1 and scores["Violated Request Count"] == 1
        assert all(math.isnan(scores[k]) for k in list(scores)[-4:])  # no committed round to pair


def test_withcritic_unknown_words_are_reprompted_at_both_steps():
    master = play(new("wordle_withcritic"), g("qqqqq"), g("slate"), a("yes"), g("qqqqq"), g("slate"))
    assert master.guesses == ["slate"] and master.current_role == "ReflectingWordGuesser"
    assert episode_scores(play(master, g("crane"), a("yes"), g("crane")))["Main Score"] == 50.0


# ------------------------------------------------------------------------------------------------ vocabulary
def test_official_word_list_is_used_when_the_experiment_carries_it():
    official = {**EXPERIMENT, "lang_keywords": {"official_words_list": ["crane", "slate"]}}
    master = GAMES["wordle"].new_episode(official, {"game_id": 1, "target_word": "crane"})
    master.step(g("about"))  # a common word, but not in this experiment's list
    assert not master.done and master.messages_for()[-1]["content"].startswith('"about" is not in the list')
    assert "about" in vocabulary_for(EXPERIMENT)


KEYWORDS = {
    "official_words_list": ["crane", "slate", "about"], "clue_lang": "CLUE:", "guess_lang": "GUESS:",
    "guess_word_lang": "w", "explanation_lang": "WHY:", "explanataion_details_lang": "d",
    "guess_feedback_lang": "COLOURS:", "agreement_lang": "OK:", "agreement_word_lang": "y/n",
    "guess_agreement_lang": "OK?", "agreement_explanation_lang": "BECAUSE:",
    "error_prompt_text": {"NOT_VALID_WORD_FOR_GAME": "Unknown word.", "RETRY": "Again.", "INVALID_FORMAT": "Format:"},
}


def test_an_official_experiment_s_texts_build_every_message():
    experiment = {**EXPERIMENT, "lang_keywords": KEYWORDS, "guesser_prompt": "Guess!\n", "guesser_critic_prompt": "Judge!"}
    instance = {"game_id": 1, "target_word": "crane", "target_word_clue": " a bird "}
    master = GAMES["wordle_withcritic"].new_episode(experiment, instance)
    assert master.messages_for()[-1]["content"] == "Guess!\n\n\nCLUE: a bird"
    play(master, g("qqqqq"))
    assert master.messages_for()[-1]["content"] == "Unknown word. Again.\n\nFormat:\nWHY: d\nGUESS: w"
    play(master, g("slate", "first try"))
    assert master.messages_for()[-1]["content"] == "Judge!\n\nCLUE: a bird\nWHY: first try\nGUESS: slate"
    play(master, a("no", "not a bird"))
    assert master.messages_for()[-1]["content"] == (
        "CLUE: a bird\nOK? no\nBECAUSE: not a bird\n\nFormat:\nWHY: d\nGUESS: w")
    play(master, g("slate"))
    assert master.messages_for()[-1]["content"].startswith("COLOURS: s<red> l<red> a<green> t<red> e<green>\n\nFormat:")
    play(master, g("about", "second"))
    assert master.messages_for()[-1]["content"] == "CLUE: a bird\nWHY: second\nGUESS: about\n\nFormat:\nWHY: d\nOK: y/n"


def test_a_legacy_experiment_s_turns_and_single_retry_count_are_read():
    # clembench's instance files before v1.6: max_attempts_per_game, one retry count for every error
    experiment = {"name": "high_frequency_words_no_clue_no_critic",
                  "common_config": {"max_word_length": 5, "max_attempts_per_game": 4, "max_retry_per_error": 2}}
    master = GAMES["wordle"].new_episode(experiment, {"game_id": 1, "target_word": "crane"})
    assert (master.max_rounds, master.max_reprompts) == (4, 2)
    play(master, g("qqqqq"), g("qqqqq"), g("qqqqq"))
    assert master.outcome.status.value == "aborted"  # the third unknown word in a row


def test_resources_are_consistent():
    allowed = set(ranked_words())
    pool = target_words()
    assert len(allowed) > 10_000 and len(allowed) == len(ranked_words())
    assert all(len(w) == 5 and w.isalpha() and w.islower() for w in allowed)
    for band in pool.values():
        assert set(band) <= allowed
        assert all(clue and word not in clue for word, clue in band.items())


# ------------------------------------------------------------------------------------------------ contract checks
@pytest.mark.parametrize("game", VARIANTS)
def test_check_game(game):
    report = check_game(GAMES[game], episodes=8)
    assert report.episodes == 24


@pytest.mark.parametrize("game", VARIANTS)
@settings(max_examples=40, deadline=None)
@given(replies=st.lists(st.text(max_size=60) | st.sampled_from(["explanation: x\nguess: slate", g("qqqqq"), a("yes")]), max_size=20))
def test_any_replies_keep_the_episode_defined(game, replies):
    master = new(game)
    for reply in replies:
        if master.done:
            break
        master.step(reply)
    if master.done:
        check_scores(master)
        assert master.outcome.status.value in ("success", "lose", "aborted")
    else:
        assert master.current_role in GAMES[game].roles and master.messages_for()


def test_branching_copy_continues_identically():
    master = play(new("wordle_withcritic"), g("slate"), a("yes"), g("slate"))
    fork = master.copy()
    for m in (master, fork):
        play(m, g("crane"), a("yes"), g("crane"))
    assert fork.rounds == master.rounds
    assert json.dumps(fork.scores()) == json.dumps(master.scores())
    assert fork.vocabulary is master.vocabulary and fork.experiment is master.experiment  # shared, read-only


# ------------------------------------------------------------------------------------------------ scripted players
def run_scripted(game, rows, skills, seed=0):
    spec = GAMES[game]
    outcomes = []
    for row in rows:
        master = spec.new_episode(row.experiment, row.instance)
        players = {r: spec.scripted(r, skills[i], row.experiment, row.instance, seed) for i, r in enumerate(spec.roles)}
        while not master.done:
            master.step(players[master.current_role](master.messages_for()))
        outcomes.append(master.outcome.status.value)
    return outcomes


@pytest.mark.parametrize("game", VARIANTS)
def test_competent_players_win_and_bad_players_do_not(game):
    rows = list(iter_rows(game, load_instances(GAMES[game].instances_file("validation"))))
    competent = run_scripted(game, rows, ("competent", "competent"))
    bad = run_scripted(game, rows, ("bad", "bad"), seed=3)
    assert competent.count("success") / len(rows) >= 0.9
    assert bad.count("success") / len(rows) <= 0.2


def test_competent_guesser_plays_from_the_feedback():
    guesser = scripted("WordGuesser", "competent", EXPERIMENT, {"target_word": "crane"}, 0)
    master = new(target="ghost")
    replies = []
    while not master.done:
        replies.append(guesser(master.messages_for()))
        master.step(replies[-1])
    assert master.outcome.status.value == "success"
    guesses = [parse_reply(r).content for r in replies]
    # every guess after the first fits all the colours seen before it
    for index, word in enumerate(guesses[1:], start=1):
        seen = [(w, colours(w, "ghost")) for w in guesses[:index]]
        constraints = Constraints(seen)
        assert constraints.pattern().match(word) and constraints.counts_fit(word)


def test_literal_guesser_names_the_clues_word_first_then_solves():
    guesser = scripted("WordGuesser", "literal", EXPERIMENT, {"target_word": "Ghost"}, 0)
    master = new("wordle_withclue", target="ghost", clue="a spirit that haunts a house")
    assert guesser(master.messages_for()) == "explanation: the clue describes this word.\nguess: ghost"
    play(master, guesser(master.messages_for()))
    assert master.outcome.status.value == "success"
    # after a wrong first guess (someone else's) it goes on as the competent solver
    solver = scripted("WordGuesser", "competent", EXPERIMENT, {"target_word": "ghost"}, 0)
    master = play(new("wordle_withclue", target="ghost"), g("crane"))
    assert guesser(master.messages_for()) == solver(master.messages_for())
    assert GAMES["wordle_withclue"].skills == ("competent", "bad", "literal")
    assert "literal" not in GAMES["wordle"].skills


def test_competent_critic_agrees_only_with_consistent_guesses():
    critic = scripted("WordCritic", "competent", EXPERIMENT, {"target_word": "crane"}, 0)
    master = play(new("wordle_withcritic", target="crane"), g("slate"))
    assert critic(master.messages_for()).endswith("agreement: yes")  # nothing known yet
    play(master, a("yes"), g("slate"), g("spilt"))  # slate showed a and e green: spilt cannot be it
    assert critic(master.messages_for()).endswith("agreement: no")


def test_scripted_players_are_deterministic():
    for role in ("ReflectingWordGuesser", "WordCritic"):
        for skill in ("competent", "bad"):
            first = scripted(role, skill, EXPERIMENT, {"target_word": "crane"}, 7)
            second = scripted(role, skill, EXPERIMENT, {"target_word": "crane"}, 7)
            messages = new("wordle_withcritic").messages_for("ReflectingWordGuesser")
            assert first(messages) == second(messages)


# ------------------------------------------------------------------------------------------------ instances
def test_generator_is_seeded_disjoint_and_sized_like_clembench():
    first = generate(5, "wordle")
    assert first == generate(5, "wordle") and first != generate(6, "wordle")
    targets = {}
    for split, data in first.items():
        names = [e["name"] for e in data["experiments"]]
        assert names == ["high_frequency_words_no_clue_no_critic", "medium_frequency_words_no_clue_no_critic"]
        sizes = {e["name"].split("_words")[0]: len(e["game_instances"]) for e in data["experiments"]}
        assert sizes == SPLIT_SIZES[split]
        targets[split] = {i["target_word"] for e in data["experiments"] for i in e["game_instances"]}
    assert not targets["train"] & targets["test"] and not targets["train"] & targets["validation"]
    assert not targets["validation"] & targets["test"]
    critic = generate(5, "wordle_withcritic")["test"]["experiments"][1]
    assert critic["name"] == "medium_frequency_words_clue_with_critic" and critic["use_critic"] is True
    words = lambda d: [i["target_word"] for e in d["test"]["experiments"] for i in e["game_instances"]]  # noqa: E731
    assert words(first) == words(generate(5, "wordle_withcritic"))  # the variants share their targets


@pytest.mark.parametrize("game", VARIANTS)
def test_committed_instance_files_are_the_generator_output(game):
    for split, data in generate(DEFAULT_SEED, game).items():
        assert load_instances(GAMES[game].instances_file(split)) == data


def test_registry_and_domain():
    for game in VARIANTS:
        assert get_game(game) is GAMES[game] and GAMES[game].domain == "in"


# ------------------------------------------------------------------------------------------------ real clembench data
def test_target_pool_is_disjoint_from_every_official_wordle_target(clembench_instances):
    official = set()
    for path in (clembench_instances / "wordle" / "in").glob("*.json"):
        for experiment in json.loads(path.read_text())["experiments"]:
            official |= {i["target_word"] for i in experiment["game_instances"]}
    pool = {w for band in target_words().values() for w in band}
    assert official and not official & pool


@pytest.mark.parametrize("game", VARIANTS)
def test_official_instances_load_and_play(game, clembench_instances):
    rows = list(iter_rows(game, load_instances(clembench_instances / "wordle" / "in" / OFFICIAL_FILES[game])))
    assert len(rows) == 30
    outcomes = run_scripted(game, rows[::3], ("competent", "competent"))
    assert outcomes.count("success") / len(outcomes) >= 0.9


@pytest.mark.parametrize("game", VARIANTS)
def test_verify_agrees_with_every_recorded_episode(game, clembench_runs):
    from playpen.eval.verify import verify

    for run in clembench_runs:
        checks = verify(run, {game})
        assert len(checks) == 6
        assert [c.status for c in checks] == ["agree"] * 6, [c.reason for c in checks]


def test_all_recorded_scores_match(clembench_runs):
    """Beyond verify: every episode metric, and the turn scores, which clembench numbers from 1 by guess."""
    from playpen.results.records import episodes, recorded_replies

    compared = 0
    for run in clembench_runs:
        for record in episodes(run, set(VARIANTS)):
            episode_dir, interactions = record.path, record.interactions
            master = GAMES[record.game].new_episode(record.experiment, record.instance)
            for reply in recorded_replies(interactions):
                master.step(reply)
            assert master.done and len(master.rounds) == len(interactions["turns"])
            recorded, ours = record.scores, master.scores()
            for key, value in recorded[EPISODE_SCORES_KEY].items():
                mine = ours[EPISODE_SCORES_KEY][key]
                assert mine == pytest.approx(value, abs=1e-4, nan_ok=True), (episode_dir, key)
            turns = {k: {n: v for n, v in t.items() if "Request" not in n} for k, t in ours[TURN_SCORES_KEY].items()}
            expected = recorded["turn scores"]
            if list(expected) != ["0"]:
                turns = {str(int(k) + 1): t for k, t in turns.items() if t}
            assert json.dumps(turns, sort_keys=True) == json.dumps(expected, sort_keys=True), episode_dir
            compared += 1
    assert compared == 36

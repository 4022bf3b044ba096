import collections
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playpen.core import metrics
from playpen.core.check import check_game, check_scores, play_scripted
from playpen.core.instances import iter_rows, load_instances
from playpen.core.master import Status
from playpen.eval.verify import verify
from playpen.games import get_game
from playpen.games.guesswhat import GAMES
from playpen.games.guesswhat.generate import LEVELS, generate, load_words
from playpen.games.guesswhat.master import DEFAULTS, FIX_DIRECT_GUESS, FIX_LOWER_BOUND, FIX_PUNCTUATED_TARGET

SPEC = GAMES["guesswhat"]
EPISODE, TURNS = metrics.EPISODE_SCORES_KEY, metrics.TURN_SCORES_KEY
CANDIDATES = ["Copper", "Lead", "Pepsi", "Lemonade", "Carbon", "Gold", "Chair", "Dresser"]
INSTANCE = {"game_id": 0, "target_word": "Pepsi", "candidate_list": CANDIDATES}
EXPERIMENT = {"name": "Level_1", **DEFAULTS}
Q, YES, NO = "QUESTION: Is it a drink?", "ANSWER: yes", "ANSWER: no"


def play(replies, instance=INSTANCE, experiment=EXPERIMENT):
    game = SPEC.new_episode(experiment, instance)
    for reply in replies:
        game.step(reply)
    return game


def episode(game):
    return game.scores()[EPISODE]


def win_in_round(rounds, experiment=EXPERIMENT):
    return play([Q, YES] * (rounds - 1) + ["GUESS: Pepsi"], experiment=experiment)


# ---------------------------------------------------------------- the guesser's format
@pytest.mark.parametrize("reply, reason", [
    ("Is it a drink?", "Invalid format. Guesser must use the form 'QUESTION: ' or 'GUESS: '."),
    ("question: Is it a drink?", "Invalid format. Guesser must use the form 'QUESTION: ' or 'GUESS: '."),
    ("QUESTION: Is it a drink? QUESTION: Is it a metal?", "Multiple questions detected in a single turn."),
    ("QUESTION: Is it a drink? Or a metal?", "Invalid format. Question must stop after the question mark."),
    ("QUESTION: Is it a drink? I think so.", "Invalid format. Question must stop after the question mark."),
    ("QUESTION: Does the word have more than three syllables?\n\nGUESS: Mustang<|end_of_text|>",
     "Invalid format. Question must stop after the question mark."),
    ("GUESS: Coca Cola", "Invalid format. A guess must be a single word."),
])
def test_format_violations_abort(reply, reason):
    game = play([reply])
    assert game.outcome.status is Status.ABORTED and game.outcome.reason == reason
    assert game.rounds[0][-1]["action"] == {"type": "invalid format", "content": reason}
    ep = episode(game)
    assert ep["Invalid format guesser response"] == 1 and ep["Invalid content guesser response"] == 0
    assert ep[metrics.VIOLATED_REQUEST_COUNT] == 1 and math.isnan(ep[metrics.MAIN_SCORE])
    # clembench logs neither Success nor Lose for an aborted episode
    assert ep[metrics.SUCCESS] is None and ep[metrics.LOSE] is None and ep[metrics.ABORTED] == 1


@pytest.mark.parametrize("reply", [
    "QUESTION: Is it a drink?", "QUESTION: Is it a drink", "  QUESTION:Is it a drink?  \n",
    "QUESTION: Does the word have more than three syllables?",  # "the word", not "the target word"
    "QUESTION: Does the target word have more than 5 letters?",  # the pattern wants "more 5 letters"
    "QUESTION: Tell me: is the target word a noun?",  # the part-of-speech check is anchored at the start
    "QUESTION: Is the target word 'Pepsi'?",  # clembench's direct-guess pattern can never match
])
def test_questions_that_pass(reply):
    game = play([reply])
    assert not game.done and game.current_role == "Answerer"


@pytest.mark.parametrize("reply, message", [
    ("QUESTION: Does the target word start with the letter p?", "letters"),
    ("QUESTION: So, does the target word contain the letter e?", "letters"),
    ("QUESTION: Does the target word have the letter e in it?", "letters"),
    ("QUESTION: Is the second letter of the target word e?", "letters"),
    ("QUESTION: DOES THE TARGET WORD START WITH THE LETTER P?", "letters"),  # the question is lowercased
    ("QUESTION: Does the target word have exactly 5 letters?", "length"),
    ("QUESTION: Does the target word contain less 6 letter?", "length"),
    ("QUESTION: Does the target word have more than two syllables?", "syllables"),
    ("QUESTION: Does the target word contain exactly 3 syllables?", "syllables"),
    ("QUESTION: Is the target word a noun?", "part of speech"),
    ("QUESTION: Is the target word an adjective ?", "part of speech"),
])
def test_content_violations_abort(reply, message):
    game = play([reply])
    assert game.outcome.status is Status.ABORTED
    logged = [e["action"] for e in game.rounds[0] if e["action"]["type"] == "invalid content"]
    assert len(logged) == 1 and message in logged[0]["content"]
    ep = episode(game)
    assert ep["Invalid content guesser response"] == 1 and ep["Invalid format guesser response"] == 0


def test_a_question_breaking_two_content_rules_logs_both_and_counts_once():
    game = play(["QUESTION: Does the target word have exactly 5 letters and does the target word start with the letter p?"])
    assert [e["action"]["type"] for e in game.rounds[0]][-2:] == ["invalid content", "invalid content"]
    assert episode(game)["Invalid content guesser response"] == 1


def test_direct_guess_check_only_with_the_fix_flag():
    reply = "QUESTION: Is the target word 'Pepsi'?"
    assert not play([reply]).done
    fixed = play([reply], experiment={**EXPERIMENT, FIX_DIRECT_GUESS: True})
    assert fixed.outcome.status is Status.ABORTED and "GUESS:" in fixed.outcome.reason


# ---------------------------------------------------------------- the answerer's format
@pytest.mark.parametrize("reply", ["ANSWER: yes", "ANSWER: no", "ANSWER: Yes.", "ANSWER: Yes", "ANSWER: No.",
                                   "ANSWER: No", " ANSWER: no\n"])
def test_allowed_answers(reply):
    game = play([Q, reply])
    assert not game.done and game.current_role == "Guesser"
    assert game.messages_for()[-1]["content"] == reply.strip()


@pytest.mark.parametrize("reply", ["ANSWER: yes.", "ANSWER: YES", "Yes", "ANSWER: Yes, it is.", "ANSWER:yes",
                                   "ANSWER: No!"])
def test_other_answers_abort(reply):
    game = play([Q, reply])
    assert game.outcome.status is Status.ABORTED
    ep = episode(game)
    assert ep["Invalid format answerer response"] == 1 and ep["Invalid format guesser response"] == 0


# ---------------------------------------------------------------- flow and scores
def test_contexts():
    game = SPEC.new_episode(EXPERIMENT, INSTANCE)
    prompt = game.messages_for()[0]["content"]
    assert "at most 7 questions" in prompt and prompt.endswith("Copper, Lead, Pepsi, Lemonade, Carbon, Gold, Chair, Dresser")
    game.step(Q)
    first = game.messages_for()[0]["content"]
    assert first.endswith("Secret word: Pepsi\n\nQUESTION: Is it a drink?")
    game.step(YES)
    assert game.messages_for()[-1] == {"role": "user", "content": YES}
    game.step("QUESTION: Is it a soft drink?")
    assert game.messages_for()[-1] == {"role": "user", "content": "QUESTION: Is it a soft drink?"}


@pytest.mark.parametrize("rounds, score", [(1, 100), (4, 100), (5, 100), (6, 66.66666666666667),
                                           (7, 33.333333333333336), (8, 0)])
def test_main_score_of_a_win_by_rounds_lower_bound_5(rounds, score):
    game = win_in_round(rounds)
    assert game.outcome.status is Status.SUCCESS and len(game.rounds) == rounds
    ep = episode(game)
    assert ep[metrics.MAIN_SCORE] == pytest.approx(score) and ep["Speed"] == pytest.approx(score)
    assert ep[metrics.SUCCESS] == 1 and ep[metrics.LOSE] == 0
    turns = game.scores()[TURNS]
    assert [turns[str(i)]["Accuracy"] for i in range(rounds)] == [0] * (rounds - 1) + [1]


@pytest.mark.parametrize("rounds, buggy, fixed", [(4, 100, 100), (5, 100, 75.0), (6, 66.66666666666667, 50.0),
                                                  (7, 33.333333333333336, 25.0), (8, 0, 0)])
def test_level_2_lower_bound_bug_and_its_fix(rounds, buggy, fixed):
    level_2 = {**EXPERIMENT, "name": "Level_2"}
    assert episode(win_in_round(rounds, level_2))[metrics.MAIN_SCORE] == pytest.approx(buggy)
    assert episode(win_in_round(rounds, {**level_2, FIX_LOWER_BOUND: True}))[metrics.MAIN_SCORE] == pytest.approx(fixed)
    # levels 1 and 3 have 5 either way
    level_3 = {**EXPERIMENT, "name": "Abs_Level_3", FIX_LOWER_BOUND: True}
    assert episode(win_in_round(rounds, level_3))[metrics.MAIN_SCORE] == pytest.approx(buggy)


@pytest.mark.parametrize("guess", ["GUESS: Pepsi", "GUESS: pepsi", "GUESS: PEPSI.", "GUESS:  'Pepsi'! "])
def test_correct_guesses(guess):
    game = play([guess])
    assert game.outcome.status is Status.SUCCESS
    assert game.rounds[0][-1]["action"] == {"type": "correct guess", "content": "pepsi"}


@pytest.mark.parametrize("guess", ["GUESS: Lemonade", "GUESS:", "GUESS: Pepsi<|end_of_text|>"])
def test_wrong_guess_loses_at_once(guess):
    game = play([Q, YES, guess])
    assert game.outcome.status is Status.LOSE
    ep = episode(game)
    assert ep[metrics.MAIN_SCORE] == 0 and ep[metrics.LOSE] == 1 and "Speed" not in ep
    assert game.rounds[-1][-1]["action"]["type"] == "incorrect guess"


def test_no_guess_within_eight_rounds_loses():
    game = play([Q, NO] * 7 + [Q])
    assert not game.done
    game.step(NO)
    assert game.outcome.status is Status.LOSE and len(game.rounds) == 8
    assert game.rounds[-1][-1]["action"] == {"type": "max turns reached", "content": "8"}
    assert episode(game)[metrics.MAIN_SCORE] == 0


def test_two_step_can_never_be_guessed_unless_fixed():
    instance = {**INSTANCE, "target_word": "Two-step", "candidate_list": CANDIDATES[:7] + ["Two-step"]}
    assert play(["GUESS: Two-step"], instance).outcome.status is Status.LOSE
    assert play(["GUESS: two-step"], {**instance, FIX_PUNCTUATED_TARGET: True}).outcome.status is Status.SUCCESS


def test_request_counts_count_both_players():
    ep = episode(win_in_round(3))
    assert ep[metrics.REQUEST_COUNT] == 5 and ep[metrics.PARSED_REQUEST_COUNT] == 5  # clembench: 3 (one per round)
    assert ep["Invalid format answerer response"] == 0 and ep["Invalid content answerer response"] == 0


# ---------------------------------------------------------------- contract
def test_check_game():
    report = check_game(SPEC, episodes=10)
    assert report.episodes == 30


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([Q, YES, NO, "GUESS: Pepsi", "GUESS: Gold", "QUESTION: Is it a noun?"])
                | st.text(max_size=30), max_size=20))
def test_any_replies_end_defined_or_keep_running(replies):
    game = SPEC.new_episode(EXPERIMENT, INSTANCE)
    for reply in replies:
        if game.done:
            break
        game.step(reply)
    assert game.requests <= 16
    if game.done:
        check_scores(game)
        ep = episode(game)
        assert ep[metrics.ABORTED] == 1 or ep[metrics.SUCCESS] + ep[metrics.LOSE] == 1


def _play(rows, guesser, answerer):
    outcomes = collections.Counter()
    for row in rows:
        game = SPEC.new_episode(row.experiment, row.instance)
        players = {"Guesser": SPEC.scripted("Guesser", guesser, row.experiment, row.instance, row.instance_index),
                   "Answerer": SPEC.scripted("Answerer", answerer, row.experiment, row.instance, row.instance_index)}
        while not game.done:
            game.step(players[game.current_role](game.messages_for()))
        outcomes[game.outcome.status] += 1
    return outcomes


def test_scripted_players():
    rows = list(iter_rows("guesswhat", load_instances(SPEC.instances_file("test"))))
    assert _play(rows, "competent", "competent")[Status.SUCCESS] == len(rows)
    for guesser, answerer in (("bad", "competent"), ("competent", "bad"), ("bad", "bad")):
        assert _play(rows, guesser, answerer)[Status.SUCCESS] <= len(rows) * 0.3


def test_competent_guesser_needs_three_questions():
    rows = list(iter_rows("guesswhat", load_instances(SPEC.instances_file("validation"))))
    for row in rows:
        game = play_scripted(SPEC, row)
        assert len(game.rounds) == 4 and episode(game)[metrics.MAIN_SCORE] == 100


def test_registry_and_spec():
    assert get_game("guesswhat") is SPEC
    assert SPEC.domain == "out" and SPEC.roles == ("Guesser", "Answerer")


# ---------------------------------------------------------------- instances
def test_generated_splits():
    data = generate(0)
    assert generate(0) == data
    taxonomy = load_words()
    sizes = {split: [len(e["game_instances"]) for e in d["experiments"]] for split, d in data.items()}
    assert sizes == {"train": [40] * 6, "validation": [3] * 6, "test": [10] * 6}
    target_splits, boards = collections.defaultdict(set), set()
    for split, d in data.items():
        for e in d["experiments"]:
            assert e["name"] in LEVELS and {k: e[k] for k in DEFAULTS} == DEFAULTS
            kind, n_categories, n_subcategories, n_words = LEVELS[e["name"]]
            for instance in e["game_instances"]:
                candidates = instance["candidate_list"]
                assert len(candidates) == len(set(candidates)) == 8 and instance["target_word"] in candidates
                labels = [tuple(instance["candidate_categories"][w]) for w in candidates]
                assert len({c for c, _ in labels}) == n_categories and len(set(labels)) == n_categories * n_subcategories
                assert all(w in taxonomy[kind][c][s] for w, (c, s) in zip(candidates, labels))
                target_splits[instance["target_word"]].add(split)
                assert frozenset(candidates) not in boards
                boards.add(frozenset(candidates))
    assert all(len(splits) == 1 for splits in target_splits.values())
    for split in data:
        assert load_instances(SPEC.instances_file(split)) == data[split], "in/ files differ from generate(0)"


def test_word_lists_are_clean():
    words, labels = [], []
    for taxonomy in load_words().values():
        for category, subcategories in taxonomy.items():
            labels += [category, *subcategories]
            assert len(subcategories) >= 4 and all(len(ws) >= 2 for ws in subcategories.values())
            words += [w.lower() for ws in subcategories.values() for w in ws]
    assert len(words) == len(set(words)) and len(labels) == len(set(labels)) and not set(words) & set(labels)
    assert all(w.isalpha() for w in words)  # nothing like "Two-step"


# ---------------------------------------------------------------- clembench data
def test_an_official_experiment_s_prompts_are_filled_in_as_clembench_does():
    experiment = {**EXPERIMENT, "max_turns": 4, "guesser_initial_prompt": "Words: $LIST$. Ask at most $N$.",
                  "answerer_initial_prompt": "The word is $TARGET WORD$.\n"}
    game = play([], experiment=experiment)
    assert game.messages_for("Guesser")[-1]["content"] == (
        "Words: ['Copper', 'Lead', 'Pepsi', 'Lemonade', 'Carbon', 'Gold', 'Chair', 'Dresser']. Ask at most 3.")
    game.step(Q)
    assert game.messages_for("Answerer")[-1]["content"] == f"The word is Pepsi.\n\n\n{Q}"


def test_official_instances_load_and_play(clembench_instances):
    rows = list(iter_rows("guesswhat", load_instances(clembench_instances / "guesswhat" / "in" / "instances.json")))
    assert len(rows) == 60
    outcomes = _play(rows, "competent", "competent")
    # the only loss: Level_2's "Two-step", which no guess can match
    assert outcomes[Status.SUCCESS] == 59 and outcomes[Status.LOSE] == 1


def test_verify_against_recorded_clembench_runs(clembench_runs):
    for run in clembench_runs:
        checks = verify(run, {"guesswhat"})
        assert len(checks) == 12
        assert [c.reason for c in checks if c.status != "agree"] == []

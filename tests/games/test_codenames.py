"""codenames: rules, scores, scripted players, generator and fidelity to recorded clembench v2.0 episodes."""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playpen.core import metrics
from playpen.core import check
from playpen.core.check import check_game, check_scores
from playpen.core.instances import iter_rows, load_instances
from playpen.core.master import Status
from playpen.eval.verify import verify
from playpen.games import get_game
from playpen.games.codenames import GAMES
from playpen.games.codenames.generate import (
    EXPERIMENTS,
    HIGH_FREQUENCY_MIN_ZIPF,
    LOW_FREQUENCY_MAX_ZIPF,
    generate,
    word_pools,
)
from playpen.games.codenames.lemmas import lemma
from playpen.games.codenames.lexicon import lexicon
from playpen.games.codenames.master import FIX_STALE_LISTS, RECORDED_REVEALS, replay_instance
from playpen.games.codenames.rules import V2_FLAGS
from playpen.results.records import episodes, recorded_replies

SPEC = GAMES["codenames"]
TEAM = ["needle", "lead", "crane", "watch", "kiwi", "cross", "ray", "board", "ivory"]
OPPONENT = ["himalayas", "day", "bermuda", "fly", "pie", "dress", "centaur", "grass"]
INNOCENT = ["worm", "match", "kid", "lab", "microscope", "nurse", "stream"]
ASSASSIN = ["mouse"]
BOARD = [
    "nurse",
    "kiwi",
    "stream",
    "microscope",
    "himalayas",
    "kid",
    "dress",
    "worm",
    "needle",
    "ivory",
    "watch",
    "day",
    "cross",
    "mouse",
    "bermuda",
    "match",
    "lead",
    "pie",
    "fly",
    "crane",
    "ray",
    "lab",
    "board",
    "grass",
    "centaur",
]


def new_game(difficulty: int = 1, reveals: list[list[str]] | None = None, flags: dict | None = None, **extra):
    experiment = {
        "name": "opponent_easy",
        "variable": "Opponent Difficulty",
        "opponent difficulty": difficulty,
        "assignments": {"team": 9, "opponent": 8, "innocent": 7, "assassin": 1},
        "flags": dict(V2_FLAGS, **(flags or {})),
        **extra,
    }
    instance = {
        "game_id": 3,
        "board": list(BOARD),
        "assignments": {
            "team": list(TEAM),
            "opponent": list(OPPONENT),
            "innocent": list(INNOCENT),
            "assassin": list(ASSASSIN),
        },
    }
    if reveals is not None:
        instance[RECORDED_REVEALS] = reveals
    return SPEC.new_episode(experiment, instance)


def play(replies: list[str], **kwargs):
    game = new_game(**kwargs)
    for reply in replies:
        game.step(reply)
    return game


def episode(game) -> dict:
    return game.scores()[metrics.EPISODE_SCORES_KEY]


def last_error(game) -> dict:
    return next(e["action"]["content"] for e in reversed(game.rounds[-1]) if e["action"]["type"] == "validation error")


def events(game, kind: str) -> list:
    return [e["action"]["content"] for r in game.rounds for e in r if e["action"]["type"] == kind]


# ---------------------------------------------------------------------------------------------- the cluegiver
def test_roles_are_clembenchs():
    assert SPEC.roles == ("ClueGiver", "Guesser")
    assert SPEC.domain == "out"


def test_a_valid_clue_reaches_the_guesser_with_clue_number_and_board():
    game = play(["CLUE: tool\nTARGETS: needle, lead, crane"])
    assert game.current_role == "Guesser"
    prompt = game.messages_for()[-1]["content"]
    assert "'tool'" in prompt and "at most 3" in prompt
    assert prompt.endswith(", ".join(BOARD))
    assert events(game, "targets") == [["needle", "lead", "crane"]]


@pytest.mark.parametrize(
    "reply, kind",
    [
        ("CLUE: tool\nTARGETS: needle\nThat is my clue.", "rambling error"),
        ("CLUE: tool\n\nTARGETS: needle", "rambling error"),
        ("TARGETS: needle", "prefix error"),
        ("CLUE:tool\nTARGETS: needle", "prefix error"),
        ("clue: tool\nTARGETS: needle", "prefix error"),
        ("CLUE: tool", "prefix error"),
        ("CLUE: tool\nTARGETS:needle", "prefix error"),
        ("CLUE: power tool\nTARGETS: needle", "clue contains spaces"),
        ("CLUE: tool, 2\nTARGETS: needle, lead", "clue line contains the number of targets"),
        ("CLUE: needles\nTARGETS: lead", "clue is morphologically related to word on the board"),
        ("CLUE: Needle\nTARGETS: lead", "clue is morphologically related to word on the board"),
        ("CLUE: mice\nTARGETS: lead", "clue is morphologically related to word on the board"),
        ("CLUE: tool\nTARGETS: hammer", "target is hallucination"),
        ("CLUE: tool\nTARGETS: needle, needle", "target appears more than once in utterance"),
        ("CLUE: tool\nTARGETS: needle, , lead", "target is hallucination"),
    ],
)
def test_invalid_clues_abort(reply, kind):
    game = play([reply])
    assert game.outcome.status is Status.ABORTED
    assert last_error(game)["type"] == kind
    scores = episode(game)
    assert scores[metrics.ABORTED] == 1 and scores[metrics.VIOLATED_REQUEST_COUNT] == 1
    assert math.isnan(scores[metrics.MAIN_SCORE])


def test_number_in_clue_is_charged_to_the_guesser_as_clembench_does():
    game = play(["CLUE: tool, 2\nTARGETS: needle, lead"])
    turn = game.scores()[metrics.TURN_SCORES_KEY]["0"]
    assert turn["Guesser validation error"] == 1 and turn["Cluegiver validation error"] == 0


def test_clue_is_lowercased_stripped_and_loses_trailing_digits():
    game = play(["  CLUE: 'Tool3'.\nTARGETS: Needle,Lead.  "])
    assert events(game, "clue") == ["tool"]
    assert events(game, "targets") == [["needle", "lead"]]
    assert episode(play(["CLUE: 'Tool3'.\nTARGETS: Needle,Lead.", "GUESS: mouse"]))["Cluegiver strip words"] == 2


def test_clue_may_be_a_word_already_uncovered():
    game = play(["CLUE: sharp\nTARGETS: needle", "GUESS: needle", "CLUE: needle\nTARGETS: lead"], reveals=[[]])
    assert not game.done and game.current_role == "Guesser"


def test_target_already_uncovered_is_a_repeated_target():
    game = play(["CLUE: sharp\nTARGETS: needle", "GUESS: needle", "CLUE: metal\nTARGETS: needle"], reveals=[[]])
    assert last_error(game)["type"] == "target was already guessed"
    assert game.outcome.status is Status.ABORTED


def test_any_hidden_word_may_be_a_target():
    game = play(["CLUE: sky\nTARGETS: himalayas, day", "GUESS: himalayas"], reveals=[[]])
    assert not game.done and game.round_scores[0]["Cluegiver Team Precision"] == 0


# ---------------------------------------------------------------------------------------------- the guesser
@pytest.mark.parametrize(
    "reply, kind",
    [
        ("GUESS: needle\nlead", "rambling error"),
        ("needle, lead", "prefix error"),
        ("GUESS:needle", "prefix error"),
        ("GUESS: needle, lead, crane", "wrong number of guesses"),
        ("GUESS: tool", "guess is clue word"),
        ("GUESS: hammer", "guess word is hallucination"),
        ("GUESS: needle, needle", "guess appears more than once in utterance"),
    ],
)
def test_invalid_guesses_abort(reply, kind):
    game = play(["CLUE: tool\nTARGETS: needle, lead", reply])
    assert game.outcome.status is Status.ABORTED
    assert last_error(game)["type"] == kind
    scores = episode(game)
    assert scores["Number of turns"] == 2  # an episode that ends on the guesser counts one round more
    assert scores[metrics.REQUEST_COUNT] == 2 and scores[metrics.REQUEST_SUCCESS_RATIO] == 0.5


def test_repeated_guess():
    game = play(
        ["CLUE: sharp\nTARGETS: needle", "GUESS: needle", "CLUE: metal\nTARGETS: lead", "GUESS: needle"], reveals=[[]]
    )
    assert last_error(game)["type"] == "guess was already guessed"


def test_guesses_are_uncovered_in_order_until_the_first_wrong_word():
    game = play(["CLUE: tool\nTARGETS: needle, lead, crane", "GUESS: Needle, worm, lead"], reveals=[["day"]])
    assert [e["word"] for e in events(game, "team revealed")] == ["needle", "worm"]
    assert events(game, "turn end after") == ["worm"]
    cluegiver_prompt = game.messages_for("ClueGiver")[-1]["content"]
    assert cluegiver_prompt.startswith(
        "Correct: needle is a team word. Wrong: worm is an innocent word. That ends your teammate's turn.\n"
    )
    assert "lead" in cluegiver_prompt and "needle" not in cluegiver_prompt.split("\n", 1)[1]
    game.step("CLUE: pencil\nTARGETS: lead")
    assert game.messages_for()[-1]["content"].startswith(
        "Correct: needle is a team word. Wrong: worm is an innocent word. That ends your turn.\n"
        "The next clue is 'pencil'"
    )


def test_turn_scores_follow_clembench():
    game = play(["CLUE: tool\nTARGETS: needle, lead, himalayas", "GUESS: needle, worm, lead"], reveals=[["day"]])
    game.step("CLUE: x\nTARGETS: lead\nextra")  # abort in round 1
    turns = game.scores()[metrics.TURN_SCORES_KEY]
    first = turns["0"]
    assert first["turn"]["targeted"] == {"team": 2, "opponent": 1, "innocent": 0, "assassin": 0, "total": 3}
    assert first["turn"]["revealed"] == {
        "target": 1,
        "team": 1,
        "opponent": 0,
        "innocent": 1,
        "assassin": 0,
        "total": 2,
    }
    assert first["Cluegiver Number of Targets"] == 3
    assert first["Cluegiver Team Precision"] == 0.667 and first["Cluegiver Team Recall"] == 0.222
    assert first["Cluegiver Team F1"] == round(2 * (2 / 3) * (2 / 9) / (2 / 3 + 2 / 9), 3)
    assert first["Guesser Number of Guesses"] == 3 and first["Guesser Number of Revealed Words"] == 2
    assert first["Guesser Number of Unrevealed Guesses"] == 1
    assert first["Guesser Target Precision"] == 0.5 and first["Guesser Target Recall"] == 0.333
    assert first["Guesser Team Recall"] == 0.111
    assert turns["1"]["Cluegiver validation error"] == 1 and turns["1"]["Cluegiver Team Recall"] == 0.0
    scores = episode(game)
    assert scores["Number of turns"] == 2  # ended on the cluegiver: the rounds played
    assert scores["Average Cluegiver Number of Targets"] == 1.5
    assert scores["Average Guesser Target Precision"] == 0.25
    assert scores["Episode Recall"] == 0.111 and scores["Episode Negative Recall"] == 0.938
    assert scores["Efficiency"] == 0.75  # 3 guesses / 2 turns / 2


# ---------------------------------------------------------------------------------------------- the opponent
def test_opponent_reveals_its_difficulty_in_words_per_round_from_a_seeded_generator():
    def reveals(difficulty):
        game = new_game(difficulty)
        game.step("CLUE: sharp\nTARGETS: needle")
        game.step("GUESS: needle")
        return events(game, "opponent revealed")

    assert reveals(0) == []
    two = reveals(2)
    assert len(two) == 2 and all(r["assignment"] == "opponent" for r in two)
    assert reveals(2) == two  # a pure function of the instance


def test_recorded_reveals_replace_the_generator():
    game = play(["CLUE: sharp\nTARGETS: needle", "GUESS: needle"], difficulty=2, reveals=[["grass"]])
    assert events(game, "opponent revealed") == [{"word": "grass", "assignment": "opponent"}]


def test_the_cluegiver_sees_the_lists_from_before_the_opponents_move_by_default():
    game = play(["CLUE: sharp\nTARGETS: needle", "GUESS: needle"], reveals=[["grass"]])
    assert "grass" in game.messages_for("ClueGiver")[-1]["content"]
    fixed = play(["CLUE: sharp\nTARGETS: needle", "GUESS: needle"], reveals=[["grass"]], **{FIX_STALE_LISTS: True})
    prompt = fixed.messages_for("ClueGiver")[-1]["content"]
    assert "the other team uncovered: grass." in prompt and "grass," not in prompt and ", grass" not in prompt


def test_replay_instance_reads_the_opponents_moves_per_round():
    interactions = {
        "turns": [
            [
                {"action": {"type": "guesses", "content": []}},
                {"action": {"type": "opponent revealed", "content": {"word": "day", "assignment": "opponent"}}},
            ],
            [
                {"action": {"type": "opponent revealed", "content": {"word": "pie", "assignment": "opponent"}}},
                {"action": {"type": "opponent revealed", "content": {"word": "fly", "assignment": "opponent"}}},
            ],
            [],
        ]
    }
    instance = {"game_id": 1, "board": []}
    assert replay_instance(instance, interactions) == {**instance, RECORDED_REVEALS: [["day"], ["pie", "fly"], []]}
    assert RECORDED_REVEALS not in instance


# ---------------------------------------------------------------------------------------------- game end
def win_in_three_rounds(reveals=None):
    return play(
        [
            "CLUE: sharp\nTARGETS: needle, lead, crane",
            "GUESS: needle, lead, crane",
            "CLUE: time\nTARGETS: watch, kiwi, cross",
            "GUESS: watch, kiwi, cross",
            "CLUE: light\nTARGETS: ray, board, ivory",
            "GUESS: ray, board, ivory",
        ],
        reveals=reveals if reveals is not None else [["day"], ["pie"]],
    )


def test_uncovering_all_team_words_wins_with_main_score_100():
    game = win_in_three_rounds()
    scores = episode(game)
    assert game.outcome.status is Status.SUCCESS
    assert scores[metrics.MAIN_SCORE] == 100 and scores[metrics.SUCCESS] == 1 and scores[metrics.LOSE] == 0
    assert scores["Number of turns"] == 4 and scores["Efficiency"] == 1
    assert scores["Episode Recall"] == 1.0 and scores["Episode Negative Recall"] == 1.0
    assert events(game, "game end") == ["team has won"]


def test_the_opponent_uncovering_its_last_word_loses_with_main_score_0():
    game = play(["CLUE: sharp\nTARGETS: needle", "GUESS: needle"], reveals=[OPPONENT])
    scores = episode(game)
    assert game.outcome.status is Status.LOSE and scores[metrics.MAIN_SCORE] == 0
    assert scores["Game ended through assassin"] == 0


def test_our_guesser_uncovering_the_opponents_last_word_loses():
    game = play(["CLUE: sharp\nTARGETS: needle", "GUESS: needle"], reveals=[OPPONENT[:-1]])
    game.step("CLUE: lawn\nTARGETS: lead")
    game.step("GUESS: grass")
    assert game.outcome.status is Status.LOSE and game.outcome.reason == "opponent has won"


def test_the_assassin_loses_at_once():
    game = play(["CLUE: rodent\nTARGETS: needle", "GUESS: mouse"])
    scores = episode(game)
    assert game.outcome.status is Status.LOSE and scores["Game ended through assassin"] == 1
    assert events(game, "opponent revealed") == []  # the game ended before the opponent's move


def test_winning_is_checked_before_the_assassin_and_later_guesses_are_still_uncovered():
    game = play(
        [
            "CLUE: sharp\nTARGETS: needle, lead, crane",
            "GUESS: needle, lead, crane",
            "CLUE: time\nTARGETS: watch, kiwi, cross",
            "GUESS: watch, kiwi, cross",
            "CLUE: light\nTARGETS: ray, board, ivory, worm",
            "GUESS: ray, board, ivory, mouse",
        ],
        reveals=[[], []],
    )
    assert game.outcome.status is Status.SUCCESS
    assert episode(game)["Episode Negative Recall"] == 0.938  # the assassin after the last team word counts


def test_request_success_ratio_is_rounded_to_three_places():
    replies = [
        "CLUE: sharp\nTARGETS: needle",
        "GUESS: needle",
        "CLUE: metal\nTARGETS: lead",
        "GUESS: lead",
        "CLUE: bird\nTARGETS: crane",
        "GUESS: hammer",
    ]
    assert episode(play(replies, reveals=[[], []]))[metrics.REQUEST_SUCCESS_RATIO] == 0.833


# ---------------------------------------------------------------------------------------------- the lemmatizer
@pytest.mark.parametrize(
    "form, base",
    [
        ("needles", "needle"),
        ("mice", "mouse"),
        ("wolves", "wolf"),
        ("children", "child"),
        ("glasses", "glass"),
        ("feet", "foot"),
        ("boxes", "box"),
        ("cities", "city"),
        ("bus", "bus"),
        ("news", "news"),
    ],
)
def test_noun_lemmas_undo_plurals_like_wordnet(form, base):
    assert lemma(form) == base


def test_lemma_leaves_odd_strings_alone():
    assert lemma("") == "" and lemma("tool3") == "tool3" and lemma("a-b") == "a-b"


# ---------------------------------------------------------------------------------------------- contract
def test_check_game_passes():
    report = check_game(SPEC, episodes=12)
    assert report.episodes == 36


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(max_size=60), max_size=8), st.booleans())
def test_any_replies_give_a_defined_outcome(replies, start_with_a_valid_clue):
    game = new_game()
    for reply in (["CLUE: sharp\nTARGETS: needle, lead"] if start_with_a_valid_clue else []) + replies:
        if game.done:
            break
        game.step(reply)
    if game.done:
        check_scores(game)
    else:
        assert game.current_role in SPEC.roles and game.messages_for()


def test_copy_branches_an_episode():
    game = play(["CLUE: sharp\nTARGETS: needle"])
    branch = game.copy()
    branch.step("GUESS: needle")
    game.step("GUESS: hammer")
    assert game.outcome.status is Status.ABORTED and not branch.done


# ---------------------------------------------------------------------------------------------- scripted players
def play_scripted(row, skills, seed):
    return check.play_scripted(SPEC, row, dict(zip(SPEC.roles, skills)), seed)


def validation_rows():
    return list(iter_rows("codenames", load_instances(SPEC.instances_file("validation"))))


def test_competent_players_win_most_validation_episodes():
    results = [
        (row.experiment_name, play_scripted(row, ("competent", "competent"), seed).outcome.status)
        for seed, row in enumerate(validation_rows())
    ]
    assert all(status is not Status.ABORTED for _, status in results)
    assert sum(status is Status.SUCCESS for _, status in results) / len(results) >= 0.7
    # an opponent uncovering two words a round is more than the scripted cluegiver can outpace
    others = [status for name, status in results if name != "opponent_difficult"]
    assert sum(status is Status.SUCCESS for status in others) / len(others) >= 0.8


def test_bad_players_lose_or_abort_most_episodes():
    statuses = Counter(
        play_scripted(row, ("bad", "bad"), seed).outcome.status for seed, row in enumerate(validation_rows())
    )
    assert statuses[Status.SUCCESS] / sum(statuses.values()) <= 0.1


def test_scripted_players_are_deterministic_given_the_seed():
    row = validation_rows()[5]
    for skills in (("competent", "competent"), ("bad", "bad")):
        assert play_scripted(row, skills, 7).responses == play_scripted(row, skills, 7).responses


def test_competent_guesser_follows_the_clue_not_the_assignments():
    row = validation_rows()[0]
    guesser = SPEC.scripted("Guesser", "competent", row.experiment, row.instance, 0)
    board = ", ".join(row.instance["board"])
    reply = guesser(
        [{"role": "user", "content": f"The clue is 'qwertyuiop' and it is meant for 2 of the words below.\n\n{board}"}]
    )
    assert reply == f"GUESS: {row.instance['board'][0]}"


# ---------------------------------------------------------------------------------------------- instances
def test_generator_matches_v2_experiments_and_keeps_splits_apart():
    splits = generate(5)
    assert generate(5) == splits
    names = [name for name, *_ in EXPERIMENTS]
    boards = []
    for split, size in (("train", 40), ("validation", 3), ("test", 10)):
        experiments = splits[split]["experiments"]
        assert [e["name"] for e in experiments] == names
        for experiment in experiments:
            assert len(experiment["game_instances"]) == size == experiment["number of instances"]
            counts = experiment["assignments"]
            for instance in experiment["game_instances"]:
                assert len(instance["board"]) == sum(counts.values()) == 25
                assert {k: len(v) for k, v in instance["assignments"].items()} == counts
                assert sorted(instance["board"]) == sorted(w for v in instance["assignments"].values() for w in v)
                assert len({lemma(w) for w in instance["board"]}) == 25
                boards.append(frozenset(instance["board"]))
    assert len(set(boards)) == len(boards) == 13 * 53


def test_generated_experiments_carry_v2_parameters():
    test = {e["name"]: e for e in load_instances(SPEC.instances_file("test"))["experiments"]}
    assert test["risk_high"]["assignments"] == {"team": 9, "opponent": 8, "innocent": 3, "assassin": 5}
    assert test["risk_low"]["assignments"]["assassin"] == 0
    assert [test[f"opponent_{n}"]["opponent difficulty"] for n in ("none", "easy", "difficult")] == [0, 1, 2]
    assert all(e["flags"] == V2_FLAGS for e in test.values())
    category_of = {word: label for label, words in word_pools()["categories"].items() for word in words}

    def assignments_per_category(instance):
        kinds: dict[str, set] = {}
        for kind, words in instance["assignments"].items():
            for word in words:
                kinds.setdefault(category_of[word], set()).add(kind)
        assert set(kinds) == set(instance["private"]["categories"])
        return [len(k) for label, k in kinds.items()]

    for instance in test["association_easy"]["game_instances"]:  # a category's words share an assignment
        assert set(assignments_per_category(instance)) == {1}
    for instance in test["association_difficult"]["game_instances"]:  # ... or are spread over several
        spread = assignments_per_category(instance)
        assert sum(n > 1 for n in spread) >= len(spread) - 2


def test_frequency_pools_are_wordfreq_bands():
    from wordfreq import zipf_frequency

    pools = word_pools()
    assert all(zipf_frequency(w, "en") < LOW_FREQUENCY_MAX_ZIPF for w in pools["low_frequency"])
    assert all(zipf_frequency(w, "en") >= HIGH_FREQUENCY_MIN_ZIPF for w in pools["high_frequency"])
    assert min(len(pool) for name, pool in pools.items() if name != "categories") >= 100
    assert not set(pools["concrete"]) & set(pools["abstract"])


def test_committed_instance_files_are_the_generators_output():
    for split, data in generate(123).items():
        assert load_instances(SPEC.instances_file(split)) == json.loads(json.dumps(data))


def test_every_theme_clue_is_usable():
    lex = lexicon()
    for theme in lex.themes + lex.groups:
        assert theme.clues and all(clue.isalpha() and clue.islower() for clue in theme.clues)
        assert any(lemma(clue) not in {lemma(w) for w in theme.words} for clue in theme.clues)


# ---------------------------------------------------------------------------------------------- fidelity
def test_official_instances_load_and_play(clembench_instances):
    data = load_instances(clembench_instances / "codenames" / "in" / "instances.json")
    rows = list(iter_rows("codenames", data))
    assert len(rows) == 130
    for seed, row in enumerate(rows[::13]):
        game = play_scripted(row, ("competent", "competent"), seed)
        assert game.outcome.status in (Status.SUCCESS, Status.LOSE)
        check_scores(game)


def test_verify_agrees_on_every_recorded_episode(clembench_runs):
    for run in clembench_runs:
        checks = verify(run, {"codenames"})
        assert len(checks) == 26
        assert [c.reason for c in checks if c.status != "agree"] == []


def _same(a, b):
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


def test_every_recorded_score_and_event_is_reproduced(clembench_runs):
    """Beyond verify: all turn and episode scores, and every game event but the message texts."""
    for run in clembench_runs:
        for record in episodes(run, {"codenames"}):
            path, interactions, recorded = record.path, record.interactions, record.scores
            instance = SPEC.replay_instance(record.instance, interactions)
            game = SPEC.new_episode(record.experiment, instance)
            for reply in recorded_replies(interactions):
                game.step(reply)
            ours = game.scores()
            for key, value in recorded[metrics.EPISODE_SCORES_KEY].items():
                assert _same(value, ours[metrics.EPISODE_SCORES_KEY][key]), (path, key)
            assert len(ours[metrics.TURN_SCORES_KEY]) == len(recorded[metrics.TURN_SCORES_KEY])
            for index, turn in recorded[metrics.TURN_SCORES_KEY].items():
                assert {k: ours[metrics.TURN_SCORES_KEY][index][k] for k in turn} == turn, (path, index)

            def game_events(rounds):
                kept = []
                for round_events in rounds:
                    kept.append([])
                    for event in round_events:
                        kind, content = event["action"]["type"], event["action"]["content"]
                        if kind == "validation error":
                            content = (content["player"], content["type"])
                        if kind not in ("send message", "get message") and (kind, content) not in kept[-1][-1:]:
                            kept[-1].append((kind, content))  # clembench logs its "game end" twice
                return kept

            assert game_events(game.rounds) == game_events(interactions["turns"]), path


def test_registry_finds_the_game():
    assert get_game("codenames") is SPEC


# ---------------------------------------------------------------------------------------------- other flags
def test_generous_flags_relax_the_rules_as_in_clembench():
    generous = {
        "IGNORE RAMBLING": True,
        "IGNORE FALSE TARGETS OR GUESSES": True,
        "REPROMPT ON ERROR": True,
        "STRIP WORDS": True,
        "IGNORE NUMBER OF TARGETS": True,
    }
    game = play(
        ["Here we go.\nCLUE: sharp, 2\nTARGETS: needle, hammer, lead", "I think\nGUESS: hammer, needle"],
        flags=generous,
        reveals=[[]],
    )
    assert events(game, "clue") == ["sharp"] and events(game, "targets") == [["needle", "lead"]]
    assert events(game, "guesses") == [["needle"]] and not game.done
    game.step("CLUE: metal\nTARGETS: lead")
    game.step("lead")  # a missing prefix is never forgiven
    scores = episode(game)
    assert scores[metrics.ABORTED] == 1 and scores["Number of turns"] == 2  # the re-prompt kept the turn
    assert scores["Guesser reprompt on error"] == 1
    assert scores["Cluegiver ignore rambling"] == 1 and scores["Guesser ignore false targets or guesses"] == 1
    assert scores["Cluegiver ignore number of targets"] == 1


def test_without_strip_words_punctuation_is_an_error():
    game = play(["CLUE: sharp.\nTARGETS: needle"], flags={"STRIP WORDS": False})
    assert last_error(game)["type"] == "clue contains non-alphabetical characters"

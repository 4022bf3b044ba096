"""taboo: clue checking, rules, scores, scripted players, instances, fidelity to clembench v2.0."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playpen.core.check import check_game, check_scores, play_scripted
from playpen.core.instances import iter_rows, load_instances
from playpen.core.master import Status
from playpen.core.metrics import EPISODE_SCORES_KEY, TURN_SCORES_KEY
from playpen.eval.verify import verify
from playpen.games import get_game
from playpen.games.taboo import GAMES
from playpen.games.taboo.clues import STOPWORDS, normalise, taboo_breaches
from playpen.games.taboo.generate import EXPERIMENTS, HELDOUT_SPLIT, SPLIT_SIZES, generate
from playpen.games.taboo.master import DESCRIBER, GUESSER
from playpen.games.taboo.players import describer_clues, scripted
from playpen.games.taboo.stemmer import stem
from playpen.games.taboo.targets import BANDS, ZIPF_BANDS, independent_clues, load_targets
from playpen.results.records import read_json, recorded_replies

SPEC = GAMES["taboo"]
EXPERIMENT = {"name": "high_en", "max_turns": 3}
INSTANCE = {"game_id": 0, "target_word": "library", "related_word": ["book", "read", "borrow"]}


def new(target: str = "library", related: tuple[str, ...] = ("book", "read", "borrow"), **experiment):
    instance = {**INSTANCE, "target_word": target, "related_word": list(related)}
    return SPEC.new_episode({**EXPERIMENT, **experiment}, instance)


def play(master, *replies: str):
    for reply in replies:
        assert not master.done, f"episode ended before {reply!r}"
        master.step(reply)
    return master


def episode(master) -> dict:
    return master.scores()[EPISODE_SCORES_KEY]


# ------------------------------------------------------------------------------------------ stemmer
@pytest.mark.parametrize(("word", "expected"), [
    # NLTK 3.8.1's SnowballStemmer("english") output; snowballstemmer 3.x differs on the first eight
    ("university", "univers"), ("organization", "organ"), ("evening", "even"), ("added", "ad"),
    ("psychologist", "psychologist"), ("generationally", "generate"), ("international", "intern"),
    ("emergency", "emerg"),
    ("dog\u2019s", "dog"), ("yorkshire", "yorkshir"), ("nickname", "nicknam"), ("shooting", "shoot"),
    ("running", "run"), ("yelling", "yell"), ("fly", "fli"), ("flies", "fli"), ("happiness", "happi"),
    ("relational", "relat"), ("hopeful", "hope"), ("agreed", "agre"), ("caresses", "caress"),
    ("ponies", "poni"), ("ties", "tie"), ("dying", "die"), ("skis", "ski"), ("innings", "inning"),
    ("exceeded", "exceed"), ("news", "news"), ("arsenal", "arsenal"), ("communism", "communism"),
    ("generous", "generous"), ("sayings", "say"), ("by", "by"), ("'tis", "tis"), ("Running", "run"),
])
def test_stemmer_matches_nltk(word, expected):
    assert stem(word) == expected


def test_stopwords_are_nltks_english_list():
    assert len(STOPWORDS) == 198
    assert {"not", "its", "it's", "the", "should've", "mightn"} <= STOPWORDS
    assert "nickname" not in STOPWORDS


# ------------------------------------------------------------------------------------------ clue check
def test_clue_words_are_cleaned_like_clembench():
    assert normalise("CLUE: A month's name, starting with 'J'.<|end_of_text|>", "CLUE:") == \
        "a months name starting with jendoftext"
    assert normalise("GUESS: Apple CLUE: GUESS: pear", "GUESS:") == "apple clue  pear"


def test_related_word_stem_breaks_the_taboo():
    breaches = taboo_breaches("CLUE: It's a weapon used for shooting.", "rifle", ["shooting", "long", "gun"])
    found = [(b.forbidden, b.clue_word, b.stem, b.related) for b in breaches]
    assert found == [("shooting", "shooting", "shoot", True)]


def test_target_word_variants_break_the_taboo():
    assert taboo_breaches("CLUE: places full of libraries", "library", ["book", "read", "borrow"])[0].related is False
    assert taboo_breaches("CLUE: what a reader does with a book", "library", ["book", "read", "borrow"])


def test_stopwords_never_break_the_taboo():
    # clembench instance "jan": "not" is a related word but a stopword, so a clue may use it
    assert taboo_breaches("CLUE: Not a month? It is not.", "jan", ["January", "nickname", "not"]) == []


def test_tags_punctuation_and_case_are_ignored_in_clues():
    assert taboo_breaches("CLUE: BOOKS!", "library", ["book", "read", "borrow"])
    assert taboo_breaches("CLUE: see CLUE: reading", "library", ["book", "read", "borrow"])
    # a word glued to punctuation-stripped text is a different word
    assert not taboo_breaches("CLUE: book-keeping", "library", ["book", "read", "borrow"])


# ------------------------------------------------------------------------------------------ rules & scores
@pytest.mark.parametrize(("rounds", "score"), [(1, 100.0), (2, 50.0), (3, 100 / 3)])
def test_win_in_round_n_scores_100_over_n(rounds, score):
    replies = ["CLUE: a quiet room with shelves", "GUESS: office"] * (rounds - 1)
    master = play(new(), *replies, "CLUE: a quiet room with shelves", "GUESS: Library.")
    scores = master.scores()
    assert master.outcome.status is Status.SUCCESS
    assert episode(master)["Main Score"] == pytest.approx(score)
    assert round(episode(master)["Main Score"], 2) == {1: 100.0, 2: 50.0, 3: 33.33}[rounds]
    assert [turn["Accuracy"] for turn in scores[TURN_SCORES_KEY].values()] == [0] * (rounds - 1) + [1]
    assert episode(master)["Success"] == 1 and episode(master)["Lose"] == 0 and episode(master)["Aborted"] == 0


def test_three_wrong_guesses_lose():
    master = play(new(), *["CLUE: shelves and silence", "GUESS: office"] * 3)
    assert master.outcome.status is Status.LOSE
    assert len(master.rounds) == 3
    assert episode(master)["Main Score"] == 0 and episode(master)["Lose"] == 1
    assert episode(master)["Repetition-Guesser"] == 0 and episode(master)["Repetition-Describer"] == 0


def test_max_turns_comes_from_the_experiment():
    master = play(new(max_turns=1), "CLUE: shelves and silence", "GUESS: office")
    assert master.outcome.status is Status.LOSE


def test_a_clue_with_a_related_word_loses_without_a_violated_request():
    master = play(new(), "CLUE: a place where you borrow stuff")
    assert master.outcome.status is Status.LOSE
    scores = episode(master)
    assert (scores["Aborted"], scores["Lose"], scores["Success"], scores["Main Score"]) == (0, 1, 0, 0)
    assert scores["Violated Request Count"] == 0
    assert "borrow" in master.outcome.reason


@pytest.mark.parametrize("reply", ["GUESS library", "guess: library", "The answer is GUESS: library", ""])
def test_a_guess_without_the_exact_tag_aborts(reply):
    master = play(new(), "CLUE: a quiet room with shelves", reply)
    scores = episode(master)
    assert master.outcome.status is Status.ABORTED
    assert scores["Aborted"] == 1 and scores["Success"] == 0 and scores["Lose"] == 0
    assert math.isnan(scores["Main Score"])
    assert scores["Violated Request Count"] == 1 and scores["Request Count"] == 2


@pytest.mark.parametrize("reply", ["clue: shelves", "Here is my CLUE: shelves", "GUESS: library", "CLUE shelves"])
def test_a_clue_without_the_exact_tag_aborts(reply):
    assert play(new(), reply).outcome.status is Status.ABORTED


def test_replies_are_stripped_before_the_tag_check():
    master = play(new(), "\n  CLUE: a quiet room with shelves  \n", "  GUESS: library\n")
    assert master.outcome.status is Status.SUCCESS


@pytest.mark.parametrize(("reply", "won"), [
    ("GUESS: LIBRARY!", True),
    ("GUESS: library GUESS:", True),
    ("GUESS: DEPENDENT<|end_of_text|>", False),  # recorded tulu3 quirk: 'dependentendoftext'
    ("GUESS: the library", False),
    ("GUESS: library\nbecause of the shelves", False),
])
def test_guess_matching_is_exact_after_cleaning(reply, won):
    target = "dependent" if "DEPENDENT" in reply else "library"
    master = play(new(target=target), "CLUE: something", reply)
    assert (master.outcome.status is Status.SUCCESS) == won


def test_messages_follow_clembench_contexts():
    master = new()
    first = master.messages_for(DESCRIBER)
    assert len(first) == 1 and "library" in first[0]["content"] and "- borrow" in first[0]["content"]
    play(master, "CLUE: a quiet room with shelves")
    guesser_view = master.messages_for(GUESSER)
    assert guesser_view[-1]["content"].endswith("\n\nCLUE: a quiet room with shelves")
    assert "GUESS:" in guesser_view[-1]["content"] and "3 tries" in guesser_view[-1]["content"]
    play(master, "GUESS: office")
    assert master.messages_for(DESCRIBER)[-1] == {"role": "user", "content": "GUESS: office"}
    play(master, "CLUE: a lending place")
    assert master.messages_for(GUESSER)[-1] == {"role": "user", "content": "CLUE: a lending place"}


def test_round_structure_and_request_counts():
    master = play(new(), "CLUE: shelves", "GUESS: office", "CLUE: quiet")
    assert master.current_role == GUESSER and len(master.rounds) == 2
    play(master, "GUESS: library")
    turns = master.scores()[TURN_SCORES_KEY]
    assert [turns[k]["Request Count"] for k in turns] == [2, 2]
    assert episode(master)["Request Count"] == 4 and episode(master)["Request Success Ratio"] == 1.0


def test_official_experiment_prompts_are_filled_in_as_clembench_does():
    master = new(related=("book", "read", "borrow", "shelf"),
                 describer_initial_prompt="Describe $TARGET_WORD$ in $N$ tries, never saying:\n$REL_WORD$\n",
                 guesser_initial_prompt="Guess in $N$ tries.\n")
    # clembench lists the first three related words only
    assert master.messages_for(DESCRIBER) == [
        {"role": "user", "content": "Describe library in 3 tries, never saying:\n- book\n- read\n- borrow\n"}]
    play(master, "CLUE: a quiet place")
    assert master.messages_for(GUESSER)[-1]["content"] == "Guess in 3 tries.\n\n\nCLUE: a quiet place"


def test_our_experiments_get_our_own_wording():
    assert master_text(new()).startswith("Let's play a word game together.")


def master_text(master) -> str:
    return master.messages_for(DESCRIBER)[0]["content"]


# ------------------------------------------------------------------------------------------ contract
def test_check_game():
    report = check_game(SPEC, episodes=10)
    assert report.episodes == 30


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=60), max_size=8))
def test_any_replies_keep_the_episode_defined(replies):
    master = new()
    competent = {role: scripted(role, "competent", EXPERIMENT, INSTANCE, 1) for role in SPEC.roles}
    for reply in replies:
        if master.done:
            break
        master.step(reply)
    while not master.done:  # pad with scripted replies
        master.step(competent[master.current_role](master.messages_for()))
    check_scores(master)
    assert master.requests <= 2 * EXPERIMENT["max_turns"]


def test_copy_branches_independently():
    master = play(new(), "CLUE: shelves")
    branch = master.copy()
    play(master, "GUESS: library")
    play(branch, "GUESS: office")
    assert master.outcome.status is Status.SUCCESS and not branch.done


# ------------------------------------------------------------------------------------------ scripted players
def _play_scripted(row, describer: str, guesser: str, seed: int):
    return play_scripted(SPEC, row, {DESCRIBER: describer, GUESSER: guesser}, seed)


def _validation_rows():
    return list(iter_rows("taboo", load_instances(SPEC.instances_file("validation"))))


def test_competent_players_win_and_bad_players_do_not():
    rows = _validation_rows()
    competent = [_play_scripted(row, "competent", "competent", i).outcome.status for i, row in enumerate(rows)]
    bad = [_play_scripted(row, "bad", "bad", i).outcome.status for i, row in enumerate(rows)]
    assert competent.count(Status.SUCCESS) / len(rows) >= 0.9
    assert bad.count(Status.SUCCESS) == 0
    assert bad.count(Status.ABORTED) >= 1 and bad.count(Status.LOSE) >= 1


def test_competent_describer_clues_avoid_the_taboo_and_guesser_reads_them():
    for entries in load_targets().values():
        for entry in entries:
            clues = describer_clues(entry.word, list(entry.related))
            assert clues[0] == f"CLUE: {entry.clue}"
            assert all(not taboo_breaches(clue, entry.word, list(entry.related)) for clue in clues)
    instance = {**INSTANCE, "target_word": "library"}
    guesser = scripted(GUESSER, "competent", EXPERIMENT, instance, seed=3)
    clue = describer_clues("library", ["book", "read", "borrow"])[0]
    assert guesser([{"role": "user", "content": f"rules...\n\n{clue}"}]) in ("GUESS: library", "GUESS: book")


def test_bad_guesser_never_names_the_target():
    guesser = scripted(GUESSER, "bad", EXPERIMENT, INSTANCE, seed=5)
    replies = [guesser([{"role": "user", "content": "CLUE: x"}]) for _ in range(200)]
    assert all("library" not in reply for reply in replies)
    assert any(not reply.startswith("GUESS:") for reply in replies)


def test_scripted_players_are_deterministic():
    row = _validation_rows()[0]
    a = _play_scripted(row, "bad", "competent", 7)
    b = _play_scripted(row, "bad", "competent", 7)
    assert a.rounds == b.rounds and json.dumps(a.scores()) == json.dumps(b.scores())


# ------------------------------------------------------------------------------------------ instances
def test_curated_targets_are_consistent():
    targets = load_targets()
    words = [entry.word for band in BANDS for entry in targets[band]]
    clues = [entry.clue for band in BANDS for entry in targets[band]]
    assert len(words) == len(set(words)) and len(clues) == len(set(clues))
    assert all(len(entries) >= sum(SPLIT_SIZES.values()) for entries in targets.values())
    for entries in targets.values():
        for entry in entries:
            assert " " not in entry.word and len(entry.related) == 3
            assert not taboo_breaches(entry.clue, entry.word, list(entry.related)), entry.word


def test_curated_bands_follow_wordfreq():
    wordfreq = pytest.importorskip("wordfreq")
    for band, entries in load_targets().items():
        low, high = ZIPF_BANDS[band]
        assert all(low <= wordfreq.zipf_frequency(entry.word, "en") < high for entry in entries), band


def test_generator_is_seeded_disjoint_and_sized_like_clembench():
    splits = generate(0)
    assert generate(0) == splits and generate(1) != splits
    targets = {}
    for split, data in splits.items():
        assert [e["name"] for e in data["experiments"]] == [name for name, _ in EXPERIMENTS]
        for experiment, (_, band) in zip(data["experiments"], EXPERIMENTS):
            size = SPLIT_SIZES.get(split, len(load_targets()[band]) - sum(SPLIT_SIZES.values()))
            assert experiment["max_turns"] == 3
            assert len(experiment["game_instances"]) == size
            assert [i["game_id"] for i in experiment["game_instances"]] == list(range(size))
        targets[split] = {i["target_word"] for e in data["experiments"] for i in e["game_instances"]}
    assert len(splits["test"]["experiments"][0]["game_instances"]) == 20
    # the four splits share no word, and together they use every curated word once: heldout has the 166 left over
    assert sum(len(words) for words in targets.values()) == len(set().union(*targets.values()))
    assert set().union(*targets.values()) == {entry.word for band in BANDS for entry in load_targets()[band]}
    assert len(targets[HELDOUT_SPLIT]) == 166


def test_committed_instance_files_are_the_generator_output():
    for split, data in generate(0).items():
        assert load_instances(SPEC.instances_file(split)) == data


def test_registry_and_domain():
    assert get_game("taboo") is SPEC and SPEC.domain == "in" and SPEC.roles == ("WordDescriber", "WordGuesser")


# ------------------------------------------------------------------------------------------ fidelity
def test_curated_targets_avoid_every_clembench_target(clembench_instances):
    official = set()
    for path in (clembench_instances / "taboo" / "in").glob("*.json"):
        for experiment in json.loads(path.read_text())["experiments"]:
            official |= {i["target_word"].lower() for i in experiment["game_instances"]}
    ours = {entry.word for entries in load_targets().values() for entry in entries}
    assert official and not ours & official


def test_official_instances_load_and_play(clembench_instances):
    data = load_instances(clembench_instances / "taboo" / "in" / "instances.json")
    rows = list(iter_rows("taboo", data))
    assert len(rows) == 60
    for index, row in enumerate(rows):
        master = _play_scripted(row, "competent", "competent", index)
        assert master.outcome.status is Status.SUCCESS
        assert row.instance["target_word"] in master.rounds[0][0]["action"]["content"]


def test_every_recorded_clue_decision_is_reproduced(clembench_runs):
    decisions = 0
    for interactions_file in sorted(p for run in clembench_runs for p in run.rglob("taboo/*/*/interactions.json")):
        instance = read_json(interactions_file.parent / "instance.json")
        events = [event for turn in read_json(interactions_file)["turns"] for event in turn]
        for index, event in enumerate(events):
            if event["from"] == "Player 1" and event["action"]["type"] == "get message":
                verdicts = [e["action"]["type"] for e in events[index + 1:index + 4]]
                if "valid clue" in verdicts or "invalid clue" in verdicts:
                    clue = event["action"]["content"]
                    breaches = taboo_breaches(clue, instance["target_word"], instance["related_word"])
                    assert bool(breaches) == ("invalid clue" in verdicts), event["action"]["content"]
                    decisions += 1
    assert decisions == 55


def test_verify_agrees_with_every_recorded_episode(clembench_runs):
    for run in clembench_runs:
        checks = verify(run, {"taboo"})
        disagreements = [check.reason for check in checks if check.status != "agree"]
        assert checks and not disagreements, disagreements


def test_recorded_replies_replay_to_the_recorded_outcome_details(clembench_runs):
    # beyond verify's four numbers: the recorded number of rounds
    for run in clembench_runs:
        for interactions_file in run.rglob("taboo/*/*/interactions.json"):
            interactions = read_json(interactions_file)
            master = SPEC.new_episode(read_json(interactions_file.parent.parent / "experiment.json"),
                                      read_json(interactions_file.parent / "instance.json"))
            for reply in recorded_replies(interactions):
                master.step(reply)
            assert master.done and len(master.rounds) == len(interactions["turns"])


def test_run_says_when_the_scripted_describer_can_only_give_letter_hints(tmp_path, fixtures_dir):
    """clembench's targets are not our curated words: the competent describer has no description of them, and
    `playpen run` says so before playing (a guesser's score against it measures letter-hint play only)."""
    from typer.testing import CliRunner

    from playpen.cli import app
    from playpen.games.taboo.master import DESCRIBER, GUESSER
    from playpen.games.taboo.players import scripted_limits

    assert scripted_limits(GUESSER, "competent", {"target_word": "zzzz"}) is None
    assert "letter hints only" in scripted_limits(DESCRIBER, "competent", {"target_word": "zzzz"})
    assert scripted_limits(DESCRIBER, "bad", {"target_word": "zzzz"}) is None
    official = fixtures_dir / "clembench-instances" / "taboo" / "in" / "instances.json"
    result = CliRunner().invoke(app, ["run", "-g", "taboo", "-m", "scripted", "-i", str(official), "-n", "1",
                                      "-r", str(tmp_path / "official")])
    assert result.exit_code == 0, result.output
    assert "the scripted WordDescriber has no description of the target" in " ".join(result.output.split())
    ours = CliRunner().invoke(app, ["run", "-g", "taboo", "-m", "scripted", "-n", "1", "-r", str(tmp_path / "ours")])
    assert ours.exit_code == 0 and "warning" not in ours.output


def test_the_heldout_split_is_played_by_name_and_only_where_a_game_ships_it(tmp_path):
    from typer.testing import CliRunner

    from playpen.cli import app

    result = CliRunner().invoke(app, ["run", "-g", "taboo", "-m", "scripted", "--split", "heldout", "-n", "1",
                                      "-r", str(tmp_path / "heldout")])
    assert result.exit_code == 0, result.output
    played = sorted(p.parent.name for p in (tmp_path / "heldout").rglob("interactions.json"))
    assert played == ["episode_0"] * 3
    refused = CliRunner().invoke(app, ["run", "-g", "wordle", "-m", "scripted", "--split", "heldout"])
    assert "wordle has no split 'heldout'" in str(refused.exception)


def test_the_independent_describer_gives_its_own_description_first_then_letter_hints():
    describe = scripted(DESCRIBER, "independent", {}, {"target_word": "winter", "related_word": ["cold", "snow", "season"]}, 0)
    first = describe([{"role": "user", "content": "Describe it."}])
    assert first == "CLUE: The coldest part of the year, when days are short and lakes may freeze."
    second = describe([{"role": "user", "content": "x"}, {"role": "assistant", "content": first},
                       {"role": "user", "content": "GUESS: autumn"}])
    assert second == "CLUE: It has 6 letters and starts with the letter 'w'."
    # the independent describer knows no curated word: it says so before a run of our instances
    from playpen.games.taboo.players import scripted_limits

    curated = load_targets()["high"][0].word
    assert "not one written independently" in scripted_limits(DESCRIBER, "independent", {"target_word": curated})
    assert scripted_limits(DESCRIBER, "independent", {"target_word": "winter"}) is None


def test_independent_descriptions_cover_clembench_test_targets_and_break_no_taboo(clembench_instances):
    official = load_instances(clembench_instances / "taboo" / "in" / "instances.json")
    instances = [i for e in official["experiments"] for i in e["game_instances"]]
    assert {i["target_word"] for i in instances} == set(independent_clues())
    for instance in instances:
        clue = independent_clues()[instance["target_word"]]
        assert not taboo_breaches(clue, instance["target_word"], instance["related_word"]), instance["target_word"]
    # and no curated word is among them: these descriptions never met a training conversation
    curated = {entry.word for band in BANDS for entry in load_targets()[band]}
    assert not curated & set(independent_clues())

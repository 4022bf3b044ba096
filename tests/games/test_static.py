"""The static tasks (ifeval, eqbench, cladder, mmlu_pro, bbh): parsing, scores, instance files, fidelity to
clembench's static suite, statscore."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from playpen.core.check import check_game
from playpen.core.errors import PlaypenError
from playpen.core.instances import iter_rows, load_instances
from playpen.core.master import Status
from playpen.core.metrics import EPISODE_SCORES_KEY
from playpen.eval.report import evaluate
from playpen.eval.statscore import STATIC_RESULTS_CSV, statscore, statscores
from playpen.eval.verify import agreement_table, verify
from playpen.games import get_game, resolve_games, static_games
from playpen.games.static import GAMES, STATSCORE_GAMES
from playpen.games.static.master import render
from playpen.results.records import read_json, recorded_replies
from playpen.rollout.planner import select_rows

PROJECT = Path(__file__).resolve().parents[2]
STATIC_RUNS = ("llama3-8b-base", "tulu3-8b")


def example_row(game: str, index: int = 0):
    return list(iter_rows(game, load_instances(GAMES[game].examples)))[index]


def play(game: str, reply: str, index: int = 0):
    row = example_row(game, index)
    master = GAMES[game].new_episode(row.experiment, row.instance)
    master.step(reply)
    assert master.done  # one reply ends every static task
    return master


def episode(master) -> dict:
    return master.scores()[EPISODE_SCORES_KEY]


def outcome(master) -> tuple[str, float]:
    return master.outcome.status.value, episode(master)["Main Score"]


def needs_reference_extra():
    pytest.importorskip("lm_eval", reason="ifeval's checkers come with the 'reference' extra")
    pytest.importorskip("punkt", reason="ifeval's Punkt model comes with the 'reference' extra")


@pytest.fixture(scope="module")
def static_runs(fixtures_dir) -> dict[str, Path]:
    root = fixtures_dir / "clembench-runs-static"
    if not root.is_dir():
        pytest.skip("../shared/fixtures/clembench-runs-static is absent")
    return {run: root / run for run in STATIC_RUNS}


# ------------------------------------------------------------------------------------------ selection
def test_all_is_the_dialogue_games_and_static_is_the_statscore_tasks():
    assert len(resolve_games(["all"])) == 14 and not {s.name for s in resolve_games(["all"])} & set(static_games())
    assert [s.name for s in resolve_games(["static"])] == list(STATSCORE_GAMES)
    assert [s.name for s in resolve_games(["static", "bbh"])] == [*STATSCORE_GAMES, "bbh"]
    assert {s.domain for s in resolve_games(["out"])} == {"out"}
    assert get_game("bbh").roles == ("Answerer",) and get_game("ifeval").roles == ("InstructionFollower",)


# ------------------------------------------------------------------------------------------ eqbench
@pytest.mark.parametrize(("reply", "status", "score"), [
    ("Guilty: 6\nAmused: 2\nAngry: 0", "success", 100.0),
    ("Sure!\nGuilty:   6\nAmused: 2\nAngry: 0\nThat is all.", "success", 100.0),
    # one emotion off by 1: 6.5 / (1 + e^3.6) = 0.17288 -> (10 - 0.17288 * 0.7477) * 10
    ("Guilty: 7\nAmused: 2\nAngry: 0", "lose", 98.70737281366752),
    # off by 6, 8 and 6 (beyond 5 a distance counts as itself): tally 20 -> below zero
    ("Guilty: 0\nAmused: 10\nAngry: 6", "lose", (10 - 20 * 0.7477) * 10),
])
def test_eqbench_scores(reply, status, score):
    master = play("eqbench", reply)
    assert master.outcome.status.value == status
    assert episode(master)["Main Score"] == pytest.approx(score)
    low, high = master.main_score_bounds()
    assert low <= score <= high


@pytest.mark.parametrize(("reply", "reason"), [
    ("I cannot tell.", "no '<emotion>: <score>' lines"),
    ("Guilty: 6\nAmused: 2", "2 emotions scored, the expected format lists 3"),
    ("Guilty: 6\nAmused: 2\nSad: 1", "not the expected"),
    ("Guilty: 0\nAmused: 0\nAngry: 0", "greater than 0"),
    ("Guilty: 11\nAmused: 2\nAngry: 0", "0 to 10: Guilty: 11"),
    ("Guilty: -3\nAmused: 2\nAngry: 1", "2 emotions scored"),  # '-3' is no score
])
def test_eqbench_format_violations_abort(reply, reason):
    master = play("eqbench", reply)
    scores = episode(master)
    assert master.outcome.status is Status.ABORTED and reason in master.outcome.reason
    assert math.isnan(scores["Main Score"]) and scores["Violated Request Count"] == 1
    assert [e["action"]["type"] for e in master.rounds[0]][-2:] == ["metadata", "invalid format"]


# ------------------------------------------------------------------------------------------ cladder
@pytest.mark.parametrize(("reply", "expected"), [
    ("Yes, because rain wets streets.", ("success", 100)),
    ("**yes** it is", ("success", 100)),
    ("  YES.", ("success", 100)),
    ("No, it stays dry.", ("lose", 0)),
])
def test_cladder_answers(reply, expected):
    assert outcome(play("cladder", reply)) == expected


@pytest.mark.parametrize("reply", ["", "   \n", "Maybe yes", "Yes-no", "The answer is yes"])
def test_cladder_replies_not_starting_with_a_choice_abort(reply):
    master = play("cladder", reply)
    assert master.outcome.status is Status.ABORTED and math.isnan(episode(master)["Main Score"])


def test_cladder_prompt_fills_the_template():
    row = example_row("cladder")
    prompt = GAMES["cladder"].new_episode(row.experiment, row.instance).messages_for()[0]["content"]
    assert prompt == f"Answer with yes or no first.\n{row.instance['input']}\nThen explain."


# ------------------------------------------------------------------------------------------ mmlu_pro
@pytest.mark.parametrize(("reply", "expected"), [
    ("Spiders have eight legs. The answer is (B)", ("success", 100)),
    ("the answer is B.", ("success", 100)),
    ("The answer is (C)", ("lose", 0)),
])
def test_mmlu_pro_answers(reply, expected):
    assert outcome(play("mmlu_pro", reply)) == expected


@pytest.mark.parametrize(("reply", "reason"), [
    ("B", "no answer"),
    ("The answer is (b)", "no answer"),  # the pattern is case-sensitive
    ("The answer is (B). To be sure: the answer is (B)", "gives 2 answers"),
])
def test_mmlu_pro_format_violations_abort(reply, reason):
    master = play("mmlu_pro", reply)
    assert master.outcome.status is Status.ABORTED and reason in master.outcome.reason


def test_mmlu_pro_letters_outside_the_choices_abort():
    row = example_row("mmlu_pro")
    experiment = {**row.experiment, "choices": ["A", "B"]}
    master = GAMES["mmlu_pro"].new_episode(experiment, row.instance)
    master.step("The answer is (J)")
    assert master.outcome.status is Status.ABORTED and "none of the answer letters" in master.outcome.reason


# ------------------------------------------------------------------------------------------ bbh
@pytest.mark.parametrize(("reply", "expected"), [
    ("apple pear", ("success", 100)),
    ("apple pear\n", ("success", 100)),  # stripped first, as clembench's backends do
    ("Apple pear", ("lose", 0)),  # otherwise an exact match
    ("apple pear.", ("lose", 0)),
    ("", ("lose", 0)),
])
def test_bbh_exact_match(reply, expected):
    assert outcome(play("bbh", reply)) == expected


def test_bbh_prompt_ends_with_the_question():
    row = example_row("bbh", 1)
    prompt = GAMES["bbh"].new_episode(row.experiment, row.instance).messages_for()[0]["content"]
    assert prompt.endswith("Q: Is 3 even?\nA:") and prompt.startswith("Answer Yes or No.")


def test_render_drops_one_trailing_newline_of_the_template_like_jinja():
    assert render("Q: {{input}}\nA:\n", input="x\n") == "Q: x\n\nA:"
    assert render("{{ prompt }}!", prompt="hi") == "hi!"


# ------------------------------------------------------------------------------------------ ifeval
@pytest.mark.parametrize(("index", "reply", "expected"), [
    (0, "a kettle is a pot that boils water", ("success", 100)),
    (0, "a kettle, which boils water", ("lose", 0)),
    (0, "A kettle boils water", ("lose", 0)),
    (0, "   ", ("lose", 0)),
    (1, '"Nile, Amazon, Danube"', ("success", 100)),
    (2, "Tides rise and fall twice a day because the moon pulls the oceans. Any other questions?", ("success", 100)),
    (2, "The moon pulls water. Any other questions?", ("lose", 0)),
])
def test_ifeval_strict_checks(index, reply, expected):
    needs_reference_extra()
    master = play("ifeval", reply, index)
    assert outcome(master) == expected and episode(master)["Aborted"] == 0


def test_ifeval_works_offline_from_an_empty_cache(tmp_path):
    """No download: the Punkt model is written from the installed wheel into a fresh cache."""
    needs_reference_extra()
    code = (
        "import nltk\n"
        "def refuse(*a, **k): raise SystemExit('nltk.download was called')\n"
        "nltk.download = refuse\n"
        "from playpen.games.static.ifeval_checks import follows\n"
        "print(follows('One. Two. Three.', 'length_constraints:number_sentences',"
        " {'relation': 'at least', 'num_sentences': 3}),"
        " follows('SHOUT LOUD and clear', 'change_case:capital_word_frequency',"
        " {'capital_relation': 'at least', 'capital_frequency': 2}))\n"
    )
    env = {**os.environ, "PLAYPEN_CACHE": str(tmp_path), "PYTHONPATH": str(PROJECT)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]
    assert (tmp_path / "nltk_data" / "tokenizers" / "punkt_tab" / "english" / "abbrev_types.txt").is_file()


def test_ifeval_unknown_instruction_is_a_clear_error():
    needs_reference_extra()
    from playpen.games.static.ifeval_checks import follows

    with pytest.raises(PlaypenError, match="unknown IFEval instruction 'format:haiku'"):
        follows("x", "format:haiku", {})


# ------------------------------------------------------------------------------------------ checker
@pytest.mark.parametrize("game", ["eqbench", "cladder", "mmlu_pro", "bbh", "ifeval"])
def test_check_game(game):
    if game == "ifeval":
        needs_reference_extra()
    report = check_game(GAMES[game], episodes=12, seed=3)
    assert report.episodes == 36 and report.max_requests_seen == 1


# ------------------------------------------------------------------------------------------ instance files
def test_a_static_task_without_instance_files_says_what_to_pass():
    with pytest.raises(PlaypenError, match=r"cladder ships no 'validation' instances: pass clembench's instance "
                                           r"file with -i \(static/cladder/in/instances.json"):
        select_rows(GAMES["cladder"], split="validation")


def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(("game", "change", "message"), [
    ("cladder", lambda e, i: e.pop("choices"), "needs 'choices' (list)"),
    ("mmlu_pro", lambda e, i: e.pop("regex_pattern"), "needs 'regex_pattern' (str)"),
    ("bbh", lambda e, i: e.update(initial_prompt="no placeholder"), "has no {{input}} placeholder"),
    ("cladder", lambda e, i: e.update(initial_prompt="Q: {{input}}"), "has no {{prompt}} placeholder"),
    ("mmlu_pro", lambda e, i: e.update(regex_pattern="answer is ("), "'regex_pattern' is not a regular expression"),
    ("eqbench", lambda e, i: i.update(target="Guilty: 6"), "'target' must be a dict"),
    ("ifeval", lambda e, i: i.pop("input"), "'input' must be the prompt text"),
])
def test_bad_instance_files_are_refused_before_playing(tmp_path, game, change, message):
    data = json.loads(GAMES[game].examples.read_text())
    experiment = data["experiments"][0]
    change(experiment, experiment["game_instances"][0])
    path = write(tmp_path / "instances.json", data)
    with pytest.raises(PlaypenError, match=message.replace("{", r"\{").replace("(", r"\(").replace(")", r"\)")) as info:
        select_rows(GAMES[game], instances_file=path)
    assert str(path) in str(info.value)


def test_instances_folder_in_clembench_layout(tmp_path):
    for game in ("cladder", "bbh"):
        shutil.copy(GAMES[game].examples, write(tmp_path / game / "in" / "instances.json", {}))
    assert len(select_rows(GAMES["cladder"], instances_file=tmp_path)) == 2
    assert [r.experiment_dir for r in select_rows(GAMES["bbh"], instances_file=tmp_path)] == ["0_word_order", "1_yes_no"]
    with pytest.raises(PlaypenError, match="holds no instances for eqbench"):
        select_rows(GAMES["eqbench"], instances_file=tmp_path)


def test_official_instance_files_load_as_they_are(clembench_instances):
    folder = clembench_instances / "static"
    counts = {game: len(select_rows(GAMES[game], instances_file=folder)) for game in ("ifeval", "eqbench", "bbh")}
    assert counts == {"ifeval": 541, "eqbench": 171, "bbh": 6511}


# ------------------------------------------------------------------------------------------ fidelity
def test_our_prompts_are_the_recorded_ones(static_runs):
    """The prompt each recorded episode was sent is the one we build from its experiment and instance."""
    checked = 0
    for run in static_runs.values():
        for interactions_file in sorted(run.rglob("interactions.json")):
            episode_dir = interactions_file.parent
            interactions = read_json(interactions_file)
            spec = get_game(interactions["meta"]["game_name"])
            master = spec.new_episode(read_json(episode_dir.parent / "experiment.json"),
                                      read_json(episode_dir / "instance.json"))
            sent = interactions["turns"][0][0]["action"]["content"]
            assert master.messages_for()[0]["content"] == sent, episode_dir
            checked += 1
    assert checked == 2 * 302


@pytest.mark.parametrize(("task", "episodes"), [("cladder", 101), ("eqbench", 34), ("ifeval", 54), ("mmlu_pro", 113)])
def test_verify_agrees_with_every_recorded_static_episode(static_runs, task, episodes):
    if task == "ifeval":
        needs_reference_extra()
    for run in static_runs.values():
        checks = verify(run, {task})
        problems = [f"{c.path}: {c.reason}" for c in checks if c.status != "agree"]
        assert not problems, problems[:5]
        assert agreement_table(checks) == [(task, episodes, episodes, 0)]


def test_replayed_events_follow_clembench(static_runs):
    """Beyond the scores: the GM's events after the reply carry clembench's names and contents."""
    try:
        import lm_eval  # noqa: F401
        skipped = set()
    except ImportError:  # ifeval's checkers come with the 'reference' extra
        skipped = {"ifeval"}
    for run in static_runs.values():
        for interactions_file in sorted(run.rglob("interactions.json")):
            interactions = read_json(interactions_file)
            if interactions["meta"]["game_name"] in skipped:
                continue
            episode_dir = interactions_file.parent
            spec = get_game(interactions["meta"]["game_name"])
            master = spec.new_episode(read_json(episode_dir.parent / "experiment.json"),
                                      read_json(episode_dir / "instance.json"))
            master.step(recorded_replies(interactions)[0])
            recorded = [(e["action"]["type"], e["action"]["content"]) for e in interactions["turns"][0][2:]]
            ours = [(e["action"]["type"], e["action"]["content"]) for e in master.rounds[0][2:]]
            if recorded and recorded[0][0] == "metadata" and recorded[0][1].startswith("ParseError"):
                # parse errors: same events, our own wording of the reason
                assert [t for t, _ in ours] == [t for t, _ in recorded], episode_dir
            else:
                assert ours == recorded, episode_dir


@pytest.mark.parametrize(("run", "expected"), [("llama3-8b-base", 56.46), ("tulu3-8b", 57.43)])
def test_eval_reproduces_the_static_results_csv(static_runs, tmp_path, run, expected):
    source = static_runs[run]
    for child in source.iterdir():
        if child.is_dir():
            shutil.copytree(child, tmp_path / child.name)
    evaluate(tmp_path, chart=False)
    official = (source / "results.csv").read_text()
    assert (tmp_path / "results.csv").read_text() == official
    assert (tmp_path / STATIC_RESULTS_CSV).read_text() == official
    score = statscore(tmp_path)
    assert score.statscore == expected and score.missing == []
    assert sorted(score.tasks) == sorted(STATSCORE_GAMES)
    assert (score.tasks["mmlu_pro"].played, score.tasks["mmlu_pro"].quality) == (
        (75.22, 37.65) if run == "llama3-8b-base" else (100.0, 46.9))


def test_dialogue_and_static_results_get_separate_tables(static_runs, clembench_runs, tmp_path):
    llama = next(r for r in clembench_runs if r.name == "llama3-8b-base")
    for source in (llama, static_runs["llama3-8b-base"]):
        for child in source.iterdir():
            if child.is_dir():
                shutil.copytree(child, tmp_path / child.name, dirs_exist_ok=True)
    evaluate(tmp_path, chart=False)
    assert (tmp_path / "results.csv").read_text() == (llama / "results.csv").read_text()
    assert (tmp_path / STATIC_RESULTS_CSV).read_text() == (static_runs["llama3-8b-base"] / "results.csv").read_text()
    assert [s.statscore for s in statscores(tmp_path)] == [56.46]


def test_statscore_leaves_bbh_out_and_names_missing_tasks(tmp_path):
    from playpen.results.store import atomic_write_json

    for game, main in (("bbh", 100), ("cladder", 50), ("cladder", 0)):
        episode_dir = tmp_path / "m" / game / "0_e" / f"episode_{main}"
        atomic_write_json(episode_dir / "scores.json", {"episode scores": {"Aborted": 0, "Main Score": main}})
    score = statscore(tmp_path)
    assert score.statscore == 25.0 and score.tasks["bbh"].quality == 100.0
    assert score.missing == ["eqbench", "ifeval", "mmlu_pro"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(PlaypenError, match="no static-task scores"):
        statscore(tmp_path / "empty")


def test_ifeval_without_the_extra_says_what_to_install(tmp_path):
    code = (
        "import sys\n"
        "sys.modules['lm_eval'] = None  # as if the 'reference' extra were not installed\n"
        "from playpen.games.static.ifeval_checks import follows\n"
        "from playpen.core.errors import PlaypenError\n"
        "try:\n"
        "    follows('x', 'punctuation:no_comma', {})\n"
        "except PlaypenError as error:\n"
        "    print(error)\n"
    )
    env = {**os.environ, "PLAYPEN_CACHE": str(tmp_path), "PYTHONPATH": str(PROJECT)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert "pip install 'playpen[reference]'" in result.stdout, result.stderr


def test_run_and_eval_the_static_suite_from_a_clembench_folder(tmp_path):
    """``playpen run -g static -i <folder>`` plays every statscore task; eval writes the statscore table."""
    needs_reference_extra()
    instances = tmp_path / "static"
    for game in STATSCORE_GAMES:
        shutil.copy(GAMES[game].examples, write(instances / game / "in" / "instances.json", {}))
    playpen = str(Path(sys.executable).with_name("playpen"))
    results = tmp_path / "results"
    env = {**os.environ, "PLAYPEN_CACHE": str(tmp_path / "cache")}
    run = subprocess.run([playpen, "run", "-g", "static", "-m", "scripted", "-i", str(instances), "-r", str(results)],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0 and "played 9 episodes" in run.stdout, run.stderr
    assert "ifeval: clembench lets its replies run to 1280 tokens" in run.stdout  # -L 300 (the default) warns
    assert sorted(p.name for p in (results / "scripted").iterdir() if p.is_dir()) == sorted(STATSCORE_GAMES)
    out = subprocess.run([playpen, "eval", "-r", str(results)], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0 and "statscore" in out.stdout, out.stderr
    assert (results / STATIC_RESULTS_CSV).read_text() == (results / "results.csv").read_text()
    score = statscore(results)
    # scripted answers are right for every task but ifeval, where "I don't know" follows no instruction set here
    assert {task: figures.quality for task, figures in score.tasks.items()} == {
        "cladder": 100.0, "eqbench": 100.0, "ifeval": 0.0, "mmlu_pro": 100.0}
    assert score.statscore == 75.0

import csv
import json
import math
import shutil

import pytest

from playpen.core.instances import iter_rows
from playpen.eval.clemscore import load_score_rows
from playpen.eval.report import evaluate
from playpen.results.store import ResultsStore, atomic_write_json
from playpen.results.transcript import render_transcript
from playpen.rollout.engine import EpisodeJob, run_episodes
from tests.toygame import SPEC, ToyModel, instances


def play_into(tmp_path, model, n=3):
    store = ResultsStore(tmp_path, model.name)
    rows = list(iter_rows("echo", instances(n)))
    for result in run_episodes([EpisodeJob(SPEC, r, {"Sayer": model, "Echoer": model}) for r in rows]):
        store.write_episode(result.job.row, result.master, {"Sayer": model.name, "Echoer": model.name},
                            {"0": {"model_name": model.name}})
    return store, rows


def test_episode_files_follow_the_clembench_layout(tmp_path):
    store, rows = play_into(tmp_path, ToyModel())
    episode = tmp_path / "toy-competent" / "echo" / "0_three" / "episode_1"
    assert sorted(p.name for p in episode.iterdir()) == ["instance.json", "interactions.json", "scores.json",
                                                          "transcript.html"]
    assert (episode.parent / "experiment.json").is_file()
    interactions = json.loads((episode / "interactions.json").read_text())
    assert interactions["meta"]["game_name"] == "echo" and interactions["meta"]["game_id"] == 1
    assert interactions["players"]["Player 2"] == {"game_role": "Echoer", "model_name": "toy-competent"}
    first = interactions["turns"][0][0]
    assert first["from"] == "GM" and first["to"] == "Player 1" and first["action"]["type"] == "send message"
    assert "timestamp" in first
    scores = json.loads((episode / "scores.json").read_text())
    assert scores["episode scores"]["Success"] == 1 and "turn scores" in scores
    assert store.is_finished(rows[1])
    assert not list(tmp_path.rglob("*.tmp"))


def test_nan_is_written_as_clembench_does(tmp_path):
    atomic_write_json(tmp_path / "s.json", {"Main Score": math.nan})
    assert (tmp_path / "s.json").read_text().endswith('"Main Score": NaN\n}')


def test_transcript_escapes_model_output():
    interactions = {
        "meta": {"game_name": "echo", "experiment_name": "<b>x</b>", "game_id": 0, "results_folder": "m"},
        "players": {"GM": {"game_role": "Game Master", "model_name": "programmatic"},
                    "Player 1": {"game_role": "Sayer", "model_name": "m<i>"}},
        "turns": [[{"from": "Player 1", "to": "GM", "action": {"type": "get message",
                                                              "content": "<script>alert(1)</script> & \"q\""}}]],
        "outcome": {"status": "aborted", "reason": "<img src=x onerror=alert(1)>"},
    }
    html = render_transcript(interactions, {"episode scores": {"Main Score": math.nan}})
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;" in html
    assert "<img src=x" not in html and "<b>x</b>" not in html and "m&lt;i&gt;" in html
    assert "NaN" in html


def test_eval_tables_and_report(tmp_path):
    play_into(tmp_path, ToyModel())
    play_into(tmp_path, ToyModel("bad"))
    tables = evaluate(tmp_path)
    by_model = {t.model: t for t in tables}
    assert by_model["toy-competent"].games["echo"].quality == 100.0
    assert by_model["toy-bad"].games["echo"].quality == 0.0
    assert by_model["toy-bad"].games["echo"].played == 100.0
    with open(tmp_path / "results.csv") as handle:
        header = next(csv.reader(handle))
    assert header[:2] == ["", "-, clemscore"] and "echo, % Played" in header and "all, Average % Played" in header
    html = (tmp_path / "results.html").read_text()
    assert "data:image/png;base64," in html and (tmp_path / "results.png").stat().st_size > 1000


@pytest.mark.parametrize("run", ["llama3-8b-base", "tulu3-8b"])
def test_eval_reproduces_clembench_results_csv(fixtures_dir, tmp_path, run):
    source = fixtures_dir / "clembench-runs" / run
    for child in source.iterdir():
        if child.is_dir():
            shutil.copytree(child, tmp_path / child.name)
    evaluate(tmp_path, chart=False)
    assert (tmp_path / "results.csv").read_text() == (source / "results.csv").read_text()


def test_played_metric_logged_by_a_game_is_refused(tmp_path):
    from playpen.core.errors import PlaypenError

    atomic_write_json(tmp_path / "m" / "g" / "0_e" / "episode_0" / "scores.json",
                      {"episode scores": {"Played": 1, "Aborted": 0}})
    with pytest.raises(PlaypenError, match="Played"):
        load_score_rows(tmp_path)


def test_all_aborted_games_give_nan_quality_and_clemscore(tmp_path):
    atomic_write_json(tmp_path / "m" / "g" / "0_e" / "episode_0" / "scores.json",
                      {"episode scores": {"Aborted": 1, "Main Score": math.nan}})
    [table] = evaluate(tmp_path)
    played, quality, clemscore = table.average()
    assert played == 0.0 and math.isnan(quality) and math.isnan(clemscore)
    assert (tmp_path / "results.csv").read_text().splitlines()[1] == "m,,0.0,,0.0,,"

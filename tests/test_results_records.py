"""The results reader (``playpen.results.records``): episode folders, their records, the recorded messages."""

from __future__ import annotations

import json

import pytest

from playpen.core.errors import PlaypenError
from playpen.core.instances import iter_rows, load_instances
from playpen.games import get_game
from playpen.models.scripted import ScriptedModel
from playpen.results.records import (
    Episode,
    Message,
    ResultsFileError,
    episodes,
    model_players,
    recorded_messages,
    recorded_replies,
    walking,
)
from playpen.rollout.planner import run_benchmark


def _event(sender: str, receiver: str, kind: str, content) -> dict:
    return {"from": sender, "to": receiver, "action": {"type": kind, "content": content}}


INTERACTIONS = {
    "players": {
        "GM": {"game_role": "Game Master", "model_name": "programmatic"},
        "Player 1": {"game_role": "Describer", "model_name": "model-a"},
        "Player 2": {"game_role": "Guesser", "model_name": "model-b"},
        "Player 3": {"game_role": "Mock Opponent", "model_name": "mock"},
    },
    "turns": [
        [_event("GM", "Player 1", "send message", "describe 'cat'"),
         _event("Player 1", "GM", "get message", "CLUE: purrs"),
         _event("GM", "GM", "parse", "purrs"),
         _event("GM", "Player 2", "send message", "guess"),
         _event("Player 2", "GM", "get message", "GUESS: dog")],
        [_event("Player 3", "GM", "get message", "REVEAL: tree"),
         _event("GM", "Player 2", "send message", "wrong, again"),
         _event("Player 2", "GM", "get message", "GUESS: cat")],
    ],
}


def test_messages_are_read_in_order_without_programmatic_players():
    assert list(model_players(INTERACTIONS)) == ["Player 1", "Player 2"]
    assert recorded_replies(INTERACTIONS) == ["CLUE: purrs", "GUESS: dog", "GUESS: cat"]
    assert recorded_messages(INTERACTIONS)[:2] == [Message("Player 1", "describe 'cat'", reply=False),
                                                   Message("Player 1", "CLUE: purrs", reply=True)]
    assert [m.player for m in recorded_messages(INTERACTIONS)] == ["Player 1"] * 2 + ["Player 2"] * 4


def test_a_reply_that_is_not_text_is_a_shape_error(tmp_path):
    damaged = json.loads(json.dumps(INTERACTIONS))
    damaged["turns"][0][1]["action"]["content"] = {"clue": "purrs"}
    path = tmp_path / "interactions.json"
    with pytest.raises(ResultsFileError, match="a recorded reply is not a string") as error, walking(path):
        recorded_replies(damaged)
    assert str(path) in str(error.value)
    with pytest.raises(ResultsFileError, match="missing key 'turns'"), walking(path):
        recorded_messages({"players": {}})


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    spec = get_game("taboo")
    rows = list(iter_rows("taboo", load_instances(spec.instances_file("validation"))))[:2]
    folder = tmp_path_factory.mktemp("records") / "results"
    run_benchmark([spec], [ScriptedModel()], folder, lambda _: rows)
    return folder, rows


def test_episodes_are_named_by_the_layout_and_read_on_demand(run_folder):
    folder, rows = run_folder
    found = list(episodes(folder))
    assert [e.key for e in found] == [row.key for row in rows]
    first = found[0]
    assert (first.run, first.game) == ("scripted", "taboo")
    assert first.replayable
    assert first.instance == json.loads(json.dumps(rows[0].instance))
    assert first.experiment["experiment_name"] == rows[0].experiment_name
    assert first.scores["episode scores"]["Aborted"] in (0, 1)
    assert recorded_replies(first.interactions)[0].startswith("CLUE:")
    assert list(episodes(folder, {"wordle"})) == []


def test_damaged_or_missing_records_raise_results_file_errors(tmp_path, run_folder):
    with pytest.raises(PlaypenError, match="results folder not found"):
        episodes(tmp_path / "nowhere")
    folder = tmp_path / "run" / "taboo" / "0_x" / "episode_0"
    folder.mkdir(parents=True)
    (folder / "interactions.json").write_text('{"turns": [')
    (episode,) = episodes(tmp_path)
    assert episode.game == "taboo" and not episode.replayable
    with pytest.raises(ResultsFileError, match="not valid JSON"):
        _ = episode.interactions
    with pytest.raises(ResultsFileError, match="instance.json: missing"):
        _ = episode.instance
    assert Episode(folder).file("experiment.json") == folder.parent / "experiment.json"


def _record(folder, experiment, instance):
    folder.mkdir(parents=True)
    (folder / "instance.json").write_text(json.dumps(instance))
    (folder.parent / "experiment.json").write_text(json.dumps(experiment))


def test_instance_files_are_rebuilt_from_records_in_recorded_order(tmp_path):
    from playpen.results.records import instances_from_records

    root = tmp_path / "results"
    for run in ("model-a", "model-b"):  # two runs of the same instances: one instance file
        for number in (0, 2, 10):  # episode order is numeric, not by name
            _record(root / run / "quiz" / "1_hard" / f"episode_{number}", {"name": "hard", "meta": {"n": 1}},
                    {"game_id": number, "q": f"h{number}"})
        _record(root / run / "quiz" / "0_easy" / "episode_0", {"name": "easy"}, {"game_id": 0, "q": "e0"})
    rebuilt = instances_from_records(root)
    assert rebuilt == {"quiz": {"experiments": [
        {"name": "easy", "game_instances": [{"game_id": 0, "q": "e0"}]},
        {"name": "hard", "meta": {"n": 1}, "game_instances": [{"game_id": n, "q": f"h{n}"} for n in (0, 2, 10)]}]}}
    (root / "model-b" / "quiz" / "0_easy" / "episode_0" / "instance.json").write_text('{"game_id": 0, "q": "other"}')
    with pytest.raises(PlaypenError, match="another run recorded a different instance"):
        instances_from_records(root)


def test_clembench_static_records_give_instance_files_that_replay_them(fixtures_dir, tmp_path):
    """cladder and mmlu_pro ship their instances only inside the records: rebuilt, they load with -i and every
    recorded episode's instance is the row of the same experiment and index."""
    from playpen.cli import app
    from playpen.games import get_game
    from playpen.results.records import episodes
    from playpen.rollout.planner import select_rows
    from typer.testing import CliRunner

    records = fixtures_dir / "clembench-runs-static" / "tulu3-8b"
    result = CliRunner().invoke(app, ["instances-from-records", str(records), "-o", str(tmp_path / "static"),
                                      "-g", "cladder", "-g", "mmlu_pro"])
    assert result.exit_code == 0, result.output
    for game in ("cladder", "mmlu_pro"):
        rows = {row.key: row.instance for row in select_rows(get_game(game), instances_file=tmp_path / "static")}
        recorded = [e for e in episodes(records, {game}) if e.file("instance.json").is_file()]
        assert recorded and len(rows) == len(recorded)
        assert all(rows[e.key] == e.instance for e in recorded)

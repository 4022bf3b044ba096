"""Class 2: names from instance files and model entries never lead a path out of the results folder."""

import json

import pytest

from playpen.games import get_game

HOSTILE_EXPERIMENTS = ["../../x", "/etc/passwd", "..", ".", "", "a\u0000b", "x" * 5000, "é" * 300, "line\nbreak",
                       "back\\slash", "\ud800"]


def _instances_with(names: list[str]) -> str:
    """The first instance of taboo's validation split under each experiment name."""
    source = json.loads(get_game("taboo").instances_file("validation").read_text())
    experiment = source["experiments"][0]
    return json.dumps({"experiments": [{**experiment, "name": name, "game_instances": experiment["game_instances"][:1]}
                                       for name in names]})


def test_hostile_experiment_names_stay_inside_the_results_folder(guarded):
    instances = guarded.write("instances.json", _instances_with(HOSTILE_EXPERIMENTS))
    result = guarded.cli("run", "-g", "taboo", "-m", "scripted", "-i", instances, "-r", guarded.results)
    assert result.code == 0, result.stderr
    assert len(guarded.finished()) == len(HOSTILE_EXPERIMENTS)
    folders = sorted(p.name for p in (guarded.results / "scripted" / "taboo").iterdir())
    assert len(folders) == len(HOSTILE_EXPERIMENTS) and all(len(f.encode()) <= 200 for f in folders)
    assert "0_.._.._x" in folders and "1__etc_passwd" in folders and "2_.." in folders
    # the same command resumes: every folder name is stable
    again = guarded.cli("run", "-g", "taboo", "-m", "scripted", "-i", instances, "-r", guarded.results)
    assert f"skipped {len(HOSTILE_EXPERIMENTS)} finished" in again.stdout


@pytest.mark.parametrize("name, folder", [("..", "__"), (".", "_"), ("../../evil", ".._.._evil"),
                                          ("a\u0000b", "a_b")])
def test_hostile_model_names_stay_inside_the_results_folder(guarded, name, folder):
    entry = json.dumps({"backend": "scripted", "model_name": name})
    result = guarded.cli("run", "-g", "taboo", "-m", entry, "--split", "validation", "-N", "1", "-r", guarded.results)
    assert result.code == 0, result.stderr
    assert [p.name for p in guarded.results.iterdir() if p.is_dir()] == [folder]
    assert len(guarded.finished()) == 1


def test_a_very_long_model_name_is_shortened_but_unique(guarded):
    for suffix in "ab":
        entry = json.dumps({"backend": "scripted", "model_name": "m" * 400 + suffix})
        assert guarded.cli("run", "-g", "taboo", "-m", entry, "--split", "validation", "-N", "1",
                           "-r", guarded.results).code == 0
    names = [p.name for p in guarded.results.iterdir() if p.is_dir()]
    assert len(set(names)) == 2 and all(len(n) <= 200 for n in names)

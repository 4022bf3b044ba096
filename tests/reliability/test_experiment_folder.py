"""Class 2 of issue 23: ``playpen experiment`` trusts neither its folder nor its recipe. The whole recipe is
checked before any stage; a stage built from other settings is refused, not reused; one writer per folder; a
damaged ``done.json`` or a killed run's temporary files are handled. (Scripted base model: nothing is loaded.)"""

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.conftest import EXPERIMENT_RECIPE as RECIPE


def _with(change: str) -> str:
    """RECIPE with ``change`` (TOML lines) in place of the settings it names; a section goes at the end."""
    named = {line.split(" =")[0] for line in change.split("\n[")[0].splitlines() if " = " in line}
    kept = [line for line in RECIPE.splitlines() if line.split(" =")[0] not in named]
    return "\n".join(kept) + "\n" + change + "\n"

def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")
            if p.is_file() and p.name not in (".playpen.lock", "stage.json")}


@pytest.mark.parametrize("change, named", [
    ('eval_batch_size = 0', "recipe.toml: eval_batch_size must be above 0 (got 0)"),
    ('eval_per_experiment = "2"', 'recipe.toml: eval_per_experiment must be a whole number or nothing, not "2"'),
    ('seeds = ["one"]', 'recipe.toml: seeds must be a list of whole numbers, not ["one"]'),
    ('seeds = [0, 0]', "recipe: seeds repeat a seed"),
    ('train_split = "validation"', "train_split and eval_split are both 'validation'"),
    ('static_games = ["taboo"]\nstatic_instances = "."', "static_games names the dialogue game(s) taboo"),
    ('[sft]\nlearnig_rate = 1e-4', "recipe [sft]: unknown setting 'learnig_rate' (did you mean learning_rate?)"),
    ('[sft]\nmax_steps = 0', "recipe [sft]: max_steps must be a number of steps above 0"),
    ('[dpo]\nbeta = "high"', 'recipe [dpo]: beta must be a number, not "high"'),
    ('[dpo]\nseed = 4', "recipe [dpo]: seed is set by the experiment itself"),
    ('[grpo]\ngroup_sise = 4', "recipe [grpo]: unknown setting 'group_sise' (did you mean group_size?)"),
    ('[grpo]\ngroup_size = 0', "recipe [grpo]: group_size must be above 0"),
    ('[grpo]\nlearning_rate = "fast"', 'recipe [grpo]: learning_rate must be a number, not "fast"'),
    ('ood_gmes = ["taboo"]', "recipe.toml: unknown setting 'ood_gmes' (did you mean ood_games?); accepted: "),
])
def test_a_wrong_recipe_is_refused_before_any_stage(guarded, change, named):
    recipe = guarded.write("recipe.toml", _with(change))
    result = guarded.cli("experiment", "-o", guarded.results / "exp", "-c", recipe)
    assert result.code == 1
    assert named in result.error_line
    assert not (guarded.results / "exp").exists()  # nothing ran, nothing was written


def test_the_accepted_grpo_keys_are_the_settings_dataclass_fields(guarded):
    from dataclasses import fields

    from playpen.train.grpo import GRPOSettings

    recipe = guarded.write("recipe.toml", RECIPE + "[grpo]\nnot_a_setting = 1\n")
    line = guarded.cli("experiment", "-o", guarded.results / "exp", "-c", recipe).error_line
    accepted = line.split("accepted: ", 1)[1].split(", ")
    assert set(accepted) == {f.name for f in fields(GRPOSettings)} - {"seed", "alias", "games", "roles", "partner",
                                                                      "split", "instances"}


@pytest.mark.parametrize("change, key", [
    ('base = "scripted-bad"', 'base = "scripted"'),
    ('eval_split = "test"', 'eval_split = "validation"'),
    ("ood_per_experiment = 2", "ood_per_experiment = 1"),
    ("eval_max_new_tokens = 20", "eval_max_new_tokens = 48"),
    ('games = ["wordle_withclue"]', 'games = ["wordle"]'),
])
def test_resuming_under_a_changed_recipe_is_refused_and_keeps_every_episode(guarded, experiment, change, key):
    before = _files(experiment)
    recipe = guarded.write("recipe.toml", _with(change))
    result = guarded.cli("experiment", "-o", experiment, "-c", recipe)
    assert result.code == 1
    line = result.error_line
    assert f"was built with {key}" in line and "use another -o folder" in line
    assert _files(experiment) == before  # no stage ran, no report was rewritten


def test_a_second_experiment_into_the_same_folder_is_refused(guarded, experiment):
    recipe = guarded.write("recipe.toml", RECIPE)
    with open(experiment / ".playpen.lock", "a+") as held:  # another process's lock on the folder
        fcntl.flock(held, fcntl.LOCK_EX)
        os.ftruncate(held.fileno(), 0)
        os.pwrite(held.fileno(), b"4242", 0)
        before = _files(experiment)
        # flock is per open file description: the same process would get it again, so ask from another
        result = subprocess.run([sys.executable, "-m", "playpen.cli", "experiment", "-o", str(experiment),
                                 "-c", str(recipe)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == (f"error: another playpen process (pid 4242) is writing to {experiment}; "
                                     "wait for it to finish or use another -o folder")
    assert _files(experiment) == before


def test_a_damaged_done_file_runs_its_stage_again(guarded, experiment):
    episodes = guarded.finished()
    (experiment / "base" / "done.json").write_bytes(b"\x00{not json")
    recipe = guarded.write("recipe.toml", RECIPE)
    result = guarded.cli("experiment", "-o", experiment, "-c", recipe)
    assert result.code == 0, result.stderr
    assert "[1/2] data: done earlier (skipped)" in result.stdout and "[2/2] base: finished" in result.stdout
    assert json.loads((experiment / "base" / "done.json").read_text())["seconds"] >= 0
    assert guarded.finished() == episodes  # the finished episodes were kept, not played again


def test_a_killed_runs_temporary_files_are_removed(guarded, experiment):
    stale = [experiment / "base" / ".done.json.k1ll3d.tmp", experiment / ".report.html.x9.tmp",
             experiment / "data" / ".sft.jsonl.abc.tmp"]
    for path in stale:
        path.write_text("half")
    result = guarded.cli("experiment", "-o", experiment, "-c", guarded.write("recipe.toml", RECIPE))
    assert result.code == 0, result.stderr
    assert not [p for p in stale if p.exists()] and not list(experiment.rglob("*.tmp"))


@pytest.mark.parametrize("folder, stem", [("my experiment", "my-experiment"), ("_ü z", "ü-z"), (" ", "experiment")])
def test_trained_model_aliases_from_any_folder_name_are_accepted_by_the_registry(tmp_path, folder, stem):
    from playpen.models.registry import register_model
    from playpen.train.recipe_checks import alias_stem

    assert alias_stem(tmp_path / folder) == stem
    register_model(f"{stem}-sft-s0", {"backend": "scripted"}, tmp_path / "models.json")
    assert f"{stem}-sft-s0" in json.loads((tmp_path / "models.json").read_text())

"""Issue 24's settings: one typed dataclass per method (``playpen.train.settings``), the only home of each default;
every key and value of a recipe section, a ``-c`` file, the command line and ``demo_settings`` is checked before
any stage runs. No model is loaded: the trainers and the model loaders are replaced by recorders."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import pytest
import typer

from playpen.core.errors import PlaypenError
from playpen.train.experiment import Experiment
from playpen.train.settings import (DemoSettings, DPOSettings, ExperimentRecipe, GRPOSettings, OfflineSettings,
                                    SFTSettings, TrainSettings, default_value, field_help, option_name, text_value)
from tests.reliability.conftest import EXPERIMENT_RECIPE, sandbox  # noqa: F401 (a fixture)
from tests.train.test_experiment import FakeTrainer, toy_specs  # noqa: F401 (a fixture)

SETTINGS = (TrainSettings, OfflineSettings, SFTSettings, DPOSettings, GRPOSettings, ExperimentRecipe, DemoSettings)
RECIPES = Path(__file__).resolve().parents[2] / "configs" / "recipes"


def _names(cls) -> list[str]:
    return [f.name for f in fields(cls)]


class Recorder:
    """Stands in for a trainer or a model loader: records each call (a test that expects none asserts that)."""

    def __init__(self, returns=None):
        self.calls: list[tuple] = []
        self.returns = returns

    def __call__(self, *args, **kwargs):
        self.calls.append(args + tuple(kwargs.values()))
        return self.returns


@pytest.fixture
def work(monkeypatch):
    """Every way a command could start training or load a model, recorded."""
    recorders = {"train_sft": Recorder((Path("run/final"), "sft-run")),
                 "train_dpo": Recorder((Path("run/final"), "dpo-run")),
                 "train_grpo": Recorder((Path("run/final"), "grpo-run")),
                 "load_trainable": Recorder(), "load_model": Recorder(), "prepare_embedded_model": Recorder()}
    monkeypatch.setattr("playpen.train.offline.train_sft", recorders["train_sft"])
    monkeypatch.setattr("playpen.train.offline.train_dpo", recorders["train_dpo"])
    monkeypatch.setattr("playpen.train.grpo.train_grpo", recorders["train_grpo"])
    monkeypatch.setattr("playpen.train.common.load_trainable", recorders["load_trainable"])
    monkeypatch.setattr("playpen.models.registry.load_model", recorders["load_model"])
    monkeypatch.setattr("playpen.models.embedded.prepare_embedded_model", recorders["prepare_embedded_model"])
    return recorders


def _nothing_started(work, sandbox) -> None:
    assert not any(recorder.calls for recorder in work.values()), "a trainer or a model loader was called"
    assert not (sandbox.work / "out").exists(), "the output folder was made"


# ------------------------------------------------------------------------------------------ the dataclasses
def test_every_trainer_inherits_the_common_settings_and_restates_one_only_to_change_its_default():
    for cls in (SFTSettings, DPOSettings, GRPOSettings):
        assert issubclass(cls, TrainSettings)
    assert issubclass(SFTSettings, OfflineSettings) and issubclass(DPOSettings, OfflineSettings)
    assert not set(_names(OfflineSettings)) - set(_names(TrainSettings)) & set(_names(GRPOSettings))
    for cls in SETTINGS:
        own = cls.__dict__.get("__annotations__", {})
        for base in (b for b in cls.__mro__[1:] if is_dataclass(b)):
            inherited = {f.name: f for f in fields(base)}
            for name in set(own) & set(inherited):
                assert own[name] == inherited[name].type, f"{cls.__name__}.{name} changes its type"
                assert default_value(cls, name) != default_value(base, name), \
                    f"{cls.__name__}.{name} restates {base.__name__}'s default"
    assert default_value(GRPOSettings, "temperature") == 1.0 and default_value(DPOSettings, "seed") == 42


@pytest.mark.parametrize("cls", SETTINGS)
def test_every_setting_has_a_comment_that_the_command_line_shows_as_its_help(cls):
    assert set(field_help(cls)) == set(_names(cls))
    assert all(len(text) > 10 for text in field_help(cls).values())
    assert field_help(DPOSettings)["learning_rate"] == field_help(TrainSettings)["learning_rate"]


@pytest.mark.parametrize("name, classes", [
    ("sft_paper.toml", {None: SFTSettings}),
    ("dpo_paper.toml", {None: DPOSettings}),
    ("grpo_paper.toml", {None: GRPOSettings}),
    ("experiment_cpu.toml", {None: ExperimentRecipe, "sft": SFTSettings, "dpo": DPOSettings, "grpo": GRPOSettings}),
])
def test_a_recipe_states_only_what_differs_from_the_defaults(name, classes):
    recipe = tomllib.loads((RECIPES / name).read_text())
    for section, cls in classes.items():
        values = recipe if section is None else recipe[section]
        # in an experiment the runner sets GRPO's evaluation itself (off, on the recipe's other games), so
        # writing the GRPOSettings default there changes it
        runner_set = {"evaluate", "eval_games", "eval_static_games"} if section == "grpo" else set()
        restated = {k: v for k, v in values.items()
                    if k not in classes and k not in runner_set and v == default_value(cls, k)}
        assert not restated, f"{name} [{section or 'top'}] restates defaults of {cls.__name__}: {restated}"


def test_the_demo_states_only_what_differs_from_the_defaults():
    from playpen.demo import GRPO_DEMO, SFT_DEMO, STEPS

    assert all(f"{steps} for {method}" in field_help(DemoSettings)["steps"] for method, steps in STEPS.items())

    for values, cls in ((GRPO_DEMO, GRPOSettings), (SFT_DEMO, ExperimentRecipe), (SFT_DEMO["sft"], SFTSettings)):
        restated = {k: v for k, v in values.items() if v == default_value(cls, k)}
        assert restated == ({"games": ["referencegame"]} if cls is GRPOSettings else {})  # its subject, named


# ------------------------------------------------------------------------------------------ the command line
def _help_rows(text: str) -> dict[str, str]:
    """Option -> its help cell (all lines of the row) in rich's --help table."""
    rows: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        match = re.match(r"│\s+(?:\*\s+)?(--[\w-]+)", line)
        if match:
            current = match.group(1)
            rows[current] = ""
        if current and line.startswith("│"):
            rows[current] += " " + line.strip("│ ")
    return rows


def _shown_default(cls, key: str) -> str | None:
    value = default_value(cls, key)
    if isinstance(value, bool):
        return key.replace("_", "-") if value else "no-" + key.replace("_", "-")
    if value is None or value == [] or value == {}:
        return None
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


@pytest.mark.parametrize("command, cls", [(("train", "sft"), SFTSettings), (("train", "dpo"), DPOSettings),
                                          (("train", "grpo"), GRPOSettings), (("experiment",), ExperimentRecipe),
                                          (("demo",), DemoSettings)])
def test_each_command_has_one_option_per_setting_and_its_help_shows_the_dataclass_default(sandbox, monkeypatch,
                                                                                          command, cls):
    from playpen.cli import app

    click_command = typer.main.get_command(app)
    for part in command:
        click_command = click_command.commands[part]
    own = {"model", "learner", "data", "output", "config", "resume", "report_only", "help"}
    options = {p.name: p for p in click_command.params if p.name not in own}
    assert set(options) == set(_names(cls))  # no option without a field, no field without an option
    monkeypatch.setenv("COLUMNS", "250")
    rows = _help_rows(sandbox.cli(*command, "--help").stdout)
    for key, option in options.items():
        assert option.opts[0] == option_name(key)
        row = rows[option_name(key)]
        assert field_help(cls)[key][1:].replace("``", "")[:30] in row
        shown = _shown_default(cls, key)
        assert (f"[default: {shown}]" in row) if shown else ("[default:" not in row), (key, row)
    if cls is GRPOSettings:
        assert "[default: 1.0]" in rows["--temperature"] and "[default: 1e-05]" in rows["--learning-rate"]


def test_the_command_line_wins_over_a_config_file_whose_values_the_defaults_leave_alone(sandbox, work):
    config = sandbox.write("grpo.toml", 'group_size = 4\ntemperature = 0.5\nroles = { taboo = "WordGuesser" }\n')
    result = sandbox.cli("train", "grpo", "-m", "x", "-o", "out", "-c", config, "--temperature", "0.7",
                     "--role", "wordle=Guesser", "--games", "taboo,wordle", "--games", "referencegame", "--lr", "3e-4",
                     "--weight", "taboo=2", "--no-evaluate")
    assert result.code == 0, result.stderr
    settings = work["train_grpo"].calls[0][2]
    assert isinstance(settings, GRPOSettings)
    assert (settings.group_size, settings.temperature, settings.learning_rate) == (4, 0.7, 3e-4)
    assert settings.roles == {"taboo": "WordGuesser", "wordle": "Guesser"}
    assert settings.games == ["taboo", "wordle", "referencegame"] and settings.weights == {"taboo": 2.0}
    assert settings.evaluate is False and settings.batch_size == 16  # a default where nothing says otherwise


def test_an_experiment_section_is_set_from_the_command_line_as_toml_values():
    assert text_value("grpo", dict[str, Any], ["beta=0", "select_by=in", "evaluate=true", "eval_games=['a']"]) \
        == {"beta": 0, "select_by": "in", "evaluate": True, "eval_games": ["a"]}
    assert text_value("seeds", list[int], ["0,1", "2"]) == [0, 1, 2]
    with pytest.raises(PlaypenError, match=r"^--seeds: 'one' is not a whole number$"):
        text_value("seeds", list[int], ["0,one"])


# ------------------------------------------------------------------------------------------ refused early
GRPO = ("train", "grpo", "-m", "smollm2-135m", "-o", "out")
SFT = ("train", "sft", "-m", "smollm2-135m", "-d", "data.jsonl", "-o", "out")
DPO = ("train", "dpo", "-m", "smollm2-135m", "-d", "data.jsonl", "-o", "out")
EXPERIMENT = ("experiment", "-o", "out", "-c", "recipe.toml")


@pytest.mark.parametrize("args, file, code, named", [
    # on the command line: unknown / misspelt option, wrong type, a table item that is not name=value
    (GRPO + ("--temprature", "0.7"), None, 2,
     "no such option --temprature (did you mean --temperature?); accepted: --model, --output, --config"),
    (GRPO + ("--bogus", "1"), None, 2, "no such option --bogus; accepted: --model, --output,"),
    (GRPO + ("--group-size", "four"), None, 2, "Invalid value for '--group-size'"),
    (GRPO + ("--weight", "taboo=heavy"), None, 1, "--weights: 'heavy' is not a number"),
    (GRPO + ("--role", "WordGuesser"), None, 1, "--roles takes name=value, not 'WordGuesser'"),
    (SFT + ("--max-steps", "0"), None, 1, "train sft: max_steps must be a number of steps above 0"),
    (GRPO + ("--seed", "-1"), None, 1, "train grpo: seed must be 0 or more (got -1)"),
    # in a -c file
    (SFT + ("-c", "config.toml"), "learnig_rate = 1e-4", 1,
     "config.toml: unknown setting 'learnig_rate' (did you mean learning_rate?); accepted: alias, batch_size, "
     "epochs, grad_accumulation, learning_rate, lora_alpha, lora_r, max_length, max_steps, save_steps, seed"),
    (DPO + ("-c", "config.json"), '{"beta": "high"}', 1, 'config.json: beta must be a number, not "high"'),
    (GRPO + ("-c", "config.toml"), "temperature = [1]", 1, "config.toml: temperature must be a number, not [1]"),
    (GRPO + ("-c", "config.toml"), "epochs = 2", 1, "config.toml: unknown setting 'epochs'; accepted: "),
    # in an experiment's recipe, in a section and at the top, and in a section given on the command line
    (EXPERIMENT, "[grpo]\ntemprature = 0.7", 1,
     "recipe [grpo]: unknown setting 'temprature' (did you mean temperature?); accepted: abort_penalty, "),
    (EXPERIMENT, "[grpo]\npartner = \"self\"", 1, "recipe [grpo]: partner is set by the experiment itself"),
    (EXPERIMENT, "[sft]\nmax_steps = \"10\"", 1, 'recipe [sft]: max_steps must be a whole number, not "10"'),
    (EXPERIMENT, "ood_gmes = [\"taboo\"]", 1, "recipe.toml: unknown setting 'ood_gmes' (did you mean ood_games?)"),
    (EXPERIMENT + ("--grpo", "temprature=0.7"), "", 1,
     "recipe [grpo]: unknown setting 'temprature' (did you mean temperature?)"),
    (EXPERIMENT + ("--grpo", "games=['taboo']"), "", 1, "recipe [grpo]: games is set by the experiment itself"),
    (EXPERIMENT + ("--dpo", "beta=high"), "", 1, 'recipe [dpo]: beta must be a number, not "high"'),
    (EXPERIMENT + ("--ood-gmes", "taboo"), "", 2, "no such option --ood-gmes (did you mean --ood-games?)"),
    (EXPERIMENT + ("--seeds", "0,one"), "", 1, "--seeds: 'one' is not a whole number"),
    # playpen demo
    (("demo", "-o", "out", "--stesp", "3"), None, 2, "no such option --stesp (did you mean --steps?); accepted: "),
    (("demo", "-o", "out", "--steps", "0"), None, 1, "demo: steps must be above 0 (got 0)"),
    (("demo", "-o", "out", "--method", "ppo"), None, 1, "--method is sft or grpo, not 'ppo'"),
])
def test_a_wrong_setting_is_one_error_line_naming_it_and_nothing_starts(sandbox, work, args, file, code, named):
    sandbox.write("data.jsonl", '{"messages": [{"role": "user", "content": "hi"}, '
                            '{"role": "assistant", "content": "hello"}]}\n')
    if file is not None:
        target = next(a for a in args if a.startswith(("config.", "recipe.")))
        sandbox.write(target, (EXPERIMENT_RECIPE if target == "recipe.toml" else "") + file + "\n")
    result = sandbox.cli(*args)
    assert result.code == code
    assert named in result.error_line
    _nothing_started(work, sandbox)


@pytest.mark.parametrize("section, values, named", [
    ("grpo", {"temprature": 0.7}, "recipe [grpo]: unknown setting 'temprature' (did you mean temperature?); "
                                  "accepted: abort_penalty, all_roles, batch_size, beta, branching,"),
    ("sft", {"learning_rate": "fast"}, 'recipe [sft]: learning_rate must be a number, not "fast"'),
    ("dpo", {"seed": 3}, "recipe [dpo]: seed is set by the experiment itself (per seed and game), not in the recipe"),
    ("grpo", {"instances": {}}, "recipe [grpo]: instances is set by the experiment itself"),
])
def test_a_wrong_recipe_section_stops_the_runner_before_its_first_stage(tmp_path, toy_specs, section, values, named):
    trainer, loads = FakeTrainer(), Recorder()
    recipe = ExperimentRecipe(base="toy-bad", games=["echo"], roles={"echo": "Echoer"}, ood_games=["echo_out"],
                              methods=["sft", "sft_dpo", "grpo"], seeds=[0], **{section: values})
    with pytest.raises(PlaypenError) as error:
        Experiment(recipe, tmp_path / "exp", trainer=trainer, load=loads,
                   resolve=lambda names: [toy_specs[n] for n in names], printer=None).run()
    assert str(error.value).startswith(named)
    assert trainer.calls == [] and loads.calls == [] and not (tmp_path / "exp").exists()


def test_demo_settings_refuse_a_misspelt_or_mistyped_setting_before_any_work(tmp_path, work):
    from playpen.demo import demo_settings, run_demo

    with pytest.raises(PlaypenError) as error:
        demo_settings(temprature=0.3)
    assert str(error.value).startswith("demo_settings: unknown setting 'temprature' (did you mean temperature?); "
                                       "accepted: abort_penalty, alias, all_roles,")
    with pytest.raises(PlaypenError, match=r'^demo_settings: temperature must be a number, not "warm"$'):
        demo_settings(temperature="warm")
    with pytest.raises(PlaypenError, match="demo_settings: unknown setting 'temprature'"):
        run_demo(tmp_path / "demo", steps=1, temprature=0.3, printer=None)
    assert not (tmp_path / "demo").exists() and not any(recorder.calls for recorder in work.values())
    assert demo_settings(temperature=0.3).temperature == 0.3 and demo_settings().temperature == 1.0


def test_a_trainer_default_written_out_or_left_out_builds_the_same_stage(tmp_path):
    from playpen.train.recipe_checks import check_stages, record_stage, stage_inputs

    label, folder = "grpo seed 0", tmp_path / "grpo-s0"
    folder.mkdir()
    record_stage(folder, stage_inputs(ExperimentRecipe(grpo={"temperature": 1.0, "max_steps": 12}), label, "grpo"))
    check_stages([(label, folder, stage_inputs(ExperimentRecipe(grpo={"max_steps": 12}), label, "grpo"))])
    changed = stage_inputs(ExperimentRecipe(grpo={"max_steps": 12, "temperature": 0.7}), label, "grpo")
    with pytest.raises(PlaypenError, match=r"was built with grpo = .*\"temperature\": 1.0"):
        check_stages([(label, folder, changed)])


def test_a_finished_stage_takes_a_static_folder_that_holds_its_task_files_and_more(tmp_path):
    from playpen.train.recipe_checks import check_stages, record_stage, stage_inputs

    def folder_with(root, tasks):  # clembench's static/ layout, <task>/in/instances.json, or a flat "<task>.json"
        for task, text in tasks.items():
            file = root / (task if task.endswith(".json") else f"{task}/in/instances.json")
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(text)
        return str(root)

    label = "base"

    def stage_from(old):
        stage = tmp_path / f"stage-{Path(old).name}"
        stage.mkdir()
        record_stage(stage, stage_inputs(ExperimentRecipe(static_games=["eqbench"], static_instances=old), label,
                                         None))
        return stage

    def check(stage, folder):
        recipe = ExperimentRecipe(static_games=["eqbench", "cladder"], static_instances=folder)
        check_stages([(label, stage, stage_inputs(recipe, label, None))])

    stage = stage_from(folder_with(tmp_path / "fixtures", {"eqbench": '{"eq": 1}', "ifeval": '{"if": 1}'}))
    # the same two files plus a rebuilt task: the episodes played from the old folder stay valid
    check(stage, folder_with(tmp_path / "rebuilt", {"eqbench": '{"eq": 1}', "ifeval": '{"if": 1}', "cladder": "{}"}))
    for name, tasks in (("other", {"eqbench": '{"eq": 2}', "ifeval": '{"if": 1}', "cladder": "{}"}),
                        ("fewer", {"eqbench": '{"eq": 1}', "cladder": "{}"})):
        with pytest.raises(PlaypenError, match=f"was built with static_instances = .*fixtures.*{name}"):
            check(stage, folder_with(tmp_path / name, tasks))
    # a flat folder (<task>.json, which `-i` reads too) is compared file by file as well
    flat = stage_from(folder_with(tmp_path / "flat", {"eqbench.json": '{"eq": 1}'}))
    check(flat, folder_with(tmp_path / "flat-more", {"eqbench.json": '{"eq": 1}', "cladder": "{}"}))
    with pytest.raises(PlaypenError, match="was built with static_instances = .*flat.*flat-changed"):
        check(flat, folder_with(tmp_path / "flat-changed", {"eqbench.json": '{"eq": 2}', "cladder": "{}"}))


@pytest.mark.parametrize("args, method, steps, ood", [
    ((), "sft", 30, ["guesswhat", "textmapworld"]),
    (("--method", "grpo", "--ood", ""), "grpo", 10, []),
    (("--steps", "3", "--ood", "taboo", "--seed", "2"), "sft", 3, ["taboo"]),
])
def test_the_demo_command_runs_the_chosen_demo_with_its_own_steps_unless_given(sandbox, monkeypatch, args, method,
                                                                                steps, ood):
    runs = {"sft": Recorder(), "grpo": Recorder()}
    monkeypatch.setattr("playpen.demo.run_sft_demo", runs["sft"])
    monkeypatch.setattr("playpen.demo.run_demo", runs["grpo"])
    result = sandbox.cli("demo", "-o", "out", *args)
    assert result.code == 0, result.stderr
    (call,) = runs[method].calls
    assert call[0] == Path("out") and call[1:4] == (steps, 2 if "--seed" in args else 0, ood)
    assert not runs["grpo" if method == "sft" else "sft"].calls


def test_a_stages_seconds_count_the_evaluations_added_after_it_finished(tmp_path):
    from playpen.train.recipe_checks import add_later_evaluation, stage_done, stage_seconds

    done = tmp_path / "done.json"
    done.write_text('{"seconds": 600.0}')
    add_later_evaluation(done, ["cladder", "mmlu_pro"], 241.26)
    add_later_evaluation(done, ["bbh"], 30)
    assert stage_seconds(done) == pytest.approx(871.3)
    assert json.loads(done.read_text())["later_evaluations"][0] == {"games": ["cladder", "mmlu_pro"], "seconds": 241.3}
    # a damaged later entry is not counted; a damaged record still means the stage runs again
    done.write_text('{"seconds": 600.0, "later_evaluations": [{"seconds": "a while"}, 7, {"seconds": 60}]}')
    assert stage_seconds(done) == 660
    done.write_text('{"seconds": 600.0, "later_evaluations": "soon"}')
    assert stage_seconds(done) == 600
    done.write_text("[600]")
    assert stage_seconds(done) is False and not stage_done(tmp_path, "done.json")

"""The experiment runner (``playpen experiment``) on the toy echo game with scripted players: data, base and
method stages, resume, and the report's change-vs-base figures with intervals (no model is loaded)."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import pytest

from playpen.core.instances import write_splits
from playpen.train.experiment import Experiment, ExperimentRecipe
from tests.toygame import SPEC, ToyModel, instances


@pytest.fixture
def toy_specs(tmp_path):
    folder = tmp_path / "instances"
    folder.mkdir()
    data = instances(6)
    write_splits(folder, {"train": data, "validation": data, "test": data})
    return {"echo": replace(SPEC, instances_dir=folder),
            "echo_out": replace(SPEC, name="echo_out", domain="out", instances_dir=folder)}


class FakeTrainer:
    """'Trains' by naming a toy model: SFT and GRPO make a competent echoer, DPO a sloppy one again."""

    def __init__(self):
        self.calls = []

    def __call__(self, method, start, output, seed, data):
        self.calls.append((method, start, seed))
        assert data.sft.is_file() and data.dpo.is_file()
        return "toy-bad" if method == "sft_dpo" else "toy-competent"


def _load(name, max_tokens):
    skill = {"scripted": "competent", "scripted-bad": "bad", "toy-competent": "competent", "toy-bad": "bad"}[name]
    return ToyModel(skill)


def _experiment(tmp_path, toy_specs, trainer, lines):
    recipe = ExperimentRecipe(base="toy-bad", games=["echo"], roles={"echo": "Echoer"}, ood_games=["echo_out"],
                              methods=["sft", "sft_dpo", "grpo"], seeds=[0, 1], resamples=300)
    return Experiment(recipe, tmp_path / "exp", trainer=trainer, load=_load,
                      resolve=lambda names: [toy_specs[n] for n in names], printer=lines.append)


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_experiment_trains_every_method_per_seed_and_reports_the_change_vs_base(tmp_path, toy_specs):
    trainer, lines = FakeTrainer(), []
    report = _experiment(tmp_path, toy_specs, trainer, lines).run()

    # SFT -> DPO starts from that seed's SFT model; GRPO from the base
    assert trainer.calls == [("sft", "toy-bad", 0), ("sft_dpo", "toy-competent", 0), ("grpo", "toy-bad", 0),
                             ("sft", "toy-bad", 1), ("sft_dpo", "toy-competent", 1), ("grpo", "toy-bad", 1)]
    sft_data = [json.loads(line) for line in (tmp_path / "exp" / "data" / "sft.jsonl").read_text().splitlines()]
    assert sft_data and {r["role"] for r in sft_data} == {"Echoer"} and {r["outcome"] for r in sft_data} == {"success"}
    # (the toy sayer draws its numbers per run, so no two episodes share a first prompt: no DPO pair here)
    assert (tmp_path / "exp" / "data" / "dpo.jsonl").is_file()

    rows = {(r["method"], r["scope"], r["game"], r["figure"]): r for r in report["rows"]}
    gain = rows[("sft", "in", "", "quality")]
    assert gain["base"] == 0 and gain["trained"] == 100 and gain["change"] == 100
    assert gain["significant"] and gain["seeds"] == 2 and gain["per_seed"] == {0: 100.0, 1: 100.0}
    assert rows[("grpo", "in", "echo", "clemscore")]["change"] == 100
    # DPO made the echoer sloppy again: no change, and not significant
    flat = rows[("sft_dpo", "in", "", "clemscore")]
    assert flat["change"] == 0 and not flat["significant"]
    # out of domain the whole model plays (self-play): the competent model wins there too
    assert rows[("sft", "out", "", "clemscore")]["change"] == 100
    # SFT -> DPO also against the SFT model it continues, seed by seed: it undid all of SFT's gain
    vs_sft = {(r["method"], r["scope"], r["game"], r["figure"]): r for r in report["vs_start"]}
    assert {r["method"] for r in report["vs_start"]} == {"sft_dpo"}  # GRPO starts from the base
    undone = vs_sft[("sft_dpo", "in", "", "clemscore")]
    assert undone["base"] == 100 and undone["trained"] == 0 and undone["change"] == -100 and undone["significant"]

    out = tmp_path / "exp"
    table = _rows(out / "report.csv")
    assert {r["method"] for r in table} == {"sft", "sft_dpo", "grpo"}
    sft_in = next(r for r in table if (r["method"], r["scope"], r["game"], r["figure"]) == ("sft", "in", "", "clemscore"))
    assert sft_in["change"] == "100.00" and sft_in["significant"] == "1" and sft_in["seed_0"] == "100.00"
    html = (out / "report.html").read_text()
    assert "in-domain clemscore" in html and "out-of-domain clemscore" in html
    assert "Change vs the starting model" in html
    assert {r["method"] for r in _rows(out / "report-vs-start.csv")} == {"sft_dpo"}
    # the same figures as Markdown tables: trained clemscore, change vs base (bold where significant), vs SFT
    markdown = (out / "report.md").read_text()
    assert "| | base | SFT | SFT→DPO | GRPO |" in markdown
    assert "| in-domain clemscore | 0.00 | 100.00 [100.00, 100.00] | 0.00 [0.00, 0.00] | 100.00 [100.00, 100.00] |" in markdown
    assert ("| in: echo | 0.00 | **+100.00** [+100.00, +100.00] | +0.00 [+0.00, +0.00] | **+100.00** [+100.00, +100.00] |"
            in markdown)
    assert "| | SFT | SFT→DPO |\n|---|---|---|\n| in-domain clemscore | 100.00 | **-100.00** [-100.00, -100.00] |" in markdown
    assert "| echo | 100.00 / 0.00 | 100.00 / 100.00 | 100.00 / 0.00 | 100.00 / 100.00 |" in markdown
    # the same episode before and after, linked to its transcripts
    assert "href='base/eval/toy-bad/echo/0_three/episode_0/transcript.html'" in html
    assert "href='runs/sft/seed-1/eval/toy-competent/echo/0_three/episode_0/transcript.html'" in html
    assert (out / "runs" / "sft" / "seed-1" / "eval" / "toy-competent" / "echo" / "0_three" / "episode_0" / "transcript.html").is_file()
    assert (out / "report.png").stat().st_size > 1000

    def no_nan(constant):
        raise AssertionError(f"report.json holds {constant}, which is not JSON")

    saved = json.loads((out / "report.json").read_text(), parse_constant=no_nan)
    assert saved["base_episodes"] == {"echo": 6, "echo_out": 1}  # ood_per_experiment = 1
    assert any("[8/8] grpo seed 1" in line for line in lines)


def test_experiment_resumes_finished_stages_and_reruns_an_interrupted_one(tmp_path, toy_specs):
    lines = []
    _experiment(tmp_path, toy_specs, FakeTrainer(), lines).run()
    # a stage killed during its training has neither done.json nor model.txt: only it runs again
    for name in ("done.json", "model.txt"):
        (tmp_path / "exp" / "runs" / "grpo" / "seed-1" / name).unlink()
    again, lines = FakeTrainer(), []
    _experiment(tmp_path, toy_specs, again, lines).run()
    assert again.calls == [("grpo", "toy-bad", 1)]
    assert sum("done earlier (skipped)" in line for line in lines) == 7
    # stopped during its evaluation (the model is trained): only the evaluation runs again
    (tmp_path / "exp" / "runs" / "sft" / "seed-0" / "done.json").unlink()
    once_more = FakeTrainer()
    _experiment(tmp_path, toy_specs, once_more, []).run()
    assert once_more.calls == []
    assert (tmp_path / "exp" / "runs" / "sft" / "seed-0" / "done.json").is_file()


def test_games_added_to_a_finished_experiment_are_evaluated_without_training_again(tmp_path, toy_specs):
    def experiment(ood, trainer, lines):
        recipe = ExperimentRecipe(base="toy-bad", games=["echo"], roles={"echo": "Echoer"}, ood_games=ood,
                                  methods=["sft"], seeds=[0], resamples=300)
        return Experiment(recipe, tmp_path / "exp", trainer=trainer, load=_load,
                          resolve=lambda names: [toy_specs[n] for n in names], printer=lines.append)

    experiment([], FakeTrainer(), []).run()
    assert not (tmp_path / "exp" / "base" / "eval" / "toy-bad" / "echo_out").exists()
    again, lines = FakeTrainer(), []
    report = experiment(["echo_out"], again, lines).run()
    assert again.calls == []
    assert sum("evaluating echo_out" in line for line in lines) == 2  # the base and the one trained run
    for run in ("base/eval/toy-bad", "runs/sft/seed-0/eval/toy-competent"):
        assert (tmp_path / "exp" / run / "echo_out").is_dir()
    out = {r["figure"]: r for r in report["rows"] if (r["scope"], r["game"]) == ("out", "")}
    assert out["clemscore"]["change"] == 100
    # the added evaluation's time joins the stage's, so the report counts every evaluation
    done = json.loads((tmp_path / "exp" / "base" / "done.json").read_text())
    assert [entry["games"] for entry in done["later_evaluations"]] == [["echo_out"]]
    assert report["stage_seconds"]["base"] == pytest.approx(
        done["seconds"] + done["later_evaluations"][0]["seconds"])
    assert sum("echo_out evaluated in" in line for line in lines) == 2
    (tmp_path / "exp" / "base" / "done.json").write_text(
        json.dumps({**done, "seconds": 100.0, "later_evaluations": [{"games": ["echo_out"], "seconds": 20.0}]}))
    assert experiment(["echo_out"], FakeTrainer(), []).report()["stage_seconds"]["base"] == 120.0
    # nothing is left to add: every stage is skipped
    lines = []
    experiment(["echo_out"], FakeTrainer(), lines).run()
    assert sum("done earlier (skipped)" in line for line in lines) == 3


def test_a_games_teacher_writes_its_sft_data(tmp_path, toy_specs):
    """The SFT data imitate the recipe's teacher for that game; the DPO pairs still contrast the sloppy player."""
    loaded = []

    def load(name, max_tokens):
        loaded.append(name)
        return ToyModel({"toy-teacher": "competent"}.get(name) or _load(name, max_tokens).skill)

    recipe = ExperimentRecipe(base="toy-bad", games=["echo"], roles={"echo": "Echoer"}, ood_games=[],
                              teachers={"echo": "toy-teacher"}, methods=["sft"], seeds=[0])
    experiment = Experiment(recipe, tmp_path / "exp", trainer=FakeTrainer(), load=load,
                            resolve=lambda names: [toy_specs[n] for n in names], printer=None)
    experiment._data()
    assert loaded[:3] == ["scripted", "toy-teacher", "scripted-bad"]
    sft_data = [json.loads(line) for line in experiment.data.sft.read_text().splitlines()]
    assert len(sft_data) == 6 and {r["outcome"] for r in sft_data} == {"success"}


def test_recipe_errors_are_plain(tmp_path, toy_specs):
    from playpen.core.errors import PlaypenError

    with pytest.raises(PlaypenError, match="unknown method"):
        ExperimentRecipe(methods=["ppo"]).check()
    with pytest.raises(PlaypenError, match="cannot also be held out"):
        ExperimentRecipe(games=["taboo"], ood_games=["taboo"]).check()
    with pytest.raises(PlaypenError, match="teachers name imagegame, which the recipe does not train on"):
        ExperimentRecipe(games=["taboo"], teachers={"imagegame": "scripted"}).check()
    with pytest.raises(PlaypenError, match="grpo_splits names imagegame, which the recipe does not train on"):
        ExperimentRecipe(games=["taboo"], grpo_splits={"imagegame": "heldout"}).check()
    with pytest.raises(PlaypenError, match="GRPO would train on the test episodes"):
        ExperimentRecipe(games=["taboo"], eval_split="test", grpo_splits={"taboo": "test"}).check()
    experiment = _experiment(tmp_path, toy_specs, FakeTrainer(), [])
    with pytest.raises(PlaypenError, match="has not been evaluated"):
        experiment.report()


def test_training_instances_leave_out_every_evaluated_target_word(tmp_path):
    """The CPU recipe's games draw targets from overlapping pools: taboo's and wordle_withclue's training splits
    hold words that the other game is evaluated on. The experiment trains without those instances."""
    from pathlib import Path

    from playpen.core.instances import iter_rows, load_instances
    from playpen.rollout.planner import target_words
    from playpen.train.experiment import load_recipe

    recipe = load_recipe(Path("configs/recipes/experiment_cpu.toml"))
    experiment = Experiment(recipe, tmp_path / "exp", printer=None)
    evaluated = target_words((spec, experiment._eval_rows(spec))
                             for spec in experiment.trained_specs + experiment.ood_specs)
    raw = target_words((spec, iter_rows(spec.name, load_instances(spec.instances_file("train"))))
                       for spec in experiment.trained_specs)
    assert {w: sorted(raw[w]) for w in set(raw) & set(evaluated)} == {
        "fairy": ["taboo"], "whale": ["taboo"],
        "pizza": ["wordle_withclue"], "peace": ["wordle_withclue"], "flood": ["wordle_withclue"],
        "canoe": ["wordle_withclue"], "zebra": ["wordle_withclue"]}

    dropped = experiment.write_training_instances()
    assert dropped == {"taboo": ["fairy", "whale"], "wordle_withclue": ["pizza", "peace", "flood", "canoe", "zebra"],
                       "taboo (heldout, GRPO)": ["ocean", "radio", "shirt", "wheel"]}
    files = experiment.data.train_instances
    kept = target_words((spec, iter_rows(spec.name, load_instances(files[spec.name])))
                        for spec in experiment.trained_specs)
    assert not set(kept) & set(evaluated)
    assert len(kept) == len(raw) - 7


def test_the_report_shows_each_grpo_runs_reward_and_its_spread_per_step(tmp_path, toy_specs):
    from playpen.eval.training_log import plot_learning_curves

    class CurveTrainer(FakeTrainer):
        def __call__(self, method, start, output, seed, data):
            if method == "grpo":  # what train_grpo leaves: its training log and the curves drawn from it
                output.mkdir(parents=True)
                (output / "training_log.csv").write_text(
                    "step,loss,reward,reward_std,frac_reward_zero_std\n1,0.1,0.2,0.30,0.5\n2,0.1,0.4,0.25,0.0\n")
                assert plot_learning_curves(output) is not None
            return super().__call__(method, start, output, seed, data)

    _experiment(tmp_path, toy_specs, CurveTrainer(), []).run()
    html = (tmp_path / "exp" / "report.html").read_text()
    assert "<h2>GRPO training</h2>" in html and "reward_std" in html
    assert html.count('alt="learning curves of grpo seed') == 2  # seeds 0 and 1


def test_the_toy_experiments_report_is_the_committed_one_and_rewritten_byte_for_byte(tmp_path, toy_specs):
    """Every figure of the toy experiment's report (``report.csv``) is the committed one, so a change of the
    report code or of the figures behind it shows here; writing the report again gives the same bytes."""
    from pathlib import Path

    experiment = _experiment(tmp_path, toy_specs, FakeTrainer(), [])
    experiment.run()
    out = tmp_path / "exp"
    committed = Path(__file__).parent / "data" / "toy_experiment_report.csv"
    assert (out / "report.csv").read_text() == committed.read_text()
    names = ("report.csv", "report.json", "report.md", "report.html", "report.png")
    first = {name: (out / name).read_bytes() for name in names}
    experiment.report()
    assert {name: (out / name).read_bytes() for name in names} == first


def test_eval_backend_vllm_serves_the_evaluated_models_not_the_partner(tmp_path, toy_specs):
    """``eval_backend = "vllm"``: the base and the trained models load as ``vllm:<name>`` (a server each), the
    partner as it is named; the data stage's players too."""
    from playpen.core.errors import PlaypenError

    loaded = []

    def load(name, max_tokens):
        loaded.append(name)
        return _load(name.removeprefix("vllm:"), max_tokens)

    recipe = ExperimentRecipe(base="toy-bad", games=["echo"], roles={"echo": "Echoer"}, ood_games=[],
                              methods=["sft"], seeds=[0], resamples=50, eval_backend="vllm")
    Experiment(recipe, tmp_path / "exp", trainer=FakeTrainer(), load=load,
               resolve=lambda names: [toy_specs[n] for n in names], printer=None).run()
    assert loaded == ["scripted", "scripted", "scripted-bad", "vllm:toy-bad", "scripted", "vllm:toy-competent",
                      "scripted"]
    with pytest.raises(PlaypenError, match='recipe: eval_backend must be "huggingface" or "vllm", not "vlm"'):
        ExperimentRecipe(eval_backend="vlm").check()


def test_grpo_plays_the_split_the_recipe_names_without_the_evaluated_targets(tmp_path):
    """``grpo_splits``: GRPO plays taboo's heldout words (none of them in the SFT data), the evaluated targets left
    out as from the training split; the other game keeps its training instances."""
    from pathlib import Path

    from playpen.core.errors import PlaypenError
    from playpen.core.instances import iter_rows, load_instances
    from playpen.rollout.planner import target_words
    from playpen.train.experiment import load_recipe

    recipe = load_recipe(Path("configs/recipes/experiment_cpu.toml"))
    assert recipe.grpo_splits == {"taboo": "heldout"}
    experiment = Experiment(recipe, tmp_path / "exp", printer=None)
    dropped = experiment.write_training_instances()
    data = experiment.data
    assert set(data.grpo_instances) == {"taboo"}
    taboo = experiment.trained_specs[0]
    played = target_words([(taboo, iter_rows("taboo", load_instances(data.grpo_instances["taboo"])))])
    heldout = target_words([(taboo, iter_rows("taboo", load_instances(taboo.instances_file("heldout"))))])
    trained = target_words([(taboo, iter_rows("taboo", load_instances(data.train_instances["taboo"])))])
    evaluated = target_words((spec, experiment._eval_rows(spec))
                             for spec in experiment.trained_specs + experiment.ood_specs)
    assert set(played) == set(heldout) - set(evaluated) and not set(played) & set(trained)
    assert len(played) == 166 - len(dropped["taboo (heldout, GRPO)"])

    wrong = load_recipe(Path("configs/recipes/experiment_cpu.toml"), {"grpo_splits": {"wordle_withclue": "heldout"}})
    with pytest.raises(PlaypenError, match="wordle_withclue has no split 'heldout'"):
        Experiment(wrong, tmp_path / "wrong", printer=None)


def test_a_grpo_stage_with_vllm_generation_but_no_vllm_fails_before_any_stage(tmp_path, toy_specs, monkeypatch):
    import importlib.util

    from playpen.core.errors import PlaypenError

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else find_spec(name, *a))
    trainer, lines = FakeTrainer(), []
    experiment = _experiment(tmp_path, toy_specs, trainer, lines)
    experiment.recipe.grpo = {"use_vllm": True}
    with pytest.raises(PlaypenError, match="make vllm-venv"):
        experiment.run()
    assert trainer.calls == [] and not (tmp_path / "exp" / "data").exists()
    # without a GRPO method still to train, nothing needs vLLM
    experiment.recipe.methods = ["sft"]
    experiment.run()
    assert trainer.calls == [("sft", "toy-bad", 0), ("sft", "toy-bad", 1)]


@pytest.mark.model
def test_the_experiment_evaluates_a_local_model_on_every_core(embedded_model_dir, monkeypatch):
    """Its evaluations run alone, as its training does: one thread fewer than the cores would leave one idle."""
    import torch

    from playpen.models.huggingface import available_cpus
    from playpen.train.experiment import _load_model

    monkeypatch.delenv("PLAYPEN_THREADS", raising=False)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        model = _load_model(str(embedded_model_dir), 8)
        assert torch.get_num_threads() == available_cpus()
        model.close()
        assert _load_model("scripted", 8) is not None  # a scripted player has no threads to set
    finally:
        torch.set_num_threads(before)


def test_a_reference_task_takes_its_own_count_and_a_finished_stage_keeps_the_count_it_played(tmp_path, toy_specs):
    """``static_per_game`` plays fewer episodes of one reference task; a finished stage refuses a new count for a
    task it has played, and takes one for a task it has not played yet (e.g. mmlu_pro added to a finished table)."""
    from playpen.core.errors import PlaypenError
    from playpen.results.records import episodes

    static_folder = tmp_path / "static"
    for name in ("echo_a", "echo_b"):
        (static_folder / name / "in").mkdir(parents=True)
        (static_folder / name / "in" / "instances.json").write_text(json.dumps(instances(6)))
        toy_specs[name] = replace(SPEC, name=name, domain="static")

    def experiment(static_games, per_game):
        recipe = ExperimentRecipe(base="toy-bad", games=["echo"], roles={"echo": "Echoer"}, ood_games=[],
                                  static_games=static_games, static_instances=str(static_folder),
                                  static_per_experiment=4, static_per_game=per_game, methods=["sft"], seeds=[0],
                                  resamples=300)
        return Experiment(recipe, tmp_path / "exp", trainer=FakeTrainer(), load=_load,
                          resolve=lambda names: [toy_specs[n] for n in names], printer=None)

    experiment(["echo_a"], {}).run()
    with pytest.raises(PlaypenError, match="evaluated echo_a with another number of instances"):
        experiment(["echo_a"], {"echo_a": 2}).run()
    experiment(["echo_a", "echo_b"], {"echo_b": 2}).run()
    played = {}
    for episode in episodes(tmp_path / "exp" / "base" / "eval"):
        played[episode.game] = played.get(episode.game, 0) + 1
    assert played == {"echo": 6, "echo_a": 4, "echo_b": 2}
    # the count is now recorded: echo_b keeps it too
    with pytest.raises(PlaypenError, match="evaluated echo_b with another number"):
        experiment(["echo_a", "echo_b"], {}).run()
    # a count for a task not evaluated (yet) waits for it; a dialogue game is refused
    experiment(["echo_a"], {"echo_b": 2}).run()
    with pytest.raises(PlaypenError, match="static_per_game names the dialogue game.s. echo;"):
        experiment(["echo_a", "echo_b"], {"echo_b": 2, "echo": 1}).run()
    with pytest.raises(PlaypenError, match="static_per_game: instances per experiment must be above 0"):
        experiment(["echo_a", "echo_b"], {"echo_b": 0}).run()
    with pytest.raises(PlaypenError, match="static_per_game: unknown game 'mmlu_prp'"):
        Experiment(ExperimentRecipe(games=["taboo"], static_per_game={"mmlu_prp": 2}), tmp_path / "other",
                   trainer=FakeTrainer(), load=_load, printer=None)

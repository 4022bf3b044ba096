"""The experiment runner with the real trainers: SFT, GRPO from the base and SFT→GRPO for one step each on the toy
echo game (registered as a plugin game, so the trainers find it by name), with the embedded model; every stage
trains, saves and is evaluated on the same episodes, and SFT→GRPO continues the SFT adapter."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import pytest

from playpen.core.instances import write_splits
from playpen.games import register, registry
from playpen.train.experiment import Experiment, ExperimentRecipe
from tests.toygame import SPEC, instances

pytestmark = pytest.mark.model

#: the plugin entry point of the echo game (filled per test: its instances live in the test's folder)
SPECS: dict = {}


@pytest.fixture
def echo_game(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "REGISTRY", registry.REGISTRY.builtins_only())
    folder = tmp_path / "instances"
    folder.mkdir()
    write_splits(folder, {split: instances(2) for split in ("train", "validation", "test")})
    monkeypatch.setitem(SPECS, "echo", replace(SPEC, instances_dir=folder))
    register("echo", f"{__name__}:SPECS")


def _adapter(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


def test_the_runner_trains_sft_grpo_and_sft_grpo_for_real_and_evaluates_each(echo_game, embedded_model_dir, tmp_path,
                                                                               isolated_registry):
    recipe = ExperimentRecipe(
        base=str(embedded_model_dir), games=["echo"], roles={"echo": "Echoer"}, ood_games=[],
        methods=["sft", "grpo", "sft_grpo"], seeds=[0], eval_split="test", eval_max_new_tokens=8, resamples=50,
        sft={"max_steps": 1, "max_length": 256},
        grpo={"max_steps": 1, "group_size": 2, "batch_size": 2, "max_new_tokens": 8, "beta": 0.0,
              "trained_replies": 1, "branching": True})
    lines: list[str] = []
    report = Experiment(recipe, tmp_path / "exp", printer=lines.append).run()

    runs = tmp_path / "exp" / "runs"
    for method in recipe.methods:
        train = runs / method / "seed-0" / "train"
        assert (train / "final" / "adapter_model.safetensors").is_file(), method
        # evaluated on the base's episodes: the test split's two instances
        assert len(list((runs / method / "seed-0" / "eval").rglob("scores.json"))) == 2, method
    for method in ("grpo", "sft_grpo"):
        train = runs / method / "seed-0" / "train"
        rollouts = [json.loads(line) for line in (train / "rollouts.jsonl").read_text().splitlines()]
        assert len(rollouts) == 2 and {r["game"] for r in rollouts} == {"echo"}
        with open(train / "training_log.csv", newline="") as handle:
            assert [row["step"] for row in csv.DictReader(handle)][-1] == "1"
    # SFT→GRPO continued the SFT adapter: a fresh adapter starts with its B matrices at zero, so SFT→GRPO's
    # weights lie nearer SFT's than a fresh start; GRPO from the base did not start from SFT
    sft, sft_grpo, grpo = (_adapter(runs / m / "seed-0" / "train" / "final") for m in ("sft", "sft_grpo", "grpo"))
    lora_b = [name for name in sft if "lora_B" in name]

    def distance(a, b=None):
        return sum(float((a[n] - (b[n] if b is not None else 0)).abs().sum()) for n in lora_b)

    assert distance(sft) > 0
    assert distance(sft_grpo, sft) < distance(sft)
    assert distance(grpo, sft) > 0
    rows = {(r["method"], r["scope"], r["game"], r["figure"]) for r in report["rows"]}
    assert {("sft_grpo", "in", "echo", "played"), ("grpo", "in", "echo", "played")} <= rows
    assert any("sft_grpo seed 0" in line for line in lines)

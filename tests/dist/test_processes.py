"""SFT, DPO and GRPO in two training processes on the CPU (``accelerate launch --multi_gpu --num_processes 2``:
torchrun under accelerate; without a GPU the processes talk over gloo): the gradients are synchronised (both
processes end with the same LoRA weights, which moved), each process plays its own episodes, and only the main
process writes the run's files."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from playpen.models.vllm_server import free_port

pytestmark = [pytest.mark.dist, pytest.mark.model]


def launch(recipe: str, output: Path, *extra: str) -> list[dict]:
    """``playpen.testing.dist`` in two processes; the records of both."""
    accelerate = Path(sys.executable).with_name("accelerate")
    if not accelerate.is_file():
        pytest.skip("accelerate's launcher is not installed")
    command = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()),
               "-m", "playpen.testing.dist", recipe, str(output), "--steps", "2", *extra]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parents[2]),
                                                                     os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, capture_output=True, text=True, timeout=1200, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return [json.loads(path.read_text()) for path in sorted((output / "processes").glob("process-*.json"))]


def assert_synchronised(records: list[dict]) -> None:
    assert [r["process"] for r in records] == [0, 1] and {r["processes"] for r in records} == {2}
    assert records[0]["lora_sha256"] == records[1]["lora_sha256"]  # the same weights on both processes
    assert records[0]["lora_b_abs_sum"] > 0 and {r["steps"] for r in records} == {2}  # ... after two real steps


@pytest.mark.parametrize("recipe", ["sft", "dpo"])
def test_offline_recipes_train_in_two_processes(recipe, embedded_model_dir, tmp_path, isolated_registry):
    assert_synchronised(launch(recipe, tmp_path / recipe))
    run = tmp_path / recipe / "run"
    assert (run / "final" / "adapter_model.safetensors").is_file() and (run / "checkpoint-2").is_dir()
    with open(run / "training_log.csv", newline="") as handle:
        assert [row["step"] for row in csv.DictReader(handle) if row.get("loss")] == ["1", "2"]
    home, _ = isolated_registry
    assert json.loads((home / "models.json").read_text())[f"dist-{recipe}"]["path"] == str((run / "final").resolve())


def test_grpo_trains_in_two_processes_each_playing_its_own_episodes(embedded_model_dir, tmp_path, isolated_registry):
    assert_synchronised(launch("grpo", tmp_path / "grpo", "--evaluate"))
    run = tmp_path / "grpo" / "run"
    assert (run / "final" / "adapter_model.safetensors").is_file() and (run / "checkpoint-2").is_dir()
    rollouts = [json.loads(line) for line in (run / "rollouts.jsonl").read_text().splitlines()]
    # two steps × two processes × two episodes (one group each), every one logged once, by the main process
    assert len(rollouts) == 8 and sorted({r["step"] for r in rollouts}) == [1, 2]
    for step in (1, 2):
        played = {p: {r["instance"] for r in rollouts if r["step"] == step and r["process"] == p} for p in (0, 1)}
        assert all(len(instances) == 1 for instances in played.values())
        assert played[0] != played[1]  # each process played its own group
    with open(run / "eval_metrics.csv", newline="") as handle:
        games = [row for row in csv.DictReader(handle) if row["scope"] == "game"]
    assert [int(row["step"]) for row in games] == [0, 2]  # evaluated once per point, not once per process
    home, _ = isolated_registry
    assert json.loads((home / "models.json").read_text())["dist-grpo"]["path"] == str((run / "final").resolve())

"""Training in one process against two (``accelerate launch --multi_gpu --num_processes 2``: torchrun over gloo
on a CPU) on this machine: seconds per step of SFT, DPO and GRPO with ``playpen.testing.dist``'s tiny tasks.

    python benchmarks/bench_dist.py [--recipes sft,dpo,grpo] [--steps 3]

``batch_size`` is per process, so two processes train on twice the rows (GRPO: twice the episodes) per step;
``rows_per_s`` compares the throughput. Seconds per step are the trainer's ``train`` time over its steps (the
first step's warm-up included), the slower process's; GRPO's also say how much of it was the rollout
(generation and game play). The last line is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from playpen.models.vllm_server import free_port

ROWS_PER_STEP = {"sft": 2, "dpo": 2, "grpo": 2}  # per process (playpen.testing.dist's settings)


def run(recipe: str, processes: int, steps: int, folder: Path) -> tuple[float, float]:
    if processes == 1:
        command = [sys.executable, "-m", "playpen.testing.dist"]
    else:
        command = [str(Path(sys.executable).with_name("accelerate")), "launch", "--multi_gpu", "--num_processes",
                   str(processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                   "--main_process_port", str(free_port()), "-m", "playpen.testing.dist"]
    output = folder / f"{recipe}-{processes}"
    env = {**os.environ, "PLAYPEN_HOME": str(folder / "home"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command + [recipe, str(output), "--steps", str(steps)], capture_output=True, text=True,
                          env=env, timeout=3600)
    if done.returncode:
        raise SystemExit(f"{recipe} in {processes} process(es) failed:\n{done.stderr[-3000:]}")
    records = [json.loads(p.read_text()) for p in (output / "processes").glob("process-*.json")]
    slowest = max(records, key=lambda r: r["seconds_per_step"])
    return slowest["seconds_per_step"], slowest["rollout_seconds_per_step"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default="sft,dpo,grpo")
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    figures: dict = {"steps": args.steps, "cpus": os.cpu_count(), "load_average_1min": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as folder:
        for recipe in args.recipes.split(","):
            for processes in (1, 2):
                seconds, rollout = run(recipe, processes, args.steps, Path(folder))
                figures[f"{recipe}_{processes}p_s_per_step"] = round(seconds, 2)
                if recipe == "grpo":
                    figures[f"grpo_{processes}p_rollout_s_per_step"] = round(rollout, 2)
                figures[f"{recipe}_{processes}p_rows_per_s"] = round(ROWS_PER_STEP[recipe] * processes / seconds, 3)
                print(f"{recipe}, {processes} process(es): {seconds:.1f} s/step, "
                      f"{ROWS_PER_STEP[recipe] * processes / seconds:.3f} rows/s", flush=True)
    figures["load_average_1min_end"] = os.getloadavg()[0]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

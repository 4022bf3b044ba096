"""GRPO with TRL's vLLM engine in colocate mode, on the CPU: two steps that train (the sampled-token logprobs
reach TRL's importance-sampling correction), replies limited by vLLM to ``max_new_tokens``, a checkpoint and an
alias."""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import replace

import pytest

from playpen.testing.dist import GAME, GIVER, reply_checksum
from playpen.train.grpo import GRPOSettings, train_grpo
from tests.vllm.conftest import need_vllm

pytestmark = pytest.mark.vllm


def test_grpo_in_colocate_mode_trains_with_the_sampled_logprobs(embedded_model_dir, tmp_path, isolated_registry,
                                                                monkeypatch):
    need_vllm()
    from safetensors.torch import load_file

    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    output = tmp_path / "grpo"
    settings = GRPOSettings(games=[GAME], roles={GAME: GIVER}, partner="scripted", group_size=2, batch_size=2,
                            max_steps=2, learning_rate=1e-2, beta=0.0, max_new_tokens=8, max_completion_length=256,
                            reward=reply_checksum, save_steps=1, seed=3, alias="grpo-vllm", evaluate=False,
                            use_vllm=True, vllm_mode="colocate")
    final, alias = train_grpo("smollm2-135m", output, settings, printer=None)

    adapter = load_file(str(final / "adapter_model.safetensors"))  # B starts at 0: non-zero = trained
    assert any(float(t.abs().sum()) > 0 for name, t in adapter.items() if "lora_B" in name)
    assert (output / "checkpoint-2" / "adapter_config.json").is_file()
    home, _ = isolated_registry
    assert json.loads((home / "models.json").read_text())[alias]["path"] == str(final.resolve())

    with open(output / "training_log.csv", newline="") as handle:
        log = list(csv.DictReader(handle))
    assert [row["step"] for row in log] == ["1", "2"] and all(math.isfinite(float(r["loss"])) for r in log)
    # TRL compared its own logprobs with the sampled ones we returned, token by token: close (the same weights,
    # vLLM in the checkpoint's bfloat16), so they are aligned with the completion (~0.04-0.06 nats measured)
    for row in log:
        assert 0 < float(row["sampling/importance_sampling_ratio/mean"]) < math.inf
        assert float(row["sampling/sampling_logp_difference/mean"]) < 0.5

    # vLLM stopped every reply at max_new_tokens (8), not at the conversation's budget (256): the instruction
    # giver speaks once, so its completion is its one reply
    assert all(float(row["completions/max_length"]) <= 8 for row in log)
    rollouts = [json.loads(line) for line in (output / "rollouts.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in rollouts] == [1, 1, 2, 2] and all(entry["learner"] for entry in rollouts)

    # the process is left as it was (an experiment's next stage in it once got a DDP-wrapped model): no process
    # group, none of TRL's variables; a second run in the same process trains from the first's adapter
    import torch.distributed as dist

    assert not dist.is_initialized() and "LOCAL_RANK" not in os.environ and "WORLD_SIZE" not in os.environ
    again, _ = train_grpo(str(final), tmp_path / "again", replace(settings, max_steps=1, alias="grpo-vllm-again"),
                          printer=None)
    assert (again / "adapter_model.safetensors").is_file()
    assert not dist.is_initialized()

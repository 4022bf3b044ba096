"""One training recipe on a tiny task, for the ``dist`` tests and the multi-process benchmark: run it under
``accelerate launch`` and every process records what it ended with.

    accelerate launch --multi_gpu --num_processes 2 -m playpen.testing.dist sft|dpo|grpo OUTPUT [--steps 2]

SFT and DPO train on eight echo conversations written here (``ECHO: <n>``), GRPO on referencegame's instruction
giver against the scripted follower (``--vllm``: generating with vLLM in colocate mode), all with the embedded
model. After training, each process writes ``OUTPUT/processes/process-<i>.json``: a SHA-256 of its LoRA weights
(equal on every process when the gradients were synchronised), the absolute sum of its LoRA B matrices (0 before
any step), the steps, the seconds per step and, of those, GRPO's rollout (generation and game play). The
run's own files (checkpoints, logs, the alias) are the recipe's, as with ``playpen train``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
import zlib
from pathlib import Path
from typing import Any

GAME, GIVER = "referencegame", "Instruction Giver"


def echo_rows(kind: str) -> list[dict[str, Any]]:
    user = [{"role": "user", "content": f"Say the number {i} as ECHO: <n>."} for i in range(8)]
    if kind == "sft":
        return [{"messages": [u, {"role": "assistant", "content": f"ECHO: {i}"}]} for i, u in enumerate(user)]
    return [{"prompt": [u], "chosen": [{"role": "assistant", "content": f"ECHO: {i}"}],
             "rejected": [{"role": "assistant", "content": f"number {i + 1}"}]} for i, u in enumerate(user)]


def reply_checksum(master: Any) -> float:
    """A reward that differs between any two different replies, so that every step has a signal."""
    replies = [m["content"] for m in master.history_of[GIVER] if m["role"] == "assistant"]
    return (zlib.crc32("".join(replies).encode()) % 1000) / 1000


def record_each_process(folder: Path) -> None:
    """Make every trainer's ``train`` write this process's record (see the module docstring) when it ends."""
    import transformers

    from playpen.train.grpo import EpisodeRollout

    original = transformers.Trainer.train
    rollout_call = EpisodeRollout.__call__
    rollout_seconds = [0.0]

    def rollout(self: Any, *args: Any, **kwargs: Any) -> Any:  # GRPO's generation and game play
        started = time.perf_counter()
        try:
            return rollout_call(self, *args, **kwargs)
        finally:
            rollout_seconds[0] += time.perf_counter() - started

    def train(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = original(self, *args, **kwargs)
        seconds = time.perf_counter() - started
        model = self.accelerator.unwrap_model(self.model)
        lora = sorted((name, p.detach().cpu().contiguous()) for name, p in model.named_parameters() if "lora_" in name)
        record = {
            "process": self.accelerator.process_index,
            "processes": self.accelerator.num_processes,
            "lora_sha256": hashlib.sha256(b"".join(t.numpy().tobytes() for _, t in lora)).hexdigest(),
            "lora_b_abs_sum": float(sum(float(t.abs().sum()) for name, t in lora if "lora_B" in name)),
            "steps": self.state.global_step,
            "seconds_per_step": seconds / max(1, self.state.global_step),
            "rollout_seconds_per_step": rollout_seconds[0] / max(1, self.state.global_step),
        }
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"process-{record['process']}.json").write_text(json.dumps(record))
        return result

    transformers.Trainer.train = train
    EpisodeRollout.__call__ = rollout


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m playpen.testing.dist", description=__doc__.splitlines()[0])
    parser.add_argument("recipe", choices=("sft", "dpo", "grpo"))
    parser.add_argument("output", type=Path)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--evaluate", action="store_true", help="GRPO: evaluate before and after training")
    parser.add_argument("--vllm", action="store_true", help="GRPO: generate with vLLM in colocate mode")
    args = parser.parse_args(argv)
    from playpen.data.datasets import write_rows
    from playpen.train.common import is_main_process

    record_each_process(args.output / "processes")
    alias = f"dist-{args.recipe}"
    if args.recipe in ("sft", "dpo"):
        from accelerate import PartialState

        from playpen.train.offline import DPOSettings, SFTSettings, train_dpo, train_sft

        data = args.output / f"{args.recipe}.jsonl"
        with PartialState().main_process_first():
            if is_main_process():
                write_rows(echo_rows(args.recipe), data)
        if args.recipe == "sft":
            train_sft(args.model, data, args.output / "run", SFTSettings(
                max_steps=args.steps, batch_size=2, lora_r=4, max_length=128, learning_rate=1e-3, save_steps=1,
                alias=alias))
        else:
            train_dpo(args.model, data, args.output / "run", DPOSettings(
                max_steps=args.steps, batch_size=2, grad_accumulation=1, lora_r=4, max_length=128,
                learning_rate=1e-3, save_steps=1, alias=alias))
    else:
        from playpen.train.grpo import GRPOSettings, train_grpo

        train_grpo(args.model, args.output / "run", GRPOSettings(
            games=[GAME], roles={GAME: GIVER}, partner="scripted", group_size=2, batch_size=2, max_steps=args.steps,
            learning_rate=1e-2, beta=0.0, max_new_tokens=8, eval_max_new_tokens=8, reward=reply_checksum,
            save_steps=1, seed=3, alias=alias, evaluate=args.evaluate, use_vllm=args.vllm), printer=None)


if __name__ == "__main__":
    main()

"""SFT and DPO baselines on TRL (the paper's §3.1–3.2 recipes, scaled to any model).

Both run the same way on a laptop CPU and under ``accelerate launch`` on many GPUs (see
``configs/accelerate/``): nothing here is CPU-specific; the device comes from accelerate.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from playpen.core.errors import PlaypenError
from playpen.data.datasets import check_training_rows
from playpen.eval.training_log import plot_loss, write_training_log
from playpen.train.common import (
    checkpoint_path,
    load_tokenizer,
    is_main_process,
    load_trainable,
    register_result,
    resume_checkpoint,
    save_config,
    trainer_arguments,
)
from playpen.train.settings import DPOSettings, OfflineSettings, SFTSettings, check_values


def _load_splits(data: Path) -> tuple[Any, Any | None]:
    from datasets import load_dataset

    kind = "parquet" if data.suffix == ".parquet" else "json"
    dataset = load_dataset(kind, data_files=str(data), split="train")
    if "split" in dataset.column_names and "validation" in set(dataset["split"]):
        return dataset.filter(lambda r: r["split"] != "validation"), dataset.filter(lambda r: r["split"] == "validation")
    return dataset, None


def _before_first_reply(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    first = next(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return messages[:first]


def _check_max_length(model_name: str, prompts: list[Any], max_length: int, data: Path) -> None:
    """Refuse a ``max_length`` that cuts every training row before its first reply (nothing left to learn);
    only the tokenizer is loaded."""
    tokenizer = load_tokenizer(*checkpoint_path(model_name))

    def length(prompt: Any) -> int:
        if isinstance(prompt, str):
            return len(tokenizer(prompt)["input_ids"])
        return len(tokenizer.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True,
                                                 return_dict=True)["input_ids"]) if prompt else 0

    shortest = min(map(length, prompts))
    if shortest >= max_length:
        raise PlaypenError(f"--max-length {max_length} cuts every row of {data} before its first reply (the shortest "
                           f"prompt is {shortest} tokens); raise it above {shortest}")


def _trainer_args(config: OfflineSettings, output_dir: Path, has_eval: bool) -> dict[str, Any]:
    """SFT's and DPO's arguments: by epochs, a linear schedule, evaluated at every save when there is held-out data."""
    return trainer_arguments(
        output_dir, learning_rate=config.learning_rate, max_steps=config.max_steps, batch_size=config.batch_size,
        grad_accumulation=config.grad_accumulation, save_steps=config.save_steps, seed=config.seed,
        num_train_epochs=config.epochs,
        per_device_eval_batch_size=config.batch_size,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=config.save_steps if has_eval else None,
        lr_scheduler_type="linear",
        warmup_steps=0,
    )


def _finish(trainer: Any, tokenizer: Any, output_dir: Path, config: OfflineSettings, title: str, base: Path | None) -> tuple[Path, str]:
    final = output_dir / "final"
    trainer.save_model(str(final))  # from the main process only (transformers)
    if is_main_process():
        tokenizer.save_pretrained(str(final))
        write_training_log(trainer.state.log_history, output_dir)
        plot_loss(trainer.state.log_history, output_dir, title)
    alias = register_result(config.alias or output_dir.name, final, base)
    return final, alias


def train_sft(model_name: str, data: Path, output_dir: Path, config: SFTSettings, *, resume: bool = False) -> tuple[Path, str]:
    """Supervised fine-tuning on ``messages`` rows; the loss covers the assistant turns only."""
    check_values("train sft", asdict(config), SFTSettings)  # before trl's import and the model: fail fast
    rows = check_training_rows(data, "sft")
    _check_max_length(model_name, [_before_first_reply(r["messages"]) for r in rows if r.get("split") != "validation"],
                      config.max_length, data)
    from trl import SFTConfig, SFTTrainer

    train, evaluation = _load_splits(data)
    keep = ["messages"]
    train = train.remove_columns([c for c in train.column_names if c not in keep])
    if evaluation is not None:
        evaluation = evaluation.remove_columns([c for c in evaluation.column_names if c not in keep])
    model, tokenizer, base = load_trainable(model_name, lora_r=config.lora_r, lora_alpha=config.lora_alpha)
    save_config(config, output_dir)
    args = SFTConfig(**_trainer_args(config, output_dir, evaluation is not None), max_length=config.max_length,
                     assistant_only_loss=True, packing=False)
    trainer = SFTTrainer(model=model, args=args, train_dataset=train, eval_dataset=evaluation,
                         processing_class=tokenizer)
    trainer.train(resume_from_checkpoint=resume_checkpoint(output_dir, resume))
    return _finish(trainer, tokenizer, output_dir, config, f"SFT {model_name}", base)


def train_dpo(model_name: str, data: Path, output_dir: Path, config: DPOSettings, *, resume: bool = False) -> tuple[Path, str]:
    """Direct preference optimisation on ``prompt``/``chosen``/``rejected`` rows (base or SFT checkpoint)."""
    check_values("train dpo", asdict(config), DPOSettings)  # before trl's import and the model: fail fast
    rows = check_training_rows(data, "dpo")
    _check_max_length(model_name, [r["prompt"] for r in rows if r.get("split") != "validation"], config.max_length,
                      data)
    from trl import DPOConfig, DPOTrainer

    train, evaluation = _load_splits(data)
    keep = ["prompt", "chosen", "rejected"]
    train = train.remove_columns([c for c in train.column_names if c not in keep])
    if evaluation is not None:
        evaluation = evaluation.remove_columns([c for c in evaluation.column_names if c not in keep])
    model, tokenizer, base = load_trainable(model_name, lora_r=config.lora_r, lora_alpha=config.lora_alpha,
                                            merge_adapter_into=output_dir / "merged-base")
    save_config(config, output_dir)
    args = DPOConfig(**_trainer_args(config, output_dir, evaluation is not None), beta=config.beta,
                     max_length=config.max_length)
    trainer = DPOTrainer(model=model, ref_model=None, args=args, train_dataset=train, eval_dataset=evaluation,
                         processing_class=tokenizer)
    trainer.train(resume_from_checkpoint=resume_checkpoint(output_dir, resume))
    return _finish(trainer, tokenizer, output_dir, config, f"DPO {model_name}", base)

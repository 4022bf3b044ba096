"""Shared pieces of the training recipes: loading, LoRA, chat templates with generation markers, saving the
settings, loss curves, and registering the result as a model alias (the settings themselves: ``settings.py``)."""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

from playpen.core.errors import PlaypenError

#: ChatML (SmolLM2, Qwen) with ``{% generation %}`` markers so TRL can mask everything but assistant turns.
CHATML_TRAINING_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


GENERATION_MARKER = re.compile(r"{%-?\s*generation\s*-?%}")


def checkpoint_path(name: str) -> tuple[Path, Path | None]:
    """(model folder, base folder of a LoRA adapter or None) for an alias or a local path. The embedded model
    is converted on first use; nothing is ever downloaded."""
    from playpen.models.embedded import prepare_embedded_model
    from playpen.models.huggingface import is_adapter_dir, is_checkpoint_dir, resolve_adapter_base
    from playpen.models.registry import BACKENDS, load_registry

    entry = load_registry().get(name)
    if entry is not None:
        if BACKENDS.get(str(entry.get("backend"))) != "huggingface":
            raise PlaypenError(f"model '{name}' uses the {entry.get('backend')} backend; training needs local weights "
                               "(a huggingface entry or a checkpoint folder)")
        path = prepare_embedded_model() if entry.get("embedded") else Path(entry["path"]).expanduser()
        base = entry.get("base")
    else:
        path, base = Path(name).expanduser(), None
        if not is_checkpoint_dir(path):
            raise PlaypenError(f"'{name}' is neither a model alias nor a checkpoint folder (see `playpen list models`)")
    if is_adapter_dir(path):
        return path, resolve_adapter_base(path, base)
    return path, None


def is_main_process() -> bool:
    """Whether this process writes the run's files (configs, logs, curves, aliases): the only process, or rank 0
    under ``accelerate launch`` (the trainers save checkpoints from rank 0 themselves)."""
    from accelerate import PartialState

    return PartialState().is_main_process


@contextmanager
def eval_mode(module: Any) -> Iterator[None]:
    """A torch module in eval mode (dropout off) for the calls inside, then back in the mode it was in (nothing
    for None or a module without modes)."""
    training = bool(getattr(module, "training", False))
    if training:
        module.eval()
    try:
        yield
    finally:
        if training:
            module.train()


def processes_on_this_machine() -> int:
    """Training processes sharing this machine's cores (``accelerate launch --num_processes N`` sets it)."""
    return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def device_kind() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_tokenizer(path: Path, base: Path | None) -> Any:
    """The tokenizer of a checkpoint (an adapter's from its base), with a pad token and, for ChatML, the
    training template with generation markers."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path if (path / "tokenizer_config.json").is_file() else base)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    template = tokenizer.chat_template or ""
    if "<|im_start|>" in template and not GENERATION_MARKER.search(template):
        tokenizer.chat_template = CHATML_TRAINING_TEMPLATE
    return tokenizer


def load_trainable(name: str, *, lora_r: int | None = None, lora_alpha: int | None = None,
                   merge_adapter_into: Path | None = None) -> tuple[Any, Any, Path | None]:
    """(model, tokenizer, base) — ``base`` is the checkpoint a saved LoRA adapter must later be loaded on
    (None for a full fine-tune). fp32 on CPU, bf16 on GPU.

    A LoRA checkpoint is loaded on its base and stays trainable; with ``merge_adapter_into`` it is merged and
    saved there first (so DPO on top of an SFT adapter starts from the SFT model). ``lora_r`` adds a fresh
    adapter to a full model.

    On the CPU, training takes every core ($PLAYPEN_THREADS overrides), shared between the training processes of
    ``accelerate launch`` (more threads than cores slow every process down): an evaluation earlier in the same
    process may have left torch at one thread (``models.huggingface.default_threads``), which halves a step's
    speed on 2 cores.
    """
    import torch
    from transformers import AutoModelForCausalLM

    from playpen.models.huggingface import available_cpus, threads_from_env

    if device_kind() == "cpu":
        torch.set_num_threads(threads_from_env() or max(1, available_cpus() // processes_on_this_machine()))
    path, base = checkpoint_path(name)
    dtype = torch.bfloat16 if device_kind() == "cuda" else torch.float32
    tokenizer = load_tokenizer(path, base)
    if base is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=dtype), path,
                                          is_trainable=merge_adapter_into is None)
        if merge_adapter_into is None:
            return model, tokenizer, base
        model = model.merge_and_unload()
        if is_main_process():  # every process merges in memory; one writes the folder
            model.save_pretrained(merge_adapter_into)
            tokenizer.save_pretrained(merge_adapter_into)
        path = merge_adapter_into
        # the new adapter's config names the merged model as its base, so the saved folder loads on it (by
        # path too, not only through the registry entry's "base")
        model.name_or_path = model.config._name_or_path = str(Path(merge_adapter_into).resolve())
    else:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    if not lora_r:
        return model, tokenizer, None
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=lora_r, lora_alpha=lora_alpha or 2 * lora_r, lora_dropout=0.05,
                        target_modules="all-linear", task_type="CAUSAL_LM")
    return get_peft_model(model, config), tokenizer, path


def save_config(config: Any, output_dir: Path) -> None:
    if not is_main_process():
        return
    from playpen.results.store import atomic_write_text

    atomic_write_text(output_dir / "playpen_config.json", json.dumps(asdict(config), indent=2, default=str))


def register_result(alias: str | None, final_dir: Path, base: Path | None) -> str:
    """Register the trained checkpoint under ``alias`` (default: the output folder's name); the main process
    writes the entry, every process returns the alias."""
    from playpen.models.registry import register_model

    alias = alias or final_dir.parent.name
    if not is_main_process():
        return alias
    entry: dict[str, Any] = {"backend": "huggingface", "path": str(final_dir.resolve())}
    if base is not None:
        entry["base"] = str(base.resolve())
    register_model(alias, entry)
    return alias


def trainer_arguments(output_dir: Path, *, learning_rate: float, max_steps: int, batch_size: int,
                      grad_accumulation: int, save_steps: int, seed: int, **specific: Any) -> dict[str, Any]:
    """The keyword arguments of a TRL config (``SFTConfig``, ``DPOConfig``, ``GRPOConfig``) that every recipe
    shares — one log line per step, two checkpoints kept, no external loggers, bf16 on a GPU and fp32 on the
    CPU — plus the recipe's ``specific`` ones."""
    cuda = device_kind() == "cuda"
    return dict(
        output_dir=str(output_dir),
        learning_rate=learning_rate,
        max_steps=max_steps,
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=grad_accumulation,
        logging_steps=1,
        save_steps=save_steps,
        save_total_limit=2,
        seed=seed,
        report_to="none",
        bf16=cuda,
        use_cpu=not cuda,
        dataloader_pin_memory=cuda,
        **specific,
    )


def resume_checkpoint(output_dir: Path, resume: bool) -> str | None:
    """With ``resume``, the newest ``checkpoint-N`` of the run (transformers' own discovery), else None."""
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(output_dir)) if resume and output_dir.is_dir() else None

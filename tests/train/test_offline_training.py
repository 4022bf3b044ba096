import json
import math
from pathlib import Path

import pytest

from playpen.data.datasets import write_rows
from playpen.train.offline import DPOSettings, SFTSettings, train_dpo, train_sft

pytestmark = pytest.mark.model

U = lambda text: {"role": "user", "content": text}  # noqa: E731
A = lambda text: {"role": "assistant", "content": text}  # noqa: E731


def sft_data(path):
    rows = [{"messages": [U(f"Say the number {i} as ECHO: <n>."), A(f"ECHO: {i}")], "game": "echo", "split": "train"}
            for i in range(8)]
    rows.append({"messages": [U("Say 99."), A("ECHO: 99")], "game": "echo", "split": "validation"})
    return write_rows(rows, path)


def dpo_data(path):
    rows = [{"prompt": [U(f"Say the number {i} as ECHO: <n>.")], "chosen": [A(f"ECHO: {i}")],
             "rejected": [A(f"number {i + 1}")], "split": "train"} for i in range(8)]
    return write_rows(rows, path)


def losses(output_dir):
    import csv

    with open(output_dir / "training_log.csv") as handle:
        return [float(r["loss"]) for r in csv.DictReader(handle) if r.get("loss")]


def test_sft_steps_save_a_loadable_adapter_and_register_it(embedded_model_dir, tmp_path, isolated_registry):
    output = tmp_path / "sft"
    settings = SFTSettings(max_steps=2, batch_size=4, lora_r=4, max_length=128, save_steps=2, alias="echo-sft")
    final, alias = train_sft("smollm2-135m", sft_data(tmp_path / "sft.jsonl"), output, settings)
    assert alias == "echo-sft" and (final / "adapter_config.json").is_file()
    first_run = losses(output)
    assert len(first_run) == 2 and all(math.isfinite(v) for v in first_run)
    assert (output / "loss.png").stat().st_size > 1000 and (output / "checkpoint-2").is_dir()
    home, _ = isolated_registry
    registry = json.loads((home / "models.json").read_text())
    assert registry["echo-sft"]["path"] == str(final.resolve())
    from playpen.models.base import GenerationRequest, GenerationSettings
    from playpen.models.registry import load_model

    model = load_model("echo-sft", GenerationSettings(0.0, 8))
    [result] = model.generate([GenerationRequest([U("Say the number 3 as ECHO: <n>.")])])
    assert result.error is None and result.text
    # the registered alias plays a game through the command line
    import subprocess
    import sys

    playpen = str(Path(sys.executable).with_name("playpen"))
    run = subprocess.run([playpen, "run", "-g", "referencegame", "-m", "echo-sft", "--split", "validation", "-N", "1",
                          "-L", "8", "-r", str(tmp_path / "results")], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert len(list((tmp_path / "results" / "echo-sft").rglob("scores.json"))) == 1
    # resume continues from the saved checkpoint (its log included) instead of starting again
    settings.max_steps = 3
    train_sft("smollm2-135m", tmp_path / "sft.jsonl", output, settings, resume=True)
    resumed = losses(output)
    assert len(resumed) == 3 and resumed[:2] == first_run


def test_dpo_steps_on_top_of_a_base_model(embedded_model_dir, tmp_path, isolated_registry):
    output = tmp_path / "dpo"
    settings = DPOSettings(max_steps=2, batch_size=2, grad_accumulation=1, lora_r=4, max_length=128, save_steps=10)
    final, alias = train_dpo("smollm2-135m", dpo_data(tmp_path / "dpo.jsonl"), output, settings)
    values = losses(output)
    assert len(values) == 2 and all(math.isfinite(v) for v in values)
    assert alias == "dpo" and (final / "adapter_config.json").is_file()


def test_missing_columns_are_clear_errors(tmp_path, embedded_model_dir):
    from playpen.core.errors import PlaypenError

    path = write_rows([{"text": "x"}], tmp_path / "bad.jsonl")
    with pytest.raises(PlaypenError, match="messages"):
        train_sft("smollm2-135m", path, tmp_path / "o", SFTSettings(max_steps=1))
    with pytest.raises(PlaypenError, match="prompt/chosen/rejected"):
        train_dpo("smollm2-135m", path, tmp_path / "o2", DPOSettings(max_steps=1))


def test_dpo_on_an_sft_adapter_trains_on_the_merged_sft_model_and_its_folder_says_so(embedded_model_dir, tmp_path,
                                                                                      isolated_registry):
    """SFT→DPO: the DPO adapter's own config names the merged SFT model as its base, so the folder alone (as
    `playpen run -m <folder>` and the experiment runner load it) plays the SFT model plus the DPO adapter."""
    from playpen.models.huggingface import resolve_adapter_base

    sft_final, _ = train_sft("smollm2-135m", sft_data(tmp_path / "sft.jsonl"), tmp_path / "sft",
                             SFTSettings(max_steps=1, batch_size=4, lora_r=4, max_length=128, alias="s"))
    dpo_final, _ = train_dpo(str(sft_final), dpo_data(tmp_path / "dpo.jsonl"), tmp_path / "dpo",
                             DPOSettings(max_steps=1, batch_size=2, grad_accumulation=1, lora_r=4, max_length=128,
                                         alias="d"))
    merged = (tmp_path / "dpo" / "merged-base").resolve()
    assert (merged / "config.json").is_file()
    assert resolve_adapter_base(dpo_final, None) == merged

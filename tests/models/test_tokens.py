"""Generation results carry the tokens behind their text: the local transformers backend (a tiny random model
built in memory) and the OpenAI-compatible backend against the test server."""

from __future__ import annotations

import pytest

from playpen.core.messages import merge_messages
from playpen.models.base import GenerationRequest, GenerationSettings
from playpen.testing.server import END_OF_TURN, UNIFORM_LOGPROB, decode_tokens, prompt_tokens
from tests.tiny_model import tiny_model

SHORT = [{"role": "user", "content": "CLUE: a cold season"}]
LONG = [{"role": "user", "content": "CLUE: it follows autumn"}, {"role": "assistant", "content": "GUESS: snow"},
        {"role": "user", "content": "CLUE: a cold season one two three four five"}]


def tiny_backend(max_tokens=8, **options):
    pytest.importorskip("torch")
    from playpen.models.huggingface import HuggingFaceModel

    model, tokenizer = tiny_model(**options)
    return HuggingFaceModel(model=model, tokenizer=tokenizer, settings=GenerationSettings(0.0, max_tokens),
                            keep_prompt_tokens=True)


def test_huggingface_results_carry_the_prompt_and_the_sampled_tokens():
    import torch

    backend = tiny_backend()
    tokenizer = backend.tokenizer
    batch = backend.generate([GenerationRequest(SHORT), GenerationRequest(LONG)])  # one left-padded batch
    for messages, result in zip((SHORT, LONG), batch):
        assert result.error is None and result.logprobs is None
        # the prompt as the model read it: the rendered template's ids, without the batch's padding
        assert result.prompt_token_ids == tokenizer(backend.render(messages), add_special_tokens=False)["input_ids"]
        # the text is decoded from exactly these tokens
        assert tokenizer.decode(result.token_ids, skip_special_tokens=True).strip() == result.text != ""
        assert result.raw["finish_reason"] == "length" and len(result.token_ids) == 8
        assert result.usage == {"prompt_tokens": len(result.prompt_token_ids), "completion_tokens": 8}
    # the tokens are what the model itself generates from that prompt
    [alone] = backend.generate([GenerationRequest(SHORT)])
    with torch.inference_mode():
        sequence = backend.model.generate(torch.tensor([alone.prompt_token_ids]), max_new_tokens=8, do_sample=False,
                                          attention_mask=torch.ones(1, len(alone.prompt_token_ids), dtype=torch.long))
    assert alone.token_ids == sequence[0, len(alone.prompt_token_ids):].tolist()
    # a run keeps every result: without keep_prompt_tokens the prompt's ids are not held, the reply's are
    backend.keep_prompt_tokens = False
    [lean] = backend.generate([GenerationRequest(SHORT)])
    assert lean.prompt_token_ids is None and lean.token_ids == alone.token_ids


def test_a_reply_that_stopped_keeps_its_stop_token():
    backend = tiny_backend(max_tokens=20)
    [free] = backend.generate([GenerationRequest(SHORT)])
    stop = free.token_ids[3]  # make the fourth sampled token the model's end of turn
    backend.model.generation_config.eos_token_id = stop
    backend._stop_ids = backend._end_of_turn_ids()
    [stopped] = backend.generate([GenerationRequest(SHORT)])
    assert stopped.raw["finish_reason"] == "stop"
    first = free.token_ids.index(stop)
    assert stopped.token_ids == free.token_ids[:first + 1]  # as sampled, up to and including the stop
    assert backend.tokenizer.decode(stopped.token_ids[:-1]).strip() == stopped.text
    assert stopped.usage["completion_tokens"] == len(stopped.token_ids)


def test_openai_compatible_backend_reads_token_ids_and_logprobs_from_the_server(serve):
    from playpen.models.openai_compat import OpenAICompatibleModel

    server = serve(answer=lambda messages, body: "GUESS: winter is here")
    asking = OpenAICompatibleModel(server.base_url, server.model_id, return_tokens=True,
                                   settings=GenerationSettings(0.0, 300))
    try:
        [result] = asking.generate([GenerationRequest(LONG)])
    finally:
        asking.close()
    assert server.requests[-1]["body"]["return_token_ids"] is True and server.requests[-1]["body"]["logprobs"] is True
    assert result.prompt_token_ids == prompt_tokens(merge_messages(LONG))
    assert result.token_ids[-1] == END_OF_TURN and decode_tokens(result.token_ids) == result.text
    assert result.logprobs == [pytest.approx(UNIFORM_LOGPROB)] * len(result.token_ids)

    # a reply cut at max_tokens has no end-of-turn token; without return_tokens nothing is asked or filled in
    plain = OpenAICompatibleModel(server.base_url, server.model_id, settings=GenerationSettings(0.0, 2))
    cut = OpenAICompatibleModel(server.base_url, server.model_id, return_tokens=True,
                                settings=GenerationSettings(0.0, 2))
    try:
        [untokenised] = plain.generate([GenerationRequest(SHORT)])
        assert "return_token_ids" not in server.requests[-1]["body"]
        [short] = cut.generate([GenerationRequest(SHORT)])
    finally:
        plain.close()
        cut.close()
    assert untokenised.text == "GUESS: winter" and untokenised.token_ids is None
    assert untokenised.prompt_token_ids is None and untokenised.logprobs is None
    assert short.token_ids == list(b"GUESS: winter")


def test_malformed_token_fields_are_ignored():
    """A server's odd token fields never break a reply: ids that are not integers, logprobs not one per id."""
    from playpen.models.openai_compat import _ints, _logprobs

    assert _ints([1, 2, 3]) == [1, 2, 3]
    assert _ints(["1", 2]) is None and _ints([True]) is None and _ints(None) is None
    choice = {"logprobs": {"content": [{"token": "a", "logprob": -0.5}, {"token": "b", "logprob": -1}]}}
    assert _logprobs(choice, [7, 8]) == [-0.5, -1.0]
    assert _logprobs(choice, [7]) is None and _logprobs({"logprobs": None}, None) is None
    assert _logprobs({"logprobs": {"content": [{"logprob": "x"}]}}, None) is None


def test_a_group_asking_one_prompt_shares_its_prefill_and_gets_the_tokens_of_separate_prefills():
    """GRPO asks a group's first prompt G times: one prefill serves them all, and at temperature 0 every
    row's tokens equal those of the same batch prefilled row by row (and of the prompt generated alone)."""
    from unittest import mock

    backend = tiny_backend(max_tokens=10)
    requests = [GenerationRequest(SHORT), GenerationRequest(LONG), GenerationRequest(SHORT), GenerationRequest(SHORT)]
    forward = backend.model.forward
    prefills = []

    def counting(*args, **kwargs):
        ids = kwargs.get("input_ids")
        if ids is not None and ids.shape[1] > 1:  # a prefill, not a decoding step
            prefills.append(ids.shape[0])
        return forward(*args, **kwargs)

    with mock.patch.object(backend.model, "forward", side_effect=counting):
        shared = backend.generate(requests)
    assert prefills[0] == 2  # the two distinct prompts, once each
    backend.share_prefill = False
    separate = backend.generate(requests)
    assert [r.token_ids for r in shared] == [r.token_ids for r in separate]
    assert shared[0].token_ids == shared[2].token_ids == shared[3].token_ids  # greedy: one answer per prompt
    [alone] = backend.generate([GenerationRequest(SHORT)])
    assert shared[0].token_ids == alone.token_ids


def test_sampled_rows_of_one_prompt_differ_after_a_shared_prefill():
    import torch

    backend = tiny_backend(max_tokens=12)
    backend.settings = GenerationSettings(1.5, 12)
    torch.manual_seed(0)
    results = backend.generate([GenerationRequest(SHORT)] * 6)
    assert all(r.error is None and r.token_ids for r in results)
    assert len({tuple(r.token_ids) for r in results}) > 1


def test_a_model_that_cannot_share_a_prefill_still_answers_every_row():
    from unittest import mock

    backend = tiny_backend(max_tokens=6)
    expected = backend.generate([GenerationRequest(SHORT)] * 3)
    forward = backend.model.forward

    def no_positions(*args, **kwargs):
        if "position_ids" in kwargs and kwargs.get("past_key_values") is None and kwargs["input_ids"].shape[1] > 1:
            raise TypeError("unexpected keyword argument 'position_ids'")
        return forward(*args, **kwargs)

    with mock.patch.object(backend.model, "forward", side_effect=no_positions):
        results = backend.generate([GenerationRequest(SHORT)] * 3)
    assert not backend.share_prefill
    assert [r.token_ids for r in results] == [r.token_ids for r in expected]

"""vLLM's CPU build serving the embedded model through the ``openai`` backend and a registry alias: the token
fields vLLM returns, and its context limit (the replies and scores against the local backend: test_vllm_backend)."""

from __future__ import annotations

import pytest

from playpen.models.base import GenerationRequest, GenerationSettings
from tests.vllm.conftest import MAX_MODEL_LEN, SERVED_NAME

pytestmark = pytest.mark.vllm


def test_token_ids_and_logprobs_are_the_models(vllm_alias, embedded_model_dir):
    from playpen.models.huggingface import HuggingFaceModel
    from playpen.models.registry import load_model

    messages = [{"role": "user", "content": "Name three colours."}]
    settings = GenerationSettings(temperature=0.0, max_tokens=24)
    served = load_model(vllm_alias, settings)
    local = HuggingFaceModel(path=embedded_model_dir, settings=settings, keep_prompt_tokens=True)
    try:
        [reply] = served.generate([GenerationRequest(messages)])
        [expected] = local.generate([GenerationRequest(messages)])
    finally:
        served.close()
    assert reply.error is None and reply.text == expected.text
    assert reply.prompt_token_ids == expected.prompt_token_ids  # the chat template rendered alike
    assert reply.token_ids == expected.token_ids  # greedy: the same tokens, stop token included or not alike
    assert local.tokenizer.decode(reply.token_ids, skip_special_tokens=True).strip() == reply.text
    assert reply.logprobs is not None and len(reply.logprobs) == len(reply.token_ids)
    assert all(value <= 0.0 for value in reply.logprobs) and reply.usage["completion_tokens"] == len(reply.token_ids)


def test_the_context_limit_is_read_from_the_server(vllm_alias):
    from playpen.models.registry import load_model

    fits = load_model(vllm_alias, GenerationSettings(temperature=0.0, max_tokens=16))
    cut_short = load_model(vllm_alias, GenerationSettings(temperature=0.0, max_tokens=200))
    try:
        [answer] = fits.generate([GenerationRequest([{"role": "user", "content": "Describe the sea."}])])
        assert answer.error is None and answer.text and fits.context_size == MAX_MODEL_LEN
        # ~2020 prompt tokens + 200: vLLM 0.32 answers with what the context has left (a few tokens, so that a
        # loaded CPU answers soon), the backend refuses that
        [cut] = cut_short.generate([GenerationRequest([{"role": "user", "content": "sea " * 1990}])])
        assert cut.error_kind == "context" and cut.text == ""
        assert cut.error.endswith(f" prompt tokens + max_tokens 200 > context size {MAX_MODEL_LEN} of {SERVED_NAME}")
        assert cut.raw["choices"][0]["finish_reason"] == "length" and cut.usage["completion_tokens"] < 200
        assert cut.usage["prompt_tokens"] + cut.usage["completion_tokens"] == MAX_MODEL_LEN
        # a prompt that alone exceeds it: vLLM's HTTP 400
        [long] = fits.generate([GenerationRequest([{"role": "user", "content": "sea " * (MAX_MODEL_LEN + 100)}])])
        assert long.error_kind == "context" and "HTTP 400" in long.error
    finally:
        fits.close()
        cut_short.close()

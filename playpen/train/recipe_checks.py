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

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from playpen.core.errors import PlaypenError
from playpen.core.registry import GameSpec
from playpen.train.settings import METHODS, DPOSettings, GRPOSettings, SFTSettings, check_values

#: a recipe's trainer sections and the settings each holds
SECTIONS = {"sft": SFTSettings, "dpo": DPOSettings, "grpo": GRPOSettings}
#: settings of a trainer section that the runner sets itself (per seed, per experiment)
RUNNER_SET = {"sft": {"seed", "alias"}, "dpo": {"seed", "alias"},
              "grpo": {"seed", "alias", "games", "roles", "partner", "split", "instances"}}
STAGE_FILE = "stage.json"
#: the files the runner writes itself (their temporaries are removed when a killed run starts again)
RUNNER_FILES = ("recipe.json", "done.json", STAGE_FILE, "model.txt", "sft.jsonl", "dpo.jsonl", "report.json",
                "report.csv", "report.html", "report.png")


def check_recipe(recipe: Any) -> None:
    """The whole recipe, before any stage starts (its own fields, then each trainer's section)."""
    values = asdict(recipe)
    check_values("recipe", values, type(recipe))
    for section, cls in SECTIONS.items():
        check_values(f"recipe [{section}]", values[section], cls, fixed=RUNNER_SET[section])
    unknown = [m for m in recipe.methods if m not in METHODS]
    if unknown:
        raise PlaypenError(f"unknown method(s) {', '.join(unknown)} (choose from {', '.join(METHODS)})")
    if not recipe.games:
        raise PlaypenError("the recipe names no training game (games = [...])")
    if not recipe.seeds:
        raise PlaypenError("the recipe names no seed (seeds = [...])")
    overlap = set(recipe.games) & (set(recipe.ood_games) | set(recipe.static_games))
    if overlap:
        raise PlaypenError(f"{', '.join(sorted(overlap))}: a training game cannot also be held out")
    small = {game: count for game, count in recipe.static_per_game.items() if count < 1}
    if small:
        raise PlaypenError(f"static_per_game: instances per experiment must be above 0 (got {small})")
    strangers = sorted(set(recipe.teachers) - set(recipe.games))
    if strangers:
        raise PlaypenError(f"teachers name {', '.join(strangers)}, which the recipe does not train on "
                           f"(games = {recipe.games})")
    if recipe.static_games and not recipe.static_instances:
        raise PlaypenError("the static tasks ship no instances: set static_instances to a folder laid out "
                           "like clembench's static/ (see docs/games/static.md)")
    if len(set(recipe.seeds)) != len(recipe.seeds):
        raise PlaypenError(f"recipe: seeds repeat a seed ({recipe.seeds})")
    strangers = sorted(set(recipe.grpo_splits) - set(recipe.games))
    if strangers:
        raise PlaypenError(f"grpo_splits names {', '.join(strangers)}, which the recipe does not train on "
                           f"(games = {recipe.games})")
    evaluated = sorted(game for game, split in recipe.grpo_splits.items() if split == recipe.eval_split)
    if evaluated and not recipe.allow_split_overlap:
        raise PlaypenError(f"recipe: grpo_splits gives {', '.join(evaluated)} the evaluated split "
                           f"{recipe.eval_split!r}: GRPO would train on the test episodes (set allow_split_overlap = "
                           "true if that is meant)")
    if recipe.train_split == recipe.eval_split and not recipe.allow_split_overlap:
        raise PlaypenError(f"recipe: train_split and eval_split are both {recipe.train_split!r}: the models would be "
                           "evaluated on the instances they were trained on (set allow_split_overlap = true if "
                           "that is meant)")


def check_static(specs: list[GameSpec], key: str = "static_games") -> None:
    """``static_games`` (and ``static_per_game``) names reference tasks only (a dialogue game there would be
    reported as one)."""
    dialogue = [spec.name for spec in specs if spec.domain != "static"]
    if dialogue:
        raise PlaypenError(f"recipe: {key} names the dialogue game(s) {', '.join(dialogue)}; it takes the "
                           "reference tasks (cladder, eqbench, ifeval, mmlu_pro, bbh); put dialogue games in games "
                           "or ood_games")


# ------------------------------------------------------------------------------------------ stages
_DATA = ("games", "roles", "teachers", "train_split", "data_from")
_EVALUATION = ("roles", "partner", "eval_split", "eval_per_experiment", "ood_per_experiment",
               "static_per_experiment", "static_per_game", "static_instances", "eval_max_new_tokens")
#: settings that may go from unset to set on a finished stage, or to a value that keeps its results valid
#: (``_extends``): reference tasks added to the recipe later, from a folder holding the same files plus more tasks
ADDABLE = {"static_instances"}
#: the trainer sections a method's model depends on (SFT→DPO and SFT→GRPO start from the SFT model)
_TRAINING = {"sft": ("sft",), "sft_dpo": ("sft", "dpo"), "grpo": ("grpo", "partner", "train_split", "grpo_splits"),
             "sft_grpo": ("sft", "grpo", "partner", "train_split", "grpo_splits")}


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


def _effective(key: str, value: Any) -> Any:
    """A trainer section with its settings' defaults filled in: a default written out and one left out build
    the same stage."""
    if key not in SECTIONS or not isinstance(value, dict):
        return value
    defaults = json.loads(json.dumps(asdict(SECTIONS[key]()), default=str))
    return {**{k: v for k, v in defaults.items() if k not in RUNNER_SET[key]}, **value}


def check_stages(stages: list[tuple[str, Path, dict[str, Any]]]) -> None:
    """Refuse, before any stage runs, a stage folder that was built from other settings than the recipe's."""
    for label, folder, inputs in stages:
        recorded = _recorded(folder)
        if recorded is None:
            continue
        changed = [key for key in inputs if key in recorded
                   and _effective(key, recorded[key]) != _effective(key, inputs[key])
                   and not (key in ADDABLE and (recorded[key] is None or _extends(recorded[key], inputs[key])))]
        if "static_per_game" in inputs and "static_per_experiment" in recorded:
            counted = _recounted_tasks(recorded, inputs, folder)
            if counted:
                raise PlaypenError(
                    f"the {label} stage in {folder} evaluated {', '.join(counted)} with another number of instances "
                    "than static_per_game now gives; keep that task's count, use another -o folder, or delete "
                    f"{folder} (and the stages built on it) to redo it")
            changed = [key for key in changed if key != "static_per_game"]
        if changed:
            key = changed[0]
            was = json.dumps(recorded.get(key), default=str)
            raise PlaypenError(f"the {label} stage in {folder} was built with {key} = {was}, the recipe now says "
                               f"{json.dumps(inputs[key], default=str)}; use another -o folder, or delete {folder} "
                               "(and the stages built on it) to redo it")


def _recounted_tasks(recorded: dict[str, Any], inputs: dict[str, Any], folder: Path) -> list[str]:
    """The reference tasks whose instances per experiment differ from what the stage was built with and of which
    it holds episodes (a task that it has not evaluated yet may take any count; a stage recorded before
    ``static_per_game`` existed counted every task by ``static_per_experiment``)."""
    from playpen.results.records import episodes

    def count(values: dict[str, Any], game: str) -> Any:
        return (values.get("static_per_game") or {}).get(game, values["static_per_experiment"])

    games = set(recorded.get("static_per_game") or {}) | set(inputs["static_per_game"])
    recounted = {game for game in games if count(recorded, game) != count(inputs, game)}
    if not recounted or not (folder / "eval").is_dir():
        return []
    return sorted(recounted & {episode.game for episode in episodes(folder / "eval")})


def _extends(old: str, new: str | None) -> bool:
    """Whether the static-instances folder ``new`` holds every file of ``old``, byte for byte (a folder of reference
    tasks rebuilt with more tasks, e.g. ``playpen instances-from-records``, next to the same files): the episodes
    played from ``old`` are then the ones ``new`` would play, whichever layout ``rollout.planner.instances_for``
    found them in. False when ``old`` is gone (nothing to check)."""
    if new is None or not Path(old).is_dir():
        return False
    for file in (path for path in Path(old).rglob("*") if path.is_file()):
        twin = Path(new) / file.relative_to(old)
        if not twin.is_file() or twin.read_bytes() != file.read_bytes():
            return False
    return True


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


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _done_record(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def stage_seconds(path: Path) -> float | None | bool:
    """The seconds a finished stage took, with the evaluations of games added after it finished (None when not
    recorded; False: the record is damaged)."""
    record = _done_record(path)
    if record is None:
        return False
    seconds = record.get("seconds")
    if not _number(seconds):
        return None
    later = record.get("later_evaluations")
    if not isinstance(later, list):
        return seconds
    return seconds + sum(entry["seconds"] for entry in later
                         if isinstance(entry, dict) and _number(entry.get("seconds")))


def add_later_evaluation(path: Path, games: list[str], seconds: float) -> None:
    """Add to a finished stage's record the time of evaluating games that the recipe gained after it finished, so
    that the experiment's time counts every evaluation."""
    from playpen.results.store import atomic_write_text

    record = _done_record(path) or {}
    later = record.get("later_evaluations")
    record["later_evaluations"] = [*(later if isinstance(later, list) else []),
                                   {"games": games, "seconds": round(seconds, 1)}]
    atomic_write_text(path, json.dumps(record))


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

"""Instance sets in clembench's format: ``{"experiments": [{"name", ..., "game_instances": [...]}]}``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from playpen.core.errors import PlaypenError


@dataclass(frozen=True)
class InstanceRow:
    """One episode to play: the experiment (without its instance list), its position, and the instance."""

    game: str
    experiment_index: int
    experiment: dict[str, Any]
    instance_index: int
    instance: dict[str, Any]

    @property
    def experiment_name(self) -> str:
        return self.experiment["name"]

    @property
    def experiment_dir(self) -> str:
        """clembench's experiment folder name, e.g. ``0_high_en``."""
        return f"{self.experiment_index}_{self.experiment_name}"

    @property
    def episode_dir(self) -> str:
        return f"episode_{self.instance_index}"

    @property
    def key(self) -> str:
        return f"{self.game}/{self.experiment_dir}/{self.episode_dir}"


def validate_instances(data: Any, source: str) -> dict[str, Any]:
    """Check the shape of an instances document; raise PlaypenError saying what is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("experiments"), list):
        raise PlaypenError(f"{source}: not an instances file (expected an object with an 'experiments' list)")
    if not data["experiments"]:
        raise PlaypenError(f"{source}: the 'experiments' list is empty")
    for index, experiment in enumerate(data["experiments"]):
        if not isinstance(experiment, dict) or "name" not in experiment:
            raise PlaypenError(f"{source}: experiment #{index} has no 'name'")
        instances = experiment.get("game_instances")
        if not isinstance(instances, list):
            raise PlaypenError(f"{source}: experiment '{experiment['name']}' has no 'game_instances' list")
        for instance in instances:
            if not isinstance(instance, dict) or "game_id" not in instance:
                raise PlaypenError(f"{source}: experiment '{experiment['name']}' has an instance without 'game_id'")
    return data


def load_instances(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise PlaypenError(f"instance file not found: {path} (pass an existing clembench instances.json with -i)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise PlaypenError(f"{path}: not valid JSON ({error or 'nested too deeply'})") from None
    return validate_instances(data, str(path))


def iter_rows(game: str, data: dict[str, Any], experiments: set[str] | None = None) -> Iterator[InstanceRow]:
    for e_index, experiment in enumerate(data["experiments"]):
        if experiments and experiment["name"] not in experiments:
            continue
        header = {k: v for k, v in experiment.items() if k != "game_instances"}
        for i_index, instance in enumerate(experiment["game_instances"]):
            yield InstanceRow(game, e_index, header, i_index, instance)


def write_instances(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def write_splits(folder: Path, splits: dict[str, dict[str, Any]]) -> list[Path]:
    """Write ``{split: instances}`` as ``<folder>/<split>.json``; returns the paths."""
    paths = []
    for split, data in splits.items():
        path = Path(folder) / f"{split}.json"
        write_instances(path, validate_instances(data, str(path)))
        paths.append(path)
    return paths

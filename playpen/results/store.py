"""The results folder: ``<results>/<run>/<game>/<index>_<experiment>/episode_<n>/``.

Files per episode (clembench's names and keys): ``instance.json``, ``interactions.json``, ``scores.json``,
``transcript.html``; ``error.json`` instead of the scores when the episode could not be played (backend
failure). Every file is written to a temporary file in the same folder and renamed over the target, and
``scores.json`` is written last: an episode is finished exactly when its ``scores.json`` exists, so a run
killed at any point resumes cleanly.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from playpen import __version__
from playpen.core import metrics
from playpen.core.instances import InstanceRow
from playpen.core.master import GM, GameMaster

SCORES_FILE = "scores.json"
ERROR_FILE = "error.json"


def now() -> str:
    return datetime.now(timezone.utc).replace(tzinfo=None).isoformat()


def run_dir_name(model_names: Sequence[str]) -> str:
    """clembench's run folder name: the model names joined by ``--`` (one name for self-play)."""
    unique = list(dict.fromkeys(model_names))
    return "--".join(name.replace("/", "_") for name in unique)


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    # NaN is written as a bare token, exactly like clembench's scores files
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False))


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def players_record(master: GameMaster, role_models: Mapping[str, str]) -> dict[str, dict[str, str]]:
    players = {GM: {"game_role": "Game Master", "model_name": "programmatic"}}
    for role in master.roles:
        players[master.player_name(role)] = {"game_role": master.role_labels.get(role, role),
                                             "model_name": role_models.get(role, "unknown")}
    # programmatic partners that the game logs under a player name of their own
    for events in master.rounds:
        for event in events:
            for name in (event["from"], event["to"]):
                if name not in players:
                    partner_roles = getattr(master, "partner_roles", {})
                    players[name] = {"game_role": partner_roles.get(name, "Programmatic Partner"),
                                     "model_name": "programmatic"}
    return players


def interactions_record(
    master: GameMaster,
    *,
    results_folder: str,
    role_models: Mapping[str, str],
    player_models: Mapping[str, Any],
    timestamp: str,
) -> dict[str, Any]:
    status = master.outcome.status.value
    return {
        "meta": {
            "game_name": master.name,
            "experiment_name": master.experiment.get("name"),
            "game_id": master.game_id,
            "results_folder": results_folder,
            "clem_version": f"playpen-{__version__}",
            "round_count": len(master.rounds),
            "completed": master.done,
        },
        "player_models": dict(player_models),
        "players": players_record(master, role_models),
        "turns": [[{**event, "timestamp": timestamp} for event in events] for events in master.rounds],
        metrics.REQUEST_COUNT: list(master.request_counts),
        metrics.VIOLATED_REQUEST_COUNT: list(master.violated_request_counts),
        metrics.PARSED_REQUEST_COUNT: [r - v for r, v in zip(master.request_counts, master.violated_request_counts)],
        metrics.ABORTED: int(status == "aborted"),
        metrics.LOSE: int(status == "lose"),
        metrics.SUCCESS: int(status == "success"),
        "outcome": {"status": status, "reason": master.outcome.reason},
        # the game's own clembench record keys (they may replace the generic request counts above)
        **master.record_keys(),
    }


def scores_record(master: GameMaster, interactions: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "meta": interactions["meta"],
        "player_models": interactions["player_models"],
        "players": interactions["players"],
        **master.scores(),
    }


class ResultsStore:
    """Reads and writes one run folder (``<results>/<run>``)."""

    def __init__(self, results_dir: str | Path, run_name: str):
        self.root = Path(results_dir)
        self.run_name = run_name
        self.run_dir = self.root / run_name

    def episode_dir(self, row: InstanceRow) -> Path:
        return self.run_dir / row.game / row.experiment_dir / row.episode_dir

    def is_finished(self, row: InstanceRow) -> bool:
        return (self.episode_dir(row) / SCORES_FILE).is_file()

    def write_experiment(self, row: InstanceRow, player_models: Mapping[str, Any]) -> None:
        path = self.run_dir / row.game / row.experiment_dir / "experiment.json"
        if not path.is_file():
            atomic_write_json(path, {**row.experiment, "timestamp": now(), "game_name": row.game,
                                     "experiment_name": row.experiment_name, "player_models": dict(player_models)})

    def write_episode(
        self,
        row: InstanceRow,
        master: GameMaster,
        role_models: Mapping[str, str],
        player_models: Mapping[str, Any],
    ) -> Path:
        from playpen.results.transcript import render_transcript

        episode_dir = self.episode_dir(row)
        self.write_experiment(row, player_models)
        (episode_dir / ERROR_FILE).unlink(missing_ok=True)
        atomic_write_json(episode_dir / "instance.json", row.instance)
        interactions = interactions_record(master, results_folder=self.run_name, role_models=role_models,
                                           player_models=player_models, timestamp=now())
        atomic_write_json(episode_dir / "interactions.json", interactions)
        scores = scores_record(master, interactions)
        atomic_write_text(episode_dir / "transcript.html", render_transcript(interactions, scores))
        atomic_write_json(episode_dir / SCORES_FILE, scores)  # last: marks the episode finished
        return episode_dir

    def write_error(self, row: InstanceRow, error: str, player_models: Mapping[str, Any]) -> Path:
        episode_dir = self.episode_dir(row)
        self.write_experiment(row, player_models)
        atomic_write_json(episode_dir / "instance.json", row.instance)
        atomic_write_json(episode_dir / ERROR_FILE, {"timestamp": now(), "error": error})
        return episode_dir

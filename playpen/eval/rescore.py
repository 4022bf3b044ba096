"""``playpen score``: recompute every ``scores.json`` by replaying the recorded replies."""

from __future__ import annotations

from pathlib import Path

from playpen.core.errors import PlaypenError
from playpen.eval.verify import read_json, replay_episode
from playpen.results.store import atomic_write_json, scores_record


def rescore(results_dir: str | Path, games: set[str] | None = None) -> tuple[int, list[str]]:
    """Returns (episodes rescored, problems)."""
    root = Path(results_dir)
    if not root.is_dir():
        raise PlaypenError(f"results folder not found: {root}")
    done, problems = 0, []
    for episode_dir in find_episodes_with_interactions(root):
        if games and episode_dir.parents[1].name not in games:
            continue
        try:
            replayed = replay_episode(episode_dir)
        except PlaypenError as error:
            problems.append(f"{episode_dir}: {error}")
            continue
        if replayed is None:
            continue
        master, _ = replayed
        if not master.done:
            problems.append(f"{episode_dir}: the recorded replies do not finish the episode; scores left as they were")
            continue
        interactions = read_json(episode_dir / "interactions.json")
        atomic_write_json(episode_dir / "scores.json", scores_record(master, interactions))
        done += 1
    return done, problems


def find_episodes_with_interactions(root: Path) -> list[Path]:
    return sorted(
        p.parent for p in root.rglob("interactions.json")
        if (p.parent / "instance.json").is_file() and (p.parent.parent / "experiment.json").is_file()
    )

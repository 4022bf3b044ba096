"""``playpen score``: recompute every ``scores.json`` by replaying the recorded replies."""

from __future__ import annotations

from pathlib import Path

from playpen.core.errors import PlaypenError
from playpen.eval.verify import replay_episode
from playpen.results.store import (
    SHAPE_ERRORS,
    ResultsFileError,
    atomic_write_json,
    is_ours,
    lock_results,
    read_json,
    scores_record,
    shape_error,
)


def rescore(results_dir: str | Path, games: set[str] | None = None, *, in_place: bool = False) -> tuple[int, list[str]]:
    """Returns (episodes rescored, problems). Episodes recorded by another tool (clembench) keep their
    ``scores.json`` unless ``in_place``; a record that cannot be replayed is a problem, not a stop."""
    root = Path(results_dir)
    if not root.is_dir():
        raise PlaypenError(f"results folder not found: {root}")
    with lock_results(root):
        episodes = [d for d in find_episodes_with_interactions(root) if not games or d.parents[1].name in games]
        done, problems, foreign = 0, [], []
        for episode_dir in episodes:
            try:
                interactions = read_json(episode_dir / "interactions.json")
                if not in_place and not is_ours(interactions):
                    foreign.append(episode_dir)
                    continue
                replayed = replay_episode(episode_dir)
            except ResultsFileError as error:
                problems.append(str(error))
                continue
            except Exception as error:  # one broken record must not stop the others
                problems.append(f"{episode_dir}: cannot replay ({type(error).__name__}: {error}); scores left as they were")
                continue
            if replayed is None:
                continue
            master, _ = replayed
            if not master.done:
                problems.append(f"{episode_dir}: the recorded replies do not finish the episode; scores left as they were")
                continue
            try:
                scores = scores_record(master, interactions)
            except SHAPE_ERRORS as error:  # the recorded meta or players are not shaped like a record's
                problems.append(str(shape_error(episode_dir / "interactions.json", error)))
                continue
            atomic_write_json(episode_dir / "scores.json", scores)
            done += 1
    if foreign:
        problems.append(f"{len(foreign)} episodes were recorded by another tool (e.g. {foreign[0]}) and keep their "
                        "scores.json; pass --in-place to overwrite them")
    return done, problems


def find_episodes_with_interactions(root: Path) -> list[Path]:
    return sorted(
        p.parent for p in root.rglob("interactions.json")
        if (p.parent / "instance.json").is_file() and (p.parent.parent / "experiment.json").is_file()
    )

"""``playpen score``: recompute every ``scores.json`` by replaying the recorded replies."""

from __future__ import annotations

from pathlib import Path

from playpen.eval.verify import InstanceFiles, replay_episode
from playpen.results.records import (
    INSTANCE_FILE,
    INTERACTIONS_FILE,
    SCORES_FILE,
    ResultsFileError,
    episodes,
    is_ours,
    walking,
)
from playpen.results.store import atomic_write_json, lock_results, scores_record


def rescore(results_dir: str | Path, games: set[str] | None = None, *, in_place: bool = False,
            instances: InstanceFiles | None = None) -> tuple[int, list[str]]:
    """Returns (episodes rescored, problems). Episodes recorded by another tool (clembench) keep their
    ``scores.json`` unless ``in_place``; a record that cannot be replayed is a problem, not a stop. ``instances``
    supplies the instance of a record without ``instance.json`` (clembench v3.0), as for ``playpen verify -i``."""
    found = episodes(results_dir, games)  # a missing folder is refused before the lock would create it
    with lock_results(Path(results_dir)):
        done, problems, foreign = 0, [], []
        for episode in found:
            # a clemcore 3.x record has no instance.json: it replays from ``instances`` or the game's own rebuild
            v3_record = not episode.file(INSTANCE_FILE).exists() and episode.file(INTERACTIONS_FILE).exists()
            if not (episode.replayable or v3_record):
                continue
            try:
                if not in_place and not is_ours(episode.interactions):
                    foreign.append(episode.path)
                    continue
                replayed = replay_episode(episode, instances)
            except ResultsFileError as error:
                problems.append(str(error))
                continue
            except Exception as error:  # one broken record must not stop the others
                problems.append(f"{episode.path}: cannot replay ({type(error).__name__}: {error}); scores left as they were")
                continue
            if replayed is None:
                continue
            master, _ = replayed
            if not master.done:
                problems.append(f"{episode.path}: the recorded replies do not finish the episode; scores left as they were")
                continue
            try:
                with walking(episode.file(INTERACTIONS_FILE)):  # the recorded meta or players are not a record's
                    scores = scores_record(master, episode.interactions)
            except ResultsFileError as error:
                problems.append(str(error))
                continue
            atomic_write_json(episode.file(SCORES_FILE), scores)
            done += 1
    if foreign:
        problems.append(f"{len(foreign)} episodes were recorded by another tool (e.g. {foreign[0]}) and keep their "
                        "scores.json; pass --in-place to overwrite them")
    return done, problems

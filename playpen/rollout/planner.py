"""``playpen run``: play games with models and write the results folder (resumable)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from playpen.core.errors import PlaypenError
from playpen.core.instances import InstanceRow, iter_rows, load_instances
from playpen.core.registry import GameSpec
from playpen.models.base import Model
from playpen.results.store import (
    RECORD_FILES,
    ResultsStore,
    lock_results,
    played_from,
    redact,
    remove_stale_temporaries,
    run_dir_name,
)
from playpen.rollout.engine import EpisodeJob, EpisodeResult, run_episodes


def assign_roles(spec: GameSpec, models: Sequence[Model]) -> dict[str, Model]:
    """One model plays every role (self-play); with several, role i gets model i (the last one repeats)."""
    if not models:
        raise PlaypenError("no model given (use -m <alias>; see `playpen list models`)")
    return {role: models[min(index, len(models) - 1)] for index, role in enumerate(spec.roles)}


def select_rows(
    spec: GameSpec,
    *,
    split: str = "test",
    instances_file: str | Path | None = None,
    experiments: set[str] | None = None,
    per_experiment: int | None = None,
    per_game: int | None = None,
    benchmark: str | None = None,
) -> list[InstanceRow]:
    """The episodes of one game to play; ``benchmark`` folds that clembench version's rule flags
    (``GameSpec.benchmark_flags``) into every experiment."""
    if instances_file is not None:
        source = instances_for(spec, Path(instances_file))
    else:
        if split not in spec.splits:
            raise PlaypenError(f"{spec.name} has no split '{split}' (choose one of {', '.join(spec.splits)})")
        source = spec.instances_file(split)
    rows = list(iter_rows(spec.name, load_instances(source), experiments))
    if spec.validate is not None:
        for row in rows:
            spec.validate(row.experiment, row.instance, str(source))
    if experiments and not rows:
        raise PlaypenError(f"{spec.name}: no experiment named {', '.join(sorted(experiments))} in the instance file")
    flags = spec.benchmark_flags.get(benchmark or "", {})
    if flags:
        rows = [replace(r, experiment={**r.experiment, **flags}) for r in rows]
    if per_experiment is not None:
        rows = [r for r in rows if r.instance_index < per_experiment]
    if per_game is not None:
        # spread over the experiments: first instance of every experiment, then the second, ...
        rows = sorted(rows, key=lambda r: (r.instance_index, r.experiment_index))[:per_game]
        rows.sort(key=lambda r: (r.experiment_index, r.instance_index))
    return rows


def instances_for(spec: GameSpec, path: Path) -> Path:
    """``-i``: an instances file, or a folder laid out like clembench's (``<game>/in/instances.json``)."""
    if not path.is_dir():
        return path
    for candidate in (path / spec.name / "in" / "instances.json", path / spec.name / "instances.json",
                      path / f"{spec.name}.json"):
        if candidate.is_file():
            return candidate
    raise PlaypenError(f"{path} holds no instances for {spec.name} (looked for {spec.name}/in/instances.json, "
                       f"{spec.name}/instances.json and {spec.name}.json)")


def target_words(specs_rows: Iterable[tuple[GameSpec, Iterable[InstanceRow]]]) -> dict[str, set[str]]:
    """word -> the games whose rows ask for it (``GameSpec.targets``; games without target words add none)."""
    words: dict[str, set[str]] = {}
    for spec, rows in specs_rows:
        for row in rows:
            for word in spec.targets(row.instance):
                words.setdefault(word, set()).add(spec.name)
    return words


def without_targets(spec: GameSpec, data: Mapping[str, Any], banned: Collection[str]) -> tuple[dict[str, Any], list[str]]:
    """``data`` (an instances file) without the instances whose target word is in ``banned``, and those words.

    Training on an instance whose target is an evaluation target of *any* game leaks the answer (taboo and
    wordle draw from overlapping word pools), so an experiment trains only on instances whose targets no
    evaluated game asks for."""
    kept: dict[str, Any] = {**data, "experiments": []}
    dropped: list[str] = []
    for experiment in data["experiments"]:
        instances = []
        for instance in experiment["game_instances"]:
            leaked = spec.targets(instance) & set(banned)
            dropped.extend(sorted(leaked))
            if not leaked:
                instances.append(instance)
        kept["experiments"].append({**experiment, "game_instances": instances})
    return kept, dropped


def scripted_limit_notes(specs: Sequence[GameSpec], models: Sequence[Model],
                         rows_for: Callable[[GameSpec], list[InstanceRow]]) -> list[str]:
    """One line per (game, role) whose scripted player cannot play some of the chosen instances as it plays
    ours (``GameSpec.scripted_limits``), with how many."""
    from playpen.models.scripted import ScriptedModel

    notes = []
    for spec in specs:
        if spec.scripted_limits is None:
            continue
        for role, model in assign_roles(spec, models).items():
            if not isinstance(model, ScriptedModel):
                continue
            rows = rows_for(spec)
            limits = [limit for row in rows if (limit := spec.scripted_limits(role, model.skill, row.instance))]
            for limit in dict.fromkeys(limits):
                notes.append(f"{spec.name}: the scripted {role} {limit} in {limits.count(limit)} of "
                             f"{len(rows)} episodes")
    return notes


@dataclass
class RunSummary:
    played: int = 0
    skipped: int = 0
    errored: list[str] = field(default_factory=list)
    run_dirs: set[Path] = field(default_factory=set)


def model_infos(models: Sequence[Model]) -> dict[str, dict]:
    return {str(i): {**m.info(), "gen_args": {"temperature": m.settings.temperature, "max_tokens": m.settings.max_tokens}}
            for i, m in enumerate(models)}


def player_settings(players: Mapping[str, Model]) -> dict[str, dict]:
    """The settings an episode's replies depend on, per role (recorded in ``played_from``)."""
    return {role: {"model": m.name, "temperature": m.settings.temperature, "max_tokens": m.settings.max_tokens}
            for role, m in players.items()}


@dataclass
class PlannedEpisode:
    job: EpisodeJob
    store: ResultsStore
    provenance: dict


def plan_jobs(
    specs: Sequence[GameSpec],
    models: Sequence[Model],
    results_dir: str | Path,
    rows_for: Callable[[GameSpec], list[InstanceRow]],
) -> tuple[list[PlannedEpisode], int]:
    """The episodes still to play (finished ones are skipped: resume) and how many were skipped.

    A folder that already holds a finished episode played from another instance, experiment or settings
    is refused: skipping it would report a different episode as this run's, replaying it would lose it."""
    planned: list[PlannedEpisode] = []
    skipped = 0
    conflicts: list[str] = []
    for spec in specs:
        players = assign_roles(spec, models)
        used = [players[role] for role in spec.roles]
        store = ResultsStore(results_dir, run_dir_name([m.name for m in used]))
        settings = player_settings(players)
        for row in rows_for(spec):
            provenance = played_from(row, settings)
            state = store.state(row, provenance)
            if state.conflict is not None:
                conflicts.append(f"{store.run_name}/{row.key} was played from {state.conflict}")
            elif state.finished:
                skipped += 1
            else:
                planned.append(PlannedEpisode(EpisodeJob(spec, row, players), store, provenance))
    if conflicts:
        raise PlaypenError(
            f"{results_dir} already holds {len(conflicts)} finished episode{'s' if len(conflicts) > 1 else ''} "
            f"that this run would play differently ({conflicts[0]}); use another -r folder, or delete those "
            "episode folders to play them again")
    return planned, skipped


def run_benchmark(
    specs: Sequence[GameSpec],
    models: Sequence[Model],
    results_dir: str | Path,
    rows_for: Callable[[GameSpec], list[InstanceRow]],
    *,
    batch_size: int = 16,
    on_progress: Callable[[EpisodeResult], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> RunSummary:
    """Play what is not finished yet into ``results_dir``, holding its lock for the whole run.

    A failure to write one episode's records (disk full, an unwritable name) marks that episode errored;
    the run goes on with the others."""
    with lock_results(Path(results_dir)):
        remove_stale_temporaries(Path(results_dir), RECORD_FILES, below=True)
        planned, skipped = plan_jobs(specs, models, results_dir, rows_for)
        summary = RunSummary(skipped=skipped)
        if on_start is not None:
            on_start(len(planned), skipped)
        by_job = {id(p.job): p for p in planned}
        infos = model_infos(models)

        def fail(episode: PlannedEpisode, error: str) -> None:
            summary.errored.append(redact(f"{episode.store.run_name}/{episode.job.row.key}: {(error.splitlines() or [''])[0]}"))
            try:
                episode.store.write_error(episode.job.row, error, infos)
            except (OSError, ValueError, PlaypenError):  # the folder itself cannot be written: the count says so
                pass

        def record(result: EpisodeResult) -> None:
            episode = by_job[id(result.job)]
            summary.run_dirs.add(episode.store.run_dir)
            if result.errored:
                fail(episode, result.error or "unknown error")
            else:
                role_models = {role: model.name for role, model in result.job.players.items()}
                try:
                    episode.store.write_episode(result.job.row, result.master, role_models, infos, episode.provenance)
                    summary.played += 1
                except Exception as error:  # one unwritable episode must not stop the run
                    result.error = f"cannot write the episode's records: {type(error).__name__}: {error}"
                    fail(episode, result.error)
            if on_progress is not None:
                on_progress(result)

        run_episodes([p.job for p in planned], batch_size=batch_size, on_end=record)
    return summary

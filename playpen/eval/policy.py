"""Evaluation of a policy (``playpen experiment``'s stages, the evaluations during GRPO training): play
validation instances, compute clembench figures.

Trained games are played in the training setup (the learner's role against the partner); the other games
are played in self-play, the clembench convention. Figures are computed with the same code as
``playpen eval`` (% played, quality score, clemscore; in-domain and out-of-domain separately), except that a
scope in which nothing was played gets clemscore 0 (``clemscore``'s ``unplayed``). Each evaluation's rows go to
``eval_metrics.csv`` (``table_rows``, ``append_eval_rows``, ``read_eval_rows``).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from playpen.core import metrics
from playpen.core.registry import GameSpec
from playpen.eval.clemscore import ModelTable, ScoreRow, as_number, build_tables, clemscore, round2, score_rows
from playpen.eval.report import summaries
from playpen.models.base import Model
from playpen.rollout.engine import EpisodeJob, run_episodes
from playpen.rollout.planner import select_rows

EVAL_FIELDS = ["step", "scope", "game", "played", "quality", "clemscore", "episodes"]


def evaluate_policy(
    model: Model,
    specs: Sequence[GameSpec],
    *,
    roles: dict[str, str],
    partner: Model | None,
    split: str = "validation",
    per_experiment: int | None | Mapping[str, int | None] = 1,
    batch_size: int = 32,
    results_dir: Path | None = None,
    instances: Mapping[str, str | Path] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ModelTable:
    """Play the games and return the clembench table of ``model`` (one row of results.csv).

    A game in ``roles`` is played in its training setup (``model`` in that role, ``partner`` in the others,
    or ``model`` everywhere when ``partner`` is None); any other game in self-play. All episodes are played in
    one batch. ``per_experiment`` (instances per experiment, None: all) may be given per game. ``instances``
    names an instance file (or a clembench-style folder) per game to play instead of ``split``. With
    ``results_dir``, every episode is recorded there (run folder named after ``model``). ``progress(done,
    total)`` is called whenever an episode ends."""
    from playpen.results.store import ResultsStore

    jobs = []
    for spec in specs:
        role = roles.get(spec.name)
        players = {r: (partner if role and r != role and partner is not None else model) for r in spec.roles}
        count = per_experiment.get(spec.name) if isinstance(per_experiment, Mapping) else per_experiment
        source = (instances or {}).get(spec.name)
        for row in select_rows(spec, split=split, per_experiment=count, instances_file=source):
            jobs.append(EpisodeJob(spec, row, players))
    store = ResultsStore(results_dir, model.name) if results_dir is not None else None
    rows: list[ScoreRow] = []
    ended = []

    def count(result) -> None:
        ended.append(result)
        if progress is not None:
            progress(len(ended), len(jobs))

    for result in run_episodes(jobs, batch_size=batch_size, on_end=count):
        if result.errored or result.master is None:
            continue
        row = result.job.row
        if store is not None:
            store.write_episode(row, result.master, {r: m.name for r, m in result.job.players.items()}, {})
        rows += score_rows(row.game, model.name, row.experiment_dir, row.episode_dir,
                           result.master.scores()[metrics.EPISODE_SCORES_KEY])
    tables = build_tables(rows)
    return tables[0] if tables else ModelTable(model.name)


def table_rows(step: int, table: ModelTable) -> list[dict[str, Any]]:
    """Rows of ``eval_metrics.csv``: one per game (scope ``game``), then one per domain scope."""
    rows = [{"step": step, "scope": "game", "game": game, "played": fig.played, "quality": fig.quality,
             "clemscore": round2(clemscore(fig.played, fig.quality, unplayed=0.0)), "episodes": fig.episodes}
            for game, fig in sorted(table.games.items())]
    for summary in summaries([table], unplayed=0.0):
        rows.append({"step": step, "scope": summary.scope, "game": "", "played": summary.played,
                     "quality": summary.quality, "clemscore": summary.clemscore, "episodes": summary.games})
    return rows


def append_eval_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    new = not path.is_file()
    with open(path, "a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=EVAL_FIELDS)
        if new:
            writer.writeheader()
        writer.writerows(rows)


def read_eval_rows(path: Path) -> list[dict[str, Any]]:
    """``eval_metrics.csv`` with numbers parsed (``step`` int; figures float, NaN when empty)."""
    out = []
    for row in read_csv_rows(path):
        out.append({**row, "step": int(float(row["step"])), "played": as_number(row["played"]),
                    "quality": as_number(row["quality"]), "clemscore": as_number(row["clemscore"]),
                    "episodes": int(as_number(row["episodes"])) if row.get("episodes") else 0})
    return out


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))



"""clemscore tables from ``scores.json`` files, computed exactly as clembench's evaluator does.

Per game and model: ``% Played = 100 · mean(1 − Aborted)`` over all episodes, ``Quality Score = mean(Main
Score)`` over the episodes whose Main Score is a number (aborted ones are NaN), ``Quality Score (std)`` the
sample standard deviation of those; each rounded to 2 decimals. Per model: the means of the rounded per-game
figures across games (a game whose quality is NaN drops out of the quality mean), rounded, and
``clemscore = round(avg % Played / 100 · avg Quality, 2)``.

The one ``clemscore`` formula and the one ``scope_games`` rule (all / in / out / static) serve these tables, the
bootstrap and ``compare`` (``confidence``) and the evaluations during training (``eval.policy``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from playpen.core import metrics
from playpen.core.errors import PlaypenError
from playpen.results.records import ERROR_FILE, INSTANCE_FILE, SCORES_FILE, Episode, ResultsFileError, episodes

CLEMSCORE_COLUMN = "-, clemscore"
#: summary scopes: the dialogue games (all, in, out) and the static tasks (their "clemscore" is the statscore)
SCOPES = ("all", "in", "out", "static")
AVG_PLAYED_COLUMN = "all, Average % Played"
AVG_QUALITY_COLUMN = "all, Average Quality Score"


@dataclass(frozen=True)
class ScoreRow:
    game: str
    model: str
    experiment: str
    episode: str
    metric: str
    value: Any


def round2(value: float) -> float:
    # numpy/pandas rounding (scale, round half to even, unscale), so tables match clembench's digit for digit
    return value if math.isnan(value) else round(value * 100) / 100


def clemscore(played: Any, quality: Any, *, unplayed: float = math.nan) -> Any:
    """% played / 100 × quality, of floats or numpy arrays (unrounded). Where the quality is undefined (NaN:
    nothing was played) the score is ``unplayed``: clembench leaves it blank (NaN); the bootstrap and the
    evaluations during training use 0, its limit, so that learning to play at all shows as a change."""
    score = played / 100 * quality
    if math.isnan(unplayed):
        return score
    if isinstance(score, float):
        return unplayed if math.isnan(quality) else score
    import numpy as np

    return np.where(np.isnan(quality), unplayed, score)


def scope_games(games: Iterable[str], scope: str) -> list[str]:
    """The games of ``games`` (in their order) that a figure of ``scope`` averages: ``all`` the dialogue games,
    ``in`` / ``out`` those of that domain (``GameSpec.domain``), ``static`` the statscore's tasks (never in
    ``all``)."""
    from playpen.games import domain_of

    if scope == "static":
        from playpen.games.static import STATSCORE_GAMES

        return [g for g in games if g in STATSCORE_GAMES]
    return [g for g in games if domain_of(g) != "static" and scope in ("all", domain_of(g))]


def as_number(value: Any) -> float:
    """``value`` as a float (True/False as 1/0, a numeric string parsed); NaN when it is not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))  # True/False count as 1/0, as pandas counts them


@dataclass
class Gaps:
    """What a model's table leaves out: episodes without a usable ``scores.json``, per kind."""

    errored: list[Path] = field(default_factory=list)
    unfinished: list[Path] = field(default_factory=list)
    #: episode folder -> why its scores file cannot be counted (damaged, wrong shape, non-numeric Aborted)
    invalid: dict[Path, str] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.errored) + len(self.unfinished) + len(self.invalid)

    def of_game(self, game: str) -> int:
        """How many of the left-out episodes belong to ``game`` (``<game>/<experiment>/<episode>``)."""
        return sum(Episode(folder).game == game for folder in (*self.errored, *self.unfinished, *self.invalid))


def _check_scores(path: Path, record: dict[str, Any]) -> dict[str, Any]:
    episode_scores = record.get(metrics.EPISODE_SCORES_KEY)
    if not isinstance(episode_scores, dict):
        raise ResultsFileError(f"{path}: no '{metrics.EPISODE_SCORES_KEY}' object")
    if metrics.PLAYED in episode_scores:
        raise PlaypenError(f"{path}: games must not log '{metrics.PLAYED}' (eval derives it from '{metrics.ABORTED}')")
    aborted = episode_scores.get(metrics.ABORTED, 0)
    if not _is_number(aborted) or aborted not in (0, 1):  # 2 or 5 would count an episode as -1 or -4 played
        raise ResultsFileError(f"{path}: '{metrics.ABORTED}' is {json.dumps(aborted)[:40]}, not 0 or 1")
    main = episode_scores.get(metrics.MAIN_SCORE)
    if main is not None and (not _is_number(main) or math.isinf(main)):  # NaN: an aborted episode's score
        raise ResultsFileError(f"{path}: '{metrics.MAIN_SCORE}' is {json.dumps(main)[:40]}, not a finite number")
    return episode_scores


def scan_scores(results_dir: str | Path, *, models: str | None = None,
                games: set[str] | None = None) -> tuple[list[ScoreRow], dict[str, Gaps]]:
    """Every episode metric of every usable ``scores.json`` below ``results_dir`` (plus the derived
    ``Played``), and per model the episodes left out: errored, unfinished (no scores), unusable scores."""
    rows: list[ScoreRow] = []
    gaps: dict[str, Gaps] = {}
    seen: set[tuple[str, str]] = set()
    for episode in episodes(results_dir, games):
        path = episode.file(SCORES_FILE)
        # without scores: errored, unfinished (played from an instance), or not an episode eval counts
        missing = (None if path.exists() else "errored" if episode.file(ERROR_FILE).exists()
                   else "unfinished" if episode.file(INSTANCE_FILE).exists() else "")
        # the model, as clembench's evaluator takes it: the folder above <game>/<experiment>/<episode>
        model = episode.run
        if missing == "" or not model or models and models not in str(path) or (model, episode.key) in seen:
            continue
        seen.add((model, episode.key))
        if missing:
            getattr(gaps.setdefault(model, Gaps()), missing).append(episode.path)
            continue
        try:
            episode_scores = _check_scores(path, episode.scores)
        except ResultsFileError as error:
            gaps.setdefault(model, Gaps()).invalid[episode.path] = str(error)
            continue
        rows += score_rows(episode.game, model, episode.experiment_dir, episode.episode_dir, episode_scores)
    return rows, gaps


def score_rows(game: str, model: str, experiment: str, episode: str, scores: dict[str, Any]) -> list[ScoreRow]:
    """An episode's metrics (its ``episode scores``) as rows, with the derived ``Played`` = 1 − ``Aborted``."""
    rows = [ScoreRow(game, model, experiment, episode, metric, value) for metric, value in scores.items()]
    if metrics.ABORTED in scores:
        rows.append(ScoreRow(game, model, experiment, episode, metrics.PLAYED, 1 - as_number(scores[metrics.ABORTED])))
    return rows


def load_score_rows(results_dir: str | Path, *, models: str | None = None, games: set[str] | None = None) -> list[ScoreRow]:
    """Every episode metric of every usable ``scores.json`` below ``results_dir`` (plus the derived ``Played``)."""
    return scan_scores(results_dir, models=models, games=games)[0]


@dataclass
class GameFigures:
    played: float
    quality: float
    quality_std: float
    episodes: int


@dataclass
class ModelTable:
    model: str
    games: dict[str, GameFigures] = field(default_factory=dict)

    def average(self, games: Iterable[str] | None = None, *,
                unplayed: float = math.nan) -> tuple[float, float, float]:
        """(avg % played, avg quality, clemscore) over ``games`` (default: all of the model's games); ``unplayed``
        is the clemscore when no game's quality is defined (``clemscore``)."""
        names = [g for g in (games if games is not None else self.games) if g in self.games]
        if not names:
            return math.nan, math.nan, math.nan
        played = round2(statistics.fmean(self.games[g].played for g in names))
        qualities = [self.games[g].quality for g in names if not math.isnan(self.games[g].quality)]
        quality = round2(statistics.fmean(qualities)) if qualities else math.nan
        return played, quality, round2(clemscore(played, quality, unplayed=unplayed))


def build_tables(rows: list[ScoreRow]) -> list[ModelTable]:
    played: dict[tuple[str, str], list[float]] = {}
    main: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        if row.metric == metrics.PLAYED:
            played.setdefault((row.model, row.game), []).append(as_number(row.value))
        elif row.metric == metrics.MAIN_SCORE:
            main.setdefault((row.model, row.game), []).append(as_number(row.value))
    tables: dict[str, ModelTable] = {}
    for (model, game), values in sorted(played.items()):
        scores = [v for v in main.get((model, game), []) if not math.isnan(v)]
        figures = GameFigures(
            played=round2(100 * statistics.fmean(values)),
            quality=round2(statistics.fmean(scores)) if scores else math.nan,
            quality_std=round2(statistics.stdev(scores)) if len(scores) > 1 else math.nan,
            episodes=len(values),
        )
        tables.setdefault(model, ModelTable(model)).games[game] = figures
    return [tables[m] for m in sorted(tables)]


def _cell(value: float) -> str:
    return "" if math.isnan(value) else repr(float(value))


def results_csv(tables: list[ModelTable], *, with_std: bool = True, average_over: Iterable[str] | None = None) -> str:
    """clembench's ``results.csv``: one row per model, columns sorted as pandas sorts the MultiIndex. The
    ``all`` averages and ``-, clemscore`` run over ``average_over`` (default: every game in the table)."""
    columns: set[tuple[str, str]] = {("-", "clemscore"), ("all", "Average % Played"), ("all", "Average Quality Score")}
    for table in tables:
        for game in table.games:
            columns |= {(game, "% Played"), (game, "Quality Score")}
            if with_std:
                columns.add((game, "Quality Score (std)"))
    ordered = sorted(columns)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([""] + [f"{g}, {m}" for g, m in ordered])
    for table in tables:
        played, quality, clemscore = table.average(average_over)
        values = {("-", "clemscore"): clemscore, ("all", "Average % Played"): played,
                  ("all", "Average Quality Score"): quality}
        for game, fig in table.games.items():
            values[(game, "% Played")] = fig.played
            values[(game, "Quality Score")] = fig.quality
            values[(game, "Quality Score (std)")] = fig.quality_std
        writer.writerow([table.model] + [_cell(values.get(column, math.nan)) for column in ordered])
    return out.getvalue()


def raw_csv(rows: list[ScoreRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["", "game", "model", "experiment", "episode", "metric", "value"])
    for index, row in enumerate(rows):
        value = row.value
        if isinstance(value, float) and math.isnan(value):
            value = ""
        elif isinstance(value, bool):
            value = int(value)
        writer.writerow([index, row.game, row.model, row.experiment, row.episode, row.metric, value])
    return out.getvalue()

"""statscore: the clemscore formula over clembench's static tasks (cladder, eqbench, ifeval, mmlu_pro).

clembench reports it as the ``-, clemscore`` of a static run's own ``results.csv``; ``playpen eval`` writes
that table as ``results-static.csv``. :func:`statscore` gives the same figure, with the per-task numbers, to
code that wants it (an experiment report's retention column).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from playpen.core.errors import PlaypenError
from playpen.eval.clemscore import GameFigures, ModelTable, build_tables, load_score_rows
from playpen.games import static_games
from playpen.games.static import STATSCORE_GAMES

STATIC_RESULTS_CSV = "results-static.csv"


@dataclass(frozen=True)
class StatScore:
    model: str
    #: (average % played / 100) × average quality over the statscore tasks present; NaN without any
    statscore: float
    played: float
    quality: float
    #: every static task of the run (bbh too, though it does not enter statscore)
    tasks: dict[str, GameFigures]

    @property
    def missing(self) -> list[str]:
        """Statscore tasks the run lacks (a statscore over fewer tasks is not comparable)."""
        return [task for task in STATSCORE_GAMES if task not in self.tasks]


def static_tables(results_dir: str | Path, *, models: str | None = None) -> list[ModelTable]:
    return build_tables(load_score_rows(results_dir, models=models, games=set(static_games())))


def of_table(table: ModelTable) -> StatScore:
    played, quality, score = table.average(STATSCORE_GAMES)
    return StatScore(table.model, score, played, quality, dict(table.games))


def statscores(results_dir: str | Path, *, models: str | None = None) -> list[StatScore]:
    """One :class:`StatScore` per model run (``models``: only runs whose path contains it)."""
    return [of_table(table) for table in static_tables(results_dir, models=models)]


def statscore(results_dir: str | Path, *, model: str | None = None) -> StatScore:
    """The statscore of the one model run under ``results_dir`` (``model`` picks one when there are several).

    >>> statscore("results").statscore  # doctest: +SKIP
    56.46
    """
    found = statscores(results_dir, models=model)
    if not found:
        raise PlaypenError(f"no static-task scores under {results_dir} (play them with `playpen run -g static`)")
    if len(found) > 1:
        names = ", ".join(s.model for s in found)
        raise PlaypenError(f"{results_dir} holds several runs ({names}); pick one with model=...")
    return found[0]

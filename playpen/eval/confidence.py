"""Confidence intervals for clembench figures, and the comparison of two runs.

clembench reports point estimates from small validation sets (6 episodes per wordle experiment), so a change of a
few points can be noise. Here every figure gets a **percentile bootstrap** interval: episodes are resampled with
replacement *within each game* (the game is the stratum, as clembench averages per game first), and % played,
quality and clemscore are recomputed exactly as ``playpen eval`` computes them on every resample (quality over the
resample's played episodes; a game without a played episode drops out of the quality mean).

Two runs are compared on their common games. When both runs played the same episodes (same game, experiment and
episode folder: the usual before/after evaluation on one instance set) the bootstrap is **paired** — the same
resampled episodes on both sides — which removes the variance that comes from instance difficulty; otherwise the
two runs are resampled independently. A difference is *significant* when its interval excludes zero; the p-value
is the two-sided bootstrap one (twice the smaller tail mass at zero).

Results with several seeds (``seed_change``) add a level: seeds are resampled, then episodes within each seed, so
the interval of the mean change covers both sources of noise.

All resampling is seeded, so a report is reproducible digit for digit.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from playpen.core import metrics
from playpen.eval.clemscore import SCOPES, ScoreRow, as_number, clemscore, scope_games
from playpen.games import domain_of

DEFAULT_RESAMPLES = 2000
DEFAULT_LEVEL = 0.95
FIGURES = ("played", "quality", "clemscore")


@dataclass(frozen=True)
class Interval:
    """A point estimate and its bootstrap interval (NaN bounds when undefined, e.g. nothing played)."""

    estimate: float
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return not math.isnan(self.low) and (self.low > 0 or self.high < 0)

    def format(self, digits: int = 2) -> str:
        if math.isnan(self.estimate):
            return "–"
        if math.isnan(self.low):
            return f"{self.estimate:.{digits}f}"
        return f"{self.estimate:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


@dataclass(frozen=True)
class GameEpisodes:
    """One model's episodes of one game: ``keys`` (experiment/episode), played flags and Main Scores."""

    game: str
    keys: tuple[str, ...]
    played: tuple[float, ...]
    scores: tuple[float, ...]  # NaN where the episode was aborted


def episodes_by_model(rows: Iterable[ScoreRow]) -> dict[str, dict[str, GameEpisodes]]:
    """Group ``load_score_rows`` output into ``{model: {game: GameEpisodes}}`` (episodes in a stable order)."""
    played: dict[tuple[str, str, str], float] = {}
    scores: dict[tuple[str, str, str], float] = {}
    for row in rows:
        key = (row.model, row.game, f"{row.experiment}/{row.episode}")
        if row.metric == metrics.PLAYED:
            played[key] = as_number(row.value)
        elif row.metric == metrics.MAIN_SCORE:
            scores[key] = as_number(row.value)
    grouped: dict[str, dict[str, list[tuple[str, float, float]]]] = {}
    for (model, game, episode), flag in sorted(played.items()):
        grouped.setdefault(model, {}).setdefault(game, []).append((episode, flag, scores.get((model, game, episode), math.nan)))
    return {
        model: {
            game: GameEpisodes(game, tuple(e[0] for e in items), tuple(e[1] for e in items), tuple(e[2] for e in items))
            for game, items in games.items()
        }
        for model, games in grouped.items()
    }


class _Resampler:
    """Per-game bootstrap draws of % played and quality: arrays of shape (resamples,), index 0 = the full data."""

    def __init__(self, episodes: Mapping[str, GameEpisodes], indices: Mapping[str, object]):
        import numpy as np

        self.played: dict[str, object] = {}
        self.quality: dict[str, object] = {}
        for game, data in episodes.items():
            idx = indices[game]
            flags = np.asarray(data.played, dtype=float)[idx]
            values = np.nan_to_num(np.asarray(data.scores, dtype=float), nan=0.0)[idx]
            valid = ~np.isnan(np.asarray(data.scores, dtype=float))[idx]
            count = valid.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                self.quality[game] = np.where(count > 0, (values * valid).sum(axis=1) / np.maximum(count, 1), np.nan)
            self.played[game] = 100 * flags.mean(axis=1)

    def figures(self, games: Sequence[str]) -> dict[str, object]:
        """% played, quality and clemscore over ``games`` (clembench's average of per-game figures)."""
        import numpy as np

        played = np.mean([self.played[g] for g in games], axis=0)
        qualities = np.array([self.quality[g] for g in games])
        with np.errstate(invalid="ignore"):
            counted = (~np.isnan(qualities)).sum(axis=0)
            quality = np.where(counted > 0, np.nansum(qualities, axis=0) / np.maximum(counted, 1), np.nan)
        # nothing played: quality is undefined but the clemscore is 0 (its limit), so that a model that learns to
        # play at all shows a change instead of an undefined one (training evaluations report it the same way)
        return {"played": played, "quality": quality, "clemscore": clemscore(played, quality, unplayed=0.0)}


def _draws(episodes: Mapping[str, GameEpisodes], resamples: int, rng):
    """Bootstrap indices per game; row 0 is the identity (the point estimate)."""
    import numpy as np

    out = {}
    for game in sorted(episodes):
        n = len(episodes[game].keys)
        draws = rng.integers(0, n, size=(resamples + 1, n)) if n else np.zeros((resamples + 1, 0), dtype=int)
        draws[0] = np.arange(n)
        out[game] = draws
    return out


def _interval(samples, level: float) -> Interval:
    import numpy as np

    estimate = float(samples[0])
    rest = samples[1:][~np.isnan(samples[1:])]
    if math.isnan(estimate) or rest.size == 0:
        return Interval(estimate, math.nan, math.nan)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(rest, [tail, 100 - tail])
    return Interval(estimate, float(low), float(high))


def _p_value(samples) -> float:
    import numpy as np

    rest = samples[1:][~np.isnan(samples[1:])]
    if rest.size == 0:
        return math.nan
    return float(min(1.0, 2 * min((rest <= 0).mean(), (rest >= 0).mean())))


@dataclass(frozen=True)
class Figures:
    """% played, quality and clemscore with intervals, per game and per scope (all / in / out)."""

    games: dict[str, dict[str, Interval]]
    scopes: dict[str, dict[str, Interval]]
    episodes: dict[str, int]


def bootstrap_figures(episodes: Mapping[str, GameEpisodes], *, resamples: int = DEFAULT_RESAMPLES,
                      level: float = DEFAULT_LEVEL, seed: int = 0) -> Figures:
    """Intervals for one model's figures (episodes resampled within each game)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    sampler = _Resampler(episodes, _draws(episodes, resamples, rng))
    games = {g: {f: _interval(v, level) for f, v in sampler.figures([g]).items()} for g in sorted(episodes)}
    scopes = {}
    for scope in SCOPES:
        names = scope_games(sorted(episodes), scope)
        if names:
            scopes[scope] = {f: _interval(v, level) for f, v in sampler.figures(names).items()}
    return Figures(games, scopes, {g: len(e.keys) for g, e in episodes.items()})


@dataclass(frozen=True)
class Difference:
    """``b − a`` for one figure, with its interval, p-value and whether the interval excludes zero."""

    interval: Interval
    p_value: float

    @property
    def significant(self) -> bool:
        return self.interval.excludes_zero()


@dataclass(frozen=True)
class Comparison:
    paired: dict[str, bool]  # per game: were the same episodes played by both runs?
    games: dict[str, dict[str, Difference]]
    scopes: dict[str, dict[str, Difference]]
    #: per results folder compared, one line per model whose episodes were left out (errored, unfinished,
    #: unusable scores); empty when every episode counted
    left_out: list[str] = field(default_factory=list)


def _aligned(a: GameEpisodes, b: GameEpisodes) -> tuple[GameEpisodes, GameEpisodes] | None:
    """Both runs' episodes in the same order when they played the same episodes, else None."""
    if set(a.keys) != set(b.keys) or len(a.keys) != len(b.keys):
        return None
    order = {key: i for i, key in enumerate(b.keys)}
    pick = [order[key] for key in a.keys]
    return a, GameEpisodes(b.game, a.keys, tuple(b.played[i] for i in pick), tuple(b.scores[i] for i in pick))


def _samplers(a: Mapping[str, GameEpisodes], b: Mapping[str, GameEpisodes], games: Sequence[str], resamples: int,
              rng) -> tuple[_Resampler, _Resampler, dict[str, bool]]:
    """Resamplers of both runs over ``games``: the same draws for a game both runs played episode for episode
    (paired), independent draws otherwise; and which games were paired."""
    left, right, draws_a, draws_b, paired = {}, {}, {}, {}, {}
    for game in games:
        aligned = _aligned(a[game], b[game])
        paired[game] = aligned is not None
        left[game], right[game] = aligned if aligned else (a[game], b[game])
        draws_a[game] = _draws({game: left[game]}, resamples, rng)[game]
        draws_b[game] = draws_a[game] if aligned else _draws({game: right[game]}, resamples, rng)[game]
    return _Resampler(left, draws_a), _Resampler(right, draws_b), paired


def compare(a: Mapping[str, GameEpisodes], b: Mapping[str, GameEpisodes], *, resamples: int = DEFAULT_RESAMPLES,
            level: float = DEFAULT_LEVEL, seed: int = 0) -> Comparison:
    """How run ``b`` differs from run ``a`` on their common games (paired per game where possible)."""
    import numpy as np

    common = sorted(set(a) & set(b))
    sampler_a, sampler_b, paired = _samplers(a, b, common, resamples, np.random.default_rng(seed))

    def differences(names: list[str]) -> dict[str, Difference]:
        fa, fb = sampler_a.figures(names), sampler_b.figures(names)
        return {f: Difference(_interval(fb[f] - fa[f], level), _p_value(fb[f] - fa[f])) for f in FIGURES}

    games = {g: differences([g]) for g in common}
    scopes = {s: differences(names) for s in SCOPES if (names := scope_games(sorted(common), s))}
    return Comparison(paired, games, scopes)


def seed_change(base: Mapping[str, GameEpisodes] | Sequence[Mapping[str, GameEpisodes]] | None,
                seeds: Sequence[Mapping[str, GameEpisodes]], games: Sequence[str], *,
                resamples: int = DEFAULT_RESAMPLES, level: float = DEFAULT_LEVEL, seed: int = 0) -> dict[str, Difference]:
    """Mean change (trained − base) over training seeds for ``games`` as one scope, with a two-level bootstrap:
    seeds with replacement, then episodes within each seed (paired with the base where the episodes match).
    ``base`` is one run for every seed (the base model) or a sequence of runs, one per seed (each seed's own
    starting model: SFT→GRPO against that seed's SFT). With ``base`` None, the same for the trained figure itself
    (its level, not its change).

    The point estimate is the mean over seeds of each seed's change; with one seed this is ``compare``."""
    import numpy as np

    if not seeds:
        raise ValueError("seed_change needs at least one trained run")
    bases = list(base) if isinstance(base, Sequence) else [base] * len(seeds)
    if len(bases) != len(seeds):
        raise ValueError(f"seed_change got {len(bases)} starting runs for {len(seeds)} seeds")
    rng = np.random.default_rng(seed)
    names = [g for g in games if all(b is None or g in b for b in bases) and all(g in s for s in seeds)]
    if not names:
        nan = Interval(math.nan, math.nan, math.nan)
        return {f: Difference(nan, math.nan) for f in FIGURES}
    per_seed = []
    for start, run in zip(bases, seeds):
        if start is None:
            chosen = {g: run[g] for g in names}
            per_seed.append(_Resampler(chosen, _draws(chosen, resamples, rng)).figures(names))
            continue
        sampler_base, sampler_run, _ = _samplers(start, run, names, resamples, rng)
        fa, fb = sampler_base.figures(names), sampler_run.figures(names)
        per_seed.append({f: fb[f] - fa[f] for f in FIGURES})
    picks = rng.integers(0, len(per_seed), size=(resamples + 1, len(per_seed)))
    picks[0] = np.arange(len(per_seed))
    out = {}
    for figure in FIGURES:
        stacked = np.stack([s[figure] for s in per_seed])  # (seeds, resamples + 1)
        columns = np.arange(resamples + 1)
        with warnings.catch_warnings():  # a resample of seeds that all lack the figure: NaN, said by _interval
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(stacked[picks.T, columns], axis=0)
        out[figure] = Difference(_interval(mean, level), _p_value(mean))
    return out


def model_figures(rows: Iterable[ScoreRow], *, resamples: int = DEFAULT_RESAMPLES, level: float = DEFAULT_LEVEL,
                  seed: int = 0) -> dict[str, Figures]:
    """``bootstrap_figures`` of every model in ``load_score_rows`` output."""
    return {model: bootstrap_figures(games, resamples=resamples, level=level, seed=seed)
            for model, games in episodes_by_model(rows).items()}


def intervals_csv(figures: Mapping[str, Figures], level: float = DEFAULT_LEVEL) -> str:
    """One row per model × (scope or game) × figure: estimate and interval bounds (``results_ci.csv``)."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    pct = f"{round(level * 100)}"
    writer.writerow(["model", "scope", "game", "episodes", "figure", "estimate", f"ci{pct}_low", f"ci{pct}_high"])

    def cell(value: float) -> str:
        return "" if math.isnan(value) else f"{value:.4f}"

    for model, figs in sorted(figures.items()):
        for scope, values in figs.scopes.items():
            count = sum(figs.episodes[g] for g in scope_games(sorted(figs.episodes), scope))
            for figure, interval in values.items():
                writer.writerow([model, scope, "", count, figure, cell(interval.estimate), cell(interval.low), cell(interval.high)])
        for game, values in figs.games.items():
            for figure, interval in values.items():
                writer.writerow([model, domain_of(game), game, figs.episodes[game], figure, cell(interval.estimate),
                                 cell(interval.low), cell(interval.high)])
    return out.getvalue()


def compare_results(before: Path | Sequence[Path], after: Path | Sequence[Path], *,
                    models: tuple[str | None, str | None] = (None, None), resamples: int = DEFAULT_RESAMPLES,
                    level: float = DEFAULT_LEVEL, seed: int = 0) -> Comparison:
    """``compare`` of two results folders, each holding exactly one model's run (or selected with ``models``).
    With a list of folders on each side (one per training seed, paired by position) the change is the mean over
    seeds, bootstrapped over seeds and then over episodes within each seed (``seed_change``)."""
    from playpen.core.errors import PlaypenError

    befores = [before] if isinstance(before, (str, Path)) else list(before)
    afters = [after] if isinstance(after, (str, Path)) else list(after)
    if not befores or len(befores) != len(afters):
        raise PlaypenError(f"compare pairs runs seed by seed: got {len(befores)} before and {len(afters)} after "
                           "(give as many of each, in the same seed order)")
    left_out: list[str] = []
    runs_before = [_one_run(Path(folder), models[0], left_out) for folder in befores]
    runs_after = [_one_run(Path(folder), models[1], left_out) for folder in afters]
    if len(befores) == 1:
        comparison = compare(runs_before[0], runs_after[0], resamples=resamples, level=level, seed=seed)
        return replace(comparison, left_out=left_out)
    common = sorted(set.intersection(*(set(run) for run in runs_before + runs_after)))

    def change(names: list[str]) -> dict[str, Difference]:
        return seed_change(runs_before, runs_after, names, resamples=resamples, level=level, seed=seed)

    paired = {g: all(_aligned(a[g], b[g]) is not None for a, b in zip(runs_before, runs_after)) for g in common}
    games = {g: change([g]) for g in common}
    scopes = {s: change(names) for s in SCOPES if (names := scope_games(common, s))}
    return Comparison(paired, games, scopes, left_out)


def _one_run(folder: Path, model: str | None, left_out: list[str]) -> dict[str, GameEpisodes]:
    """The episodes of the one model in ``folder`` (or the one selected by ``model``), keyed by what each was
    played from; appends to ``left_out`` what was not counted."""
    from playpen.core.errors import PlaypenError
    from playpen.eval.clemscore import scan_scores
    from playpen.eval.report import completeness

    rows, gaps = scan_scores(folder, models=model)
    by_model = episodes_by_model(rows)
    if len(by_model) != 1:
        found = ", ".join(sorted(by_model)) or "none"
        raise PlaypenError(f"{folder}: expected the episodes of one model, found {found} "
                           "(select one with --model-a/--model-b)")
    run_name, run = next(iter(by_model.items()))
    gap = {run_name: gaps[run_name]} if run_name in gaps else {}
    left_out += [f"{folder}: {line}" for line in completeness([], gap, None)[0]]
    return _with_sources(run, folder, run_name)


def _with_sources(run: Mapping[str, GameEpisodes], folder: Path, run_name: str) -> dict[str, GameEpisodes]:
    """``run`` with each episode's key extended by what it was played from (the instance's digest), so that
    two runs pair an episode only when both played the same instance (same experiment names on other splits
    are different episodes)."""
    from playpen.results.records import ResultsFileError, episodes
    from playpen.results.store import instance_digest

    sources: dict[tuple[str, str], str] = {}
    for episode in episodes(folder, set(run)):
        if episode.run != run_name:
            continue
        try:
            recorded = episode.scores.get("meta", {}).get("played_from", {}).get("instance_sha256")
        except (ResultsFileError, AttributeError):
            recorded = None
        if not recorded:
            try:
                recorded = instance_digest(episode.instance)
            except ResultsFileError:
                recorded = "unknown"
        sources[(episode.game, f"{episode.experiment_dir}/{episode.episode_dir}")] = recorded
    return {game: replace(games, keys=tuple(f"{key}@{sources.get((game, key), 'unknown')}" for key in games.keys))
            for game, games in run.items()}


def point_figures(episodes: Mapping[str, GameEpisodes], games: Sequence[str]) -> dict[str, float]:
    """% played, quality and clemscore over ``games`` taken as one scope (no resampling)."""
    import numpy as np

    chosen = {g: episodes[g] for g in games if g in episodes}
    if not chosen:
        return {f: math.nan for f in FIGURES}
    identity = {g: np.arange(len(e.keys))[None, :] for g, e in chosen.items()}
    return {f: float(v[0]) for f, v in _Resampler(chosen, identity).figures(sorted(chosen)).items()}

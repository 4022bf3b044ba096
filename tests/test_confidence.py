"""Bootstrap intervals and run comparison (playpen.eval.confidence) on data with known distributions."""

from __future__ import annotations

import math
import random

import pytest

from playpen.core import metrics
from playpen.eval.clemscore import ScoreRow, build_tables
from playpen.eval.confidence import (
    GameEpisodes,
    bootstrap_figures,
    compare,
    episodes_by_model,
    intervals_csv,
    seed_change,
)


def _episodes(game: str, played: list[int], scores: list[float], prefix: str = "0_exp") -> GameEpisodes:
    keys = tuple(f"{prefix}/episode_{i}" for i in range(len(played)))
    return GameEpisodes(game, keys, tuple(float(p) for p in played),
                        tuple(s if p else math.nan for p, s in zip(played, scores)))


def _bernoulli_game(game: str, n: int, p_played: float, mean: float, sd: float, seed: int) -> GameEpisodes:
    rng = random.Random(seed)
    played = [int(rng.random() < p_played) for _ in range(n)]
    scores = [min(100.0, max(0.0, rng.gauss(mean, sd))) for _ in range(n)]
    return _episodes(game, played, scores)


def test_played_interval_matches_the_binomial_standard_error():
    data = {"taboo": _bernoulli_game("taboo", 400, 0.5, 50, 10, seed=1)}
    figures = bootstrap_figures(data, resamples=3000, seed=0)
    played = figures.games["taboo"]["played"]
    rate = played.estimate / 100
    expected_half_width = 1.96 * math.sqrt(rate * (1 - rate) / 400) * 100
    assert played.low < played.estimate < played.high
    assert (played.high - played.low) / 2 == pytest.approx(expected_half_width, rel=0.15)
    assert played.low < 50 < played.high  # the true rate


def test_quality_interval_uses_only_played_episodes_and_covers_the_mean():
    data = {"wordle": _bernoulli_game("wordle", 300, 0.6, 70, 12, seed=2)}
    quality = bootstrap_figures(data, resamples=3000, seed=0).games["wordle"]["quality"]
    played_scores = [s for s in data["wordle"].scores if not math.isnan(s)]
    sem = (sum((s - sum(played_scores) / len(played_scores)) ** 2 for s in played_scores) / (len(played_scores) - 1)) ** 0.5
    sem /= math.sqrt(len(played_scores))
    assert quality.estimate == pytest.approx(sum(played_scores) / len(played_scores))
    assert (quality.high - quality.low) / 2 == pytest.approx(1.96 * sem, rel=0.2)
    assert quality.low < 70 < quality.high


def test_point_estimates_equal_the_clembench_table():
    rows = []
    rng = random.Random(3)
    for game in ("taboo", "codenames", "referencegame"):
        for i in range(20):
            aborted = int(rng.random() < 0.3)
            score = math.nan if aborted else rng.choice([0.0, 33.3, 100.0])
            for metric, value in ((metrics.ABORTED, aborted), (metrics.PLAYED, 1 - aborted), (metrics.MAIN_SCORE, score)):
                rows.append(ScoreRow(game, "m", "0_exp", f"episode_{i}", metric, value))
    table = build_tables(rows)[0]
    figures = bootstrap_figures(episodes_by_model(rows)["m"], resamples=200)
    for game, fig in table.games.items():
        assert figures.games[game]["played"].estimate == pytest.approx(fig.played, abs=0.0051)
        assert figures.games[game]["quality"].estimate == pytest.approx(fig.quality, abs=0.0051)
    played, quality, clemscore = table.average()
    assert figures.scopes["all"]["clemscore"].estimate == pytest.approx(clemscore, abs=0.02)
    assert figures.scopes["in"]["played"].estimate == pytest.approx(table.average(["taboo", "referencegame"])[0], abs=0.005)
    assert figures.scopes["out"]["quality"].estimate == pytest.approx(table.games["codenames"].quality, abs=0.005)


def test_nothing_played_gives_an_undefined_quality_without_error():
    data = {"imagegame": _episodes("imagegame", [0, 0, 0], [0, 0, 0])}
    figures = bootstrap_figures(data, resamples=100)
    assert figures.games["imagegame"]["played"].estimate == 0
    assert math.isnan(figures.games["imagegame"]["quality"].estimate)
    assert figures.games["imagegame"]["quality"].format() == "–"


def test_intervals_are_reproducible_with_the_same_seed():
    data = {"taboo": _bernoulli_game("taboo", 50, 0.7, 40, 30, seed=4)}
    first = bootstrap_figures(data, resamples=500, seed=11)
    assert first == bootstrap_figures(data, resamples=500, seed=11)
    assert first != bootstrap_figures(data, resamples=500, seed=12)


def test_a_real_gain_is_significant_and_noise_is_not():
    base = {"taboo": _bernoulli_game("taboo", 120, 0.9, 40, 15, seed=5)}
    better = {"taboo": _bernoulli_game("taboo", 120, 0.9, 60, 15, seed=6)}
    same = {"taboo": _bernoulli_game("taboo", 120, 0.9, 40, 15, seed=7)}
    gain = compare(base, better, resamples=2000).games["taboo"]["quality"]
    assert gain.significant and gain.p_value < 0.01
    assert 15 < gain.interval.estimate < 25
    noise = compare(base, same, resamples=2000).games["taboo"]["quality"]
    assert not noise.significant and noise.p_value > 0.05


def test_paired_comparison_sees_a_small_consistent_gain_that_unpaired_would_miss():
    # instance difficulty varies a lot; the trained run is 3 points better on every episode
    rng = random.Random(8)
    difficulty = [rng.uniform(0, 90) for _ in range(40)]
    base = {"wordle": _episodes("wordle", [1] * 40, difficulty)}
    trained = {"wordle": _episodes("wordle", [1] * 40, [d + 3 for d in difficulty])}
    paired = compare(base, trained, resamples=2000)
    assert paired.paired == {"wordle": True}
    assert paired.games["wordle"]["quality"].significant
    shifted = {"wordle": _episodes("wordle", [1] * 40, [d + 3 for d in difficulty], prefix="1_other")}
    unpaired = compare(base, shifted, resamples=2000)
    assert unpaired.paired == {"wordle": False}
    assert not unpaired.games["wordle"]["quality"].significant


def test_seed_change_averages_seeds_and_widens_with_seed_spread():
    rng = random.Random(9)
    difficulty = [rng.uniform(10, 80) for _ in range(30)]
    base = {"taboo": _episodes("taboo", [1] * 30, difficulty)}
    consistent = [{"taboo": _episodes("taboo", [1] * 30, [d + 10 for d in difficulty])} for _ in range(3)]
    spread = [{"taboo": _episodes("taboo", [1] * 30, [d + delta for d in difficulty])} for delta in (-10, 10, 30)]
    tight = seed_change(base, consistent, ["taboo"], resamples=1000)["quality"]
    wide = seed_change(base, spread, ["taboo"], resamples=1000)["quality"]
    assert tight.interval.estimate == pytest.approx(10)
    assert wide.interval.estimate == pytest.approx(10)
    assert tight.significant
    assert (wide.interval.high - wide.interval.low) > 5 * (tight.interval.high - tight.interval.low)


def test_seed_change_pairs_each_seed_with_its_own_starting_run():
    rng = random.Random(4)
    # three SFT seeds of different skill; each GRPO run adds 5 points to its own SFT run, episode by episode
    starts = [{"taboo": _episodes("taboo", [1] * 30, [rng.uniform(10, 80) + shift for _ in range(30)])}
              for shift in (0, 10, 20)]
    continued = [{"taboo": _episodes("taboo", [1] * 30, [s + 5 for s in start["taboo"].scores])} for start in starts]
    paired = seed_change(starts, continued, ["taboo"], resamples=1000)["quality"]
    assert paired.interval.estimate == pytest.approx(5)
    assert paired.interval.high - paired.interval.low == pytest.approx(0, abs=1e-9) and paired.significant
    # against one shared start (the first seed's) the seeds' own spread would swamp the change
    shared = seed_change(starts[0], continued, ["taboo"], resamples=1000)["quality"]
    assert shared.interval.estimate == pytest.approx(15, abs=4) and shared.interval.high - shared.interval.low > 5
    with pytest.raises(ValueError, match="2 starting runs for 3 seeds"):
        seed_change(starts[:2], continued, ["taboo"], resamples=10)


def test_intervals_csv_has_a_row_per_scope_game_and_figure():
    data = {"taboo": _bernoulli_game("taboo", 20, 0.5, 50, 10, seed=1),
            "codenames": _bernoulli_game("codenames", 10, 0.5, 50, 10, seed=2)}
    text = intervals_csv({"m": bootstrap_figures(data, resamples=100)})
    lines = text.strip().splitlines()
    assert lines[0] == "model,scope,game,episodes,figure,estimate,ci95_low,ci95_high"
    assert len(lines) == 1 + 3 * 3 + 2 * 3  # scopes all/in/out + 2 games, 3 figures each
    assert any(line.startswith("m,all,,30,clemscore,") for line in lines)


def test_nothing_played_has_clemscore_zero_so_learning_to_play_is_a_change():
    base = {"imagegame": _episodes("imagegame", [0] * 10, [0] * 10)}
    trained = {"imagegame": _episodes("imagegame", [1] * 10, [40.0] * 10)}
    change = compare(base, trained, resamples=200).games["imagegame"]
    assert change["clemscore"].interval.estimate == pytest.approx(40) and change["clemscore"].significant
    assert math.isnan(change["quality"].interval.estimate)  # undefined before: no quality change to report
    level = seed_change(None, [trained, trained], ["imagegame"], resamples=200)["quality"]
    assert level.interval.estimate == pytest.approx(40)

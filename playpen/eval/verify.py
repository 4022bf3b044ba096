"""``playpen verify``: replay recorded clembench episodes through our games and compare the outcomes.

For every episode folder holding ``instance.json``, ``interactions.json`` and ``scores.json`` the recorded
replies of the model-backed players are fed, in order, into our game master built from the recorded
experiment (``experiment.json`` one level up) and instance. Aborted / Success / Lose / Main Score are then
compared with the recorded ``scores.json``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playpen.core import metrics
from playpen.core.errors import PlaypenError
from playpen.core.master import GameMaster
from playpen.games import get_game, game_names
from playpen.results.records import (
    INTERACTIONS_FILE,
    SCORES_FILE,
    Episode,
    ResultsFileError,
    episodes,
    recorded_replies,
    walking,
)

COMPARED = (metrics.ABORTED, metrics.SUCCESS, metrics.LOSE, metrics.MAIN_SCORE)


@dataclass
class EpisodeCheck:
    path: Path
    game: str
    status: str  # "agree" | "disagree" | "skipped" | "error"
    reason: str = ""
    recorded: dict[str, Any] = field(default_factory=dict)
    replayed: dict[str, Any] = field(default_factory=dict)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _same(a: Any, b: Any) -> bool:
    if _missing(a) or _missing(b):
        # clembench leaves some metrics out of aborted episodes; we write them as NaN
        return _missing(a) and _missing(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= 1e-6 + 1e-4 * abs(a)
    return a == b


def replay_episode(episode: Episode) -> tuple[GameMaster, list[str]] | None:
    """Rebuild a recorded episode from its files; None when the game is not one of ours. A record of the wrong
    shape raises ``ResultsFileError``; an exception while replaying the game is the caller's to report."""
    interactions = episode.interactions
    meta = interactions.get("meta")
    game = (meta.get("game_name") if isinstance(meta, dict) else None) or episode.game
    if not isinstance(game, str) or game not in game_names():
        return None
    spec = get_game(game)
    experiment, instance = episode.experiment, episode.instance
    with walking(episode.file(INTERACTIONS_FILE)):
        responses = recorded_replies(interactions)
        if spec.replay_instance is not None:
            instance = spec.replay_instance(instance, interactions)
    master = spec.new_episode(experiment, instance)
    for response in responses:
        if master.done:
            break
        master.step(response)
    return master, responses


def verify_episode(episode: Episode) -> EpisodeCheck:
    path, game = episode.path, episode.game
    try:
        replayed_episode = replay_episode(episode)
    except ResultsFileError:
        raise
    except PlaypenError as error:  # a game we do not implement (yet), or one that cannot replay this record
        from playpen.games import available_games

        return EpisodeCheck(path, game, "error" if game in available_games() else "skipped", str(error))
    if replayed_episode is None:
        return EpisodeCheck(path, game, "skipped", "not a clembench v2.0 text game")
    master, responses = replayed_episode
    recorded = episode.scores.get(metrics.EPISODE_SCORES_KEY)
    if not isinstance(recorded, dict):
        raise ResultsFileError(f"{episode.file(SCORES_FILE)}: no '{metrics.EPISODE_SCORES_KEY}' object")
    rec = {k: recorded.get(k) for k in COMPARED}
    if not master.done:
        return EpisodeCheck(path, game, "disagree",
                            f"episode still running after all {len(responses)} recorded replies", rec)
    rep = {k: master.scores()[metrics.EPISODE_SCORES_KEY].get(k) for k in COMPARED}
    diffs = [f"{k}: recorded {rec[k]!r}, ours {rep[k]!r}" for k in COMPARED if not _same(rec[k], rep[k])]
    if master.requests < len(responses):
        diffs.append(f"ended after {master.requests} of {len(responses)} recorded replies")
    if diffs:
        reason = "; ".join(diffs) + f" [ours: {master.outcome.status.value}: {master.outcome.reason}]"
        return EpisodeCheck(path, game, "disagree", reason, rec, rep)
    return EpisodeCheck(path, game, "agree", "", rec, rep)


def verify(root: str | Path, games: set[str] | None = None) -> list[EpisodeCheck]:
    """One check per finished episode below ``root`` that can be replayed."""
    checks = []
    for episode in episodes(root, games):
        if not (episode.replayable and episode.file(SCORES_FILE).is_file()):
            continue
        try:
            checks.append(verify_episode(episode))
        except ResultsFileError as error:
            checks.append(EpisodeCheck(episode.path, episode.game, "error", str(error)))
        except Exception as error:  # one broken record must not stop the others
            checks.append(EpisodeCheck(episode.path, episode.game, "error", f"{type(error).__name__}: {error}"))
    return checks


def agreement_table(checks: list[EpisodeCheck]) -> list[tuple[str, int, int, int]]:
    """(game, agree, compared, skipped) per game, in game order."""
    table = []
    for game in sorted({c.game for c in checks}):
        of_game = [c for c in checks if c.game == game]
        agree = sum(c.status == "agree" for c in of_game)
        skipped = sum(c.status == "skipped" for c in of_game)
        table.append((game, agree, len(of_game) - skipped, skipped))
    return table

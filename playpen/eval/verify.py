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
    recorded_prompts,
    recorded_replies,
    walking,
)

COMPARED = (metrics.ABORTED, metrics.SUCCESS, metrics.LOSE, metrics.MAIN_SCORE)


@dataclass(frozen=True)
class PromptAgreement:
    """How many of a record's requests put word for word the same text before the player in our replay (``same``
    of ``recorded``), and whether the first one did (the prompt a model sees before any reply)."""

    same: int
    recorded: int
    first: bool
    #: the first recorded request text ours differs from, and ours at that position ("" when ours has none)
    first_difference: tuple[str, str] | None = None


@dataclass
class EpisodeCheck:
    path: Path
    game: str
    status: str  # "agree" | "disagree" | "skipped" | "error"
    reason: str = ""
    recorded: dict[str, Any] = field(default_factory=dict)
    replayed: dict[str, Any] = field(default_factory=dict)
    #: how far the replay's request texts are the recorded ones (None when the episode was not replayed)
    prompts: PromptAgreement | None = None


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


def prompt_agreement(master: GameMaster, interactions: dict[str, Any]) -> PromptAgreement:
    """Compare, request by request, the text our game master put before a model-backed player with the record's
    (``recorded_prompts``: what the model saw, however the record split it into messages)."""
    recorded = recorded_prompts(interactions)
    ours = recorded_prompts({"players": interactions.get("players"), "turns": master.rounds})
    same = [index < len(ours) and ours[index] == message for index, message in enumerate(recorded)]
    difference = next(((message.text, ours[index].text if index < len(ours) else "")
                       for index, message in enumerate(recorded) if not same[index]), None)
    return PromptAgreement(sum(same), len(recorded), bool(same) and same[0], difference)


def verify_episode(episode: Episode) -> EpisodeCheck:
    path, game = episode.path, episode.game
    try:
        replayed_episode = replay_episode(episode)
    except ResultsFileError:
        raise
    except PlaypenError as error:  # a game we do not implement (yet)
        return EpisodeCheck(path, game, "skipped", str(error))
    if replayed_episode is None:
        return EpisodeCheck(path, game, "skipped", "not a clembench v2.0 text game")
    master, responses = replayed_episode
    with walking(episode.file(INTERACTIONS_FILE)):
        prompts = prompt_agreement(master, episode.interactions)
    recorded = episode.scores.get(metrics.EPISODE_SCORES_KEY)
    if not isinstance(recorded, dict):
        raise ResultsFileError(f"{episode.file(SCORES_FILE)}: no '{metrics.EPISODE_SCORES_KEY}' object")
    rec = {k: recorded.get(k) for k in COMPARED}
    if not master.done:
        reason = f"episode still running after all {len(responses)} recorded replies"
        return EpisodeCheck(path, game, "disagree", reason, rec, prompts=prompts)
    rep = {k: master.scores()[metrics.EPISODE_SCORES_KEY].get(k) for k in COMPARED}
    diffs = [f"{k}: recorded {rec[k]!r}, ours {rep[k]!r}" for k in COMPARED if not _same(rec[k], rep[k])]
    if master.requests < len(responses):
        diffs.append(f"ended after {master.requests} of {len(responses)} recorded replies")
    if diffs:
        reason = "; ".join(diffs) + f" [ours: {master.outcome.status.value}: {master.outcome.reason}]"
        return EpisodeCheck(path, game, "disagree", reason, rec, rep, prompts)
    return EpisodeCheck(path, game, "agree", "", rec, rep, prompts)


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


def prompt_table(checks: list[EpisodeCheck]) -> dict[str, tuple[int, int, int, int]]:
    """game -> (episodes whose first prompt is the recorded one, episodes, identical messages, recorded messages)."""
    table: dict[str, tuple[int, int, int, int]] = {}
    for check in checks:
        if check.prompts is None:
            continue
        first, count, same, recorded = table.get(check.game, (0, 0, 0, 0))
        table[check.game] = (first + check.prompts.first, count + 1, same + check.prompts.same,
                             recorded + check.prompts.recorded)
    return table


def agreement_table(checks: list[EpisodeCheck]) -> list[tuple[str, int, int, int]]:
    """(game, agree, compared, skipped) per game, in game order."""
    table = []
    for game in sorted({c.game for c in checks}):
        of_game = [c for c in checks if c.game == game]
        agree = sum(c.status == "agree" for c in of_game)
        skipped = sum(c.status == "skipped" for c in of_game)
        table.append((game, agree, len(of_game) - skipped, skipped))
    return table

"""Recorded episodes -> per-player conversations.

Works on our results folders and on public clembench ones (same layout): a player's conversation is rebuilt
from ``interactions.json`` — the game master's messages to that player become ``user`` turns, the player's
replies ``assistant`` turns, consecutive same-role messages are merged — so episodes of games Playpen does not
implement are usable too.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playpen.core import metrics
from playpen.core.messages import Messages, merge_messages
from playpen.results.records import (
    INTERACTIONS_FILE,
    SCORES_FILE,
    Episode,
    episodes,
    model_players,
    recorded_messages,
    walking,
)


@dataclass(frozen=True)
class Perspective:
    """One player's view of one recorded episode."""

    game: str
    experiment: str
    game_id: Any
    episode_dir: Path
    player: str
    role: str
    model: str
    outcome: str  # success | lose | aborted | unknown
    main_score: float
    messages: tuple[dict[str, str], ...]

    @property
    def instance_key(self) -> tuple[str, str, str]:
        return (self.game, self.experiment, str(self.game_id))


def _outcome(episode: dict[str, Any]) -> str:
    if episode.get(metrics.ABORTED) == 1:
        return "aborted"
    if episode.get(metrics.SUCCESS) == 1:
        return "success"
    if episode.get(metrics.LOSE) == 1:
        return "lose"
    return "unknown"


def player_messages(interactions: dict[str, Any], player: str) -> Messages:
    """``player``'s conversation: the game master's messages as ``user`` turns, its replies as ``assistant``."""
    return merge_messages([{"role": "assistant" if message.reply else "user", "content": message.text}
                           for message in recorded_messages(interactions) if message.player == player])


def read_perspectives(roots: list[str | Path]) -> Iterator[Perspective]:
    """Every model-backed player's perspective in every recorded episode below ``roots``. A record that cannot
    be read, or is not shaped like one, raises ``ResultsFileError`` naming it."""
    for root in roots:
        for episode in episodes(root):
            if not episode.file(INTERACTIONS_FILE).exists():
                continue
            interactions = episode.interactions
            # outcome and score: from scores.json when there is one (clembench's), else from the interactions
            source = episode.file(SCORES_FILE) if episode.file(SCORES_FILE).exists() else episode.file(INTERACTIONS_FILE)
            with walking(source):
                if source.name == SCORES_FILE:
                    record = episode.scores.get(metrics.EPISODE_SCORES_KEY, {})
                else:
                    record = interactions
                main = record.get(metrics.MAIN_SCORE, math.nan)
                main = math.nan if main is None else float(main)
                outcome = _outcome(record)
            with walking(episode.file(INTERACTIONS_FILE)):
                perspectives = list(_episode_perspectives(episode, interactions, outcome, main))
            yield from perspectives


def _text(value: Any) -> str:
    """A record's name field as text ("" when absent); other JSON values are not names."""
    if value is None or isinstance(value, str):
        return value or ""
    raise TypeError(f"a name field holds {type(value).__name__} {str(value)[:40]!r}")


def _episode_perspectives(episode: Episode, interactions: dict[str, Any], outcome: str,
                          main: float) -> Iterator[Perspective]:
    meta = interactions.get("meta") or {}
    for player, info in model_players(interactions).items():
        messages = player_messages(interactions, player)
        if not any(m["role"] == "assistant" for m in messages):
            continue
        yield Perspective(
            game=_text(meta.get("game_name")) or episode.game,
            experiment=_text(meta.get("experiment_name")) or episode.experiment_dir,
            game_id=meta.get("game_id"),
            episode_dir=episode.path,
            player=player,
            role=_text(info.get("game_role")),
            model=_text(info.get("model_name")),
            outcome=outcome,
            main_score=main,
            messages=tuple(messages),
        )

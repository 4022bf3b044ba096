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
from playpen.core.errors import PlaypenError
from playpen.core.messages import Messages, merge_messages
from playpen.results.store import SHAPE_ERRORS, read_json, shape_error

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
    messages: Messages = []
    for round_events in interactions.get("turns") or []:
        for event in round_events:
            action = event.get("action") or {}
            content = action.get("content")
            if not isinstance(content, str):
                continue
            if event.get("to") == player and event.get("from") == "GM" and action.get("type") == "send message":
                messages.append({"role": "user", "content": content})
            elif event.get("from") == player and event.get("to") == "GM" and action.get("type") == "get message":
                messages.append({"role": "assistant", "content": content})
    return merge_messages(messages)


def episode_dirs(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.rglob("interactions.json"))


def read_perspectives(roots: list[str | Path]) -> Iterator[Perspective]:
    """Every model-backed player's perspective in every recorded episode below ``roots``. A record that cannot
    be read, or is not shaped like one, raises ``ResultsFileError`` naming it."""
    for root in map(Path, roots):
        if not root.is_dir():
            raise PlaypenError(f"results folder not found: {root}")
        for episode_dir in episode_dirs(root):
            path = episode_dir / "interactions.json"
            interactions = read_json(path)
            scores_path = episode_dir / "scores.json"
            # outcome and score: from scores.json when there is one (clembench's), else from the interactions
            source, record = (scores_path, read_json(scores_path)) if scores_path.exists() else (path, interactions)
            try:
                episode = record.get(metrics.EPISODE_SCORES_KEY, {}) if source == scores_path else record
                main = episode.get(metrics.MAIN_SCORE, math.nan)
                main = math.nan if main is None else float(main)
                outcome = _outcome(episode)
            except SHAPE_ERRORS as error:
                raise shape_error(source, error) from None
            try:
                perspectives = list(_episode_perspectives(episode_dir, interactions, outcome, main))
            except SHAPE_ERRORS as error:
                raise shape_error(path, error) from None
            yield from perspectives


def _text(value: Any) -> str:
    """A record's name field as text ("" when absent); other JSON values are not names."""
    if value is None or isinstance(value, str):
        return value or ""
    raise TypeError(f"a name field holds {type(value).__name__} {str(value)[:40]!r}")


def _episode_perspectives(episode_dir: Path, interactions: dict[str, Any], outcome: str,
                          main: float) -> Iterator[Perspective]:
    meta = interactions.get("meta") or {}
    for player, info in (interactions.get("players") or {}).items():
        if player == "GM" or info.get("model_name") in ("programmatic", "mock"):
            continue
        messages = player_messages(interactions, player)
        if not any(m["role"] == "assistant" for m in messages):
            continue
        yield Perspective(
            game=_text(meta.get("game_name")) or episode_dir.parents[2].name,
            experiment=_text(meta.get("experiment_name")) or episode_dir.parent.name,
            game_id=meta.get("game_id"),
            episode_dir=episode_dir,
            player=player,
            role=_text(info.get("game_role")),
            model=_text(info.get("model_name")),
            outcome=outcome,
            main_score=main,
            messages=tuple(messages),
        )

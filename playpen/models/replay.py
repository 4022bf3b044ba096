"""Answers with recorded replies: ``{episode: {role: [reply, ...]}}``, or read from a results folder.

From a results folder, every episode's ``interactions.json`` is read (``playpen.results.records``); the episode
key is ``<game>/<experiment_dir>/<episode_dir>`` (the engine's ``request.episode``), the replies are those of
each model-backed player, filed under the player's ``game_role`` and under its player name ("Player 1"). When
two players share a role name (clembench's matchit_ascii), the request's role is mapped to its player name
through the game's role order. Running out of replies gives an error result.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping, Sequence

from playpen.core.errors import PlaypenError
from playpen.models.base import GenerationRequest, GenerationResult, GenerationSettings, Model
from playpen.results.records import INTERACTIONS_FILE, episodes, model_players, recorded_messages, walking


def read_replies(interactions: Mapping[str, Any]) -> dict[str, list[str]]:
    """``{role or player name: [replies]}`` of one interactions.json (roles shared by two players omitted)."""
    players = model_players(interactions)
    replies: dict[str, list[str]] = {name: [] for name in players}
    for message in recorded_messages(interactions):
        if message.reply:
            replies[message.player].append(message.text)
    roles: dict[str, list[str]] = defaultdict(list)
    for name, info in players.items():
        role = info.get("game_role")
        if isinstance(role, str) and role:
            roles[role].append(name)
    for role, names in roles.items():
        if len(names) == 1 and role not in replies:
            replies[role] = replies[names[0]]
    return replies


def load_results(folder: str | Path) -> dict[str, dict[str, list[str]]]:
    """All recorded replies below a results folder (one run, i.e. one model pair)."""
    root = Path(folder).expanduser()
    replies: dict[str, dict[str, list[str]]] = {}
    sources: dict[str, Path] = {}
    for episode in episodes(root):
        if not episode.file(INTERACTIONS_FILE).exists():
            continue
        if episode.key in replies:
            raise PlaypenError(
                f"two recorded episodes share the key {episode.key} ({sources[episode.key]} and {episode.path}): point "
                "replay at the folder of one run (one model pair), not at a folder holding several"
            )
        with walking(episode.file(INTERACTIONS_FILE)):
            replies[episode.key] = read_replies(episode.interactions)
        sources[episode.key] = episode.path
    if not replies:
        raise PlaypenError(f"no interactions.json below {root}")
    return replies


class ReplayModel(Model):
    batched = True
    concurrent = False

    def __init__(
        self,
        replies: Mapping[str, Mapping[str, Sequence[str]]],
        settings: GenerationSettings | None = None,
        name: str = "replay",
    ):
        super().__init__(settings)
        self.name = name
        self.replies = {episode: {role: list(r) for role, r in roles.items()} for episode, roles in replies.items()}
        self._cursor: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self.source: str | None = None

    @classmethod
    def from_results(
        cls, folder: str | Path, settings: GenerationSettings | None = None, name: str | None = None
    ) -> "ReplayModel":
        model = cls(load_results(folder), settings, name=name or f"replay-{Path(folder).name}")
        model.source = str(folder)
        return model

    def _key(self, request: GenerationRequest, recorded: Mapping[str, Sequence[str]]) -> str | None:
        if request.role in recorded:
            return request.role
        if request.game:  # a role name shared by two players: find "Player N" through the game's role order
            try:
                from playpen.games import get_game

                roles = get_game(request.game).roles
            except Exception:
                return None
            if request.role in roles:
                name = f"Player {roles.index(request.role) + 1}"
                if name in recorded:
                    return name
        return None

    def reset(self) -> None:
        """Start every episode from its first reply again."""
        with self._lock:
            self._cursor.clear()

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        results = []
        for request in requests:
            recorded = self.replies.get(request.episode)
            if recorded is None:
                results.append(
                    GenerationResult(error=f"replay: no recorded episode '{request.episode}'", error_kind="backend")
                )
                continue
            key = self._key(request, recorded)
            if key is None:
                results.append(
                    GenerationResult(
                        error=f"replay: episode '{request.episode}' has no replies for role '{request.role}' "
                        f"(recorded: {', '.join(recorded) or 'none'})",
                        error_kind="backend",
                    )
                )
                continue
            with self._lock:
                index = self._cursor.get((request.episode, key), 0)
                self._cursor[(request.episode, key)] = index + 1
            replies = recorded[key]
            if index >= len(replies):
                results.append(
                    GenerationResult(
                        error=f"replay: ran out of recorded replies for '{request.role}' in '{request.episode}' "
                        f"(only {len(replies)} recorded)",
                        error_kind="backend",
                    )
                )
                continue
            results.append(
                GenerationResult(
                    text=replies[index], prompt={"messages": list(request.messages)}, raw={"replay": index}
                )
            )
        return results

    def info(self) -> dict[str, Any]:
        info = super().info()
        info.update({"backend": "replay", "source": self.source})
        return info

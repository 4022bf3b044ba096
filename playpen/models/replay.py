"""Answers with recorded replies: ``{episode: {role: [reply, ...]}}``, or read from a results folder.

From a results folder, every ``interactions.json`` is read; the episode key is the last three folders
``<game>/<experiment_dir>/<episode_dir>`` (the engine's ``request.episode``), the replies are the
``get message`` events from each player to the GM, filed under the player's ``game_role`` and under its
player name ("Player 1"). When two players share a role name (clembench's matchit_ascii), the request's role is
mapped to its player name through the game's role order. Running out of replies gives an error result.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping, Sequence

from playpen.core.errors import PlaypenError
from playpen.models.base import GenerationRequest, GenerationResult, GenerationSettings, Model
from playpen.results.store import SHAPE_ERRORS, read_json, shape_error


def episode_key(episode_dir: Path) -> str:
    return "/".join(episode_dir.parts[-3:])


def read_replies(interactions: Mapping[str, Any]) -> dict[str, list[str]]:
    """``{role or player name: [replies]}`` of one interactions.json (roles shared by two players omitted)."""
    players = {name: info for name, info in (interactions.get("players") or {}).items()
               if name != "GM" and isinstance(info, dict)}
    by_player: dict[str, list[str]] = defaultdict(list)
    for round_events in interactions.get("turns") or []:
        for event in round_events if isinstance(round_events, list) else []:
            action = event.get("action") if isinstance(event, dict) else None
            if not isinstance(action, dict):
                continue
            sender = event.get("from")
            if action.get("type") == "get message" and event.get("to") == "GM" and isinstance(sender, str) \
                    and sender in players:
                content = action.get("content")
                by_player[event["from"]].append(content if isinstance(content, str) else json.dumps(content))
    replies: dict[str, list[str]] = {name: list(by_player.get(name, [])) for name in players}
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
    if not root.is_dir():
        raise PlaypenError(f"results folder not found: {root}")
    episodes: dict[str, dict[str, list[str]]] = {}
    sources: dict[str, Path] = {}
    for path in sorted(root.rglob("interactions.json")):
        key = episode_key(path.parent)
        if key in episodes:
            raise PlaypenError(
                f"two recorded episodes share the key {key} ({sources[key].parent} and {path.parent}): point replay at "
                "the folder of one run (one model pair), not at a folder holding several"
            )
        interactions = read_json(path)
        try:
            episodes[key] = read_replies(interactions)
        except SHAPE_ERRORS as error:
            raise shape_error(path, error) from None
        sources[key] = path
    if not episodes:
        raise PlaypenError(f"no interactions.json below {root}")
    return episodes


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

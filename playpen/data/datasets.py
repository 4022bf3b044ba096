"""SFT conversations and DPO preference pairs in TRL's standard shapes.

SFT rows: ``messages`` (the player's own view) + ``game``, ``experiment``, ``game_id``, ``role``, ``model``,
``outcome``, ``main_score``, ``split``. DPO rows: ``prompt``, ``chosen``, ``rejected`` (conversational: lists of
messages) + the same metadata and ``level`` (``episode`` | ``turn``) and ``branch_turn``.

The held-out split is by *instance* (game, experiment, game_id), so no instance has rows on both sides.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playpen.core.errors import PlaypenError
from playpen.data.episodes import Perspective

OUTCOMES = ("success", "lose", "aborted")


def holdout_split(key: tuple[str, str, str], fraction: float) -> str:
    """``validation`` for a stable pseudo-random ``fraction`` of instances, ``train`` for the rest."""
    if fraction <= 0:
        return "train"
    digest = hashlib.sha256("/".join(key).encode()).digest()
    return "validation" if int.from_bytes(digest[:8], "big") / 2**64 < fraction else "train"


@dataclass
class Selection:
    games: set[str] | None = None
    roles: set[str] | None = None
    models: set[str] | None = None

    def keep(self, p: Perspective) -> bool:
        return ((not self.games or p.game in self.games) and (not self.roles or p.role in self.roles)
                and (not self.models or p.model in self.models))


def _meta(p: Perspective, split: str) -> dict[str, Any]:
    return {"game": p.game, "experiment": p.experiment, "game_id": p.game_id, "role": p.role, "model": p.model,
            "outcome": p.outcome, "main_score": None if math.isnan(p.main_score) else p.main_score, "split": split}


def sft_rows(
    perspectives: Iterable[Perspective],
    *,
    outcomes: Sequence[str] = ("success",),
    selection: Selection = Selection(),
    turn_level: bool = False,
    dedup: bool = True,
    holdout: float = 0.0,
) -> list[dict[str, Any]]:
    """One row per (episode, player) — or, ``turn_level``, one per assistant turn (the prefix up to it)."""
    rows, seen = [], set()
    for p in perspectives:
        if p.outcome not in outcomes or not selection.keep(p):
            continue
        split = holdout_split(p.instance_key, holdout)
        messages = list(p.messages)
        conversations = (
            [messages[: i + 1] for i, m in enumerate(messages) if m["role"] == "assistant"] if turn_level else [messages]
        )
        for conversation in conversations:
            if dedup:
                key = json.dumps(conversation, sort_keys=True)
                if key in seen:
                    continue
                seen.add(key)
            rows.append({"messages": conversation, **_meta(p, split)})
    return rows


def _first_difference(a: Sequence[dict], b: Sequence[dict]) -> int | None:
    """Index of the first assistant message where ``b`` departs from ``a`` after an identical history."""
    for index in range(min(len(a), len(b))):
        if a[index] != b[index]:
            return index if a[index]["role"] == "assistant" and b[index]["role"] == "assistant" else None
    return None


def dpo_rows(
    perspectives: Iterable[Perspective],
    *,
    level: str = "episode",
    selection: Selection = Selection(),
    negatives_per_positive: int | None = None,
    max_pairs_per_game: int | None = None,
    first_turn_cap: int | None = None,
    holdout: float = 0.0,
) -> list[dict[str, Any]]:
    """Preference pairs from recorded episodes of the same instance and role.

    ``episode``: chosen = a successful conversation, rejected = a lost or aborted one; the prompt is the first
    user message. ``turn``: same history, different next assistant turn (chosen from the successful episode).
    """
    if level not in ("episode", "turn"):
        raise PlaypenError(f"unknown preference level '{level}' (episode or turn)")
    groups: dict[tuple, list[Perspective]] = defaultdict(list)
    for p in perspectives:
        if selection.keep(p):
            groups[(*p.instance_key, p.role)].append(p)
    rows: list[dict[str, Any]] = []
    per_game: dict[str, int] = defaultdict(int)
    first_turns: dict[str, int] = defaultdict(int)
    seen: set[str] = set()
    for key in sorted(groups, key=str):
        members = groups[key]
        winners = [p for p in members if p.outcome == "success"]
        losers = [p for p in members if p.outcome in ("lose", "aborted")]
        for winner in winners:
            used = 0
            for loser in losers:
                if negatives_per_positive is not None and used >= negatives_per_positive:
                    break
                if max_pairs_per_game is not None and per_game[winner.game] >= max_pairs_per_game:
                    break
                chosen, rejected = list(winner.messages), list(loser.messages)
                if level == "episode":
                    if chosen[0] != rejected[0] or chosen == rejected:
                        continue
                    pair = {"prompt": chosen[:1], "chosen": chosen[1:], "rejected": rejected[1:], "branch_turn": 0}
                else:
                    index = _first_difference(chosen, rejected)
                    if index is None:
                        continue
                    turn = sum(m["role"] == "assistant" for m in chosen[:index])
                    if turn == 0 and first_turn_cap is not None:
                        if first_turns[winner.game] >= first_turn_cap:
                            continue
                        first_turns[winner.game] += 1
                    pair = {"prompt": chosen[:index], "chosen": [chosen[index]], "rejected": [rejected[index]],
                            "branch_turn": turn}
                fingerprint = json.dumps(pair, sort_keys=True)
                if fingerprint in seen:
                    continue
                seen.add(fingerprint)
                meta = _meta(winner, holdout_split(winner.instance_key, holdout))
                meta["rejected_model"] = loser.model
                meta["rejected_outcome"] = loser.outcome
                rows.append({**pair, **meta, "level": level})
                per_game[winner.game] += 1
                used += 1
    return rows


def write_rows(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """JSONL (``.jsonl``/``.json``) or parquet (``.parquet``); both load with ``datasets.load_dataset``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        with open(path, "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise PlaypenError(f"dataset not found: {path} (build one with `playpen data sft|dpo`)")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

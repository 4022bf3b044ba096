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
import re
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
    """JSONL (``.jsonl``/``.json``) or parquet (``.parquet``); both load with ``datasets.load_dataset``. The file
    is replaced only once the new one is complete (a failure leaves the old one as it was); a lone surrogate
    (from a recorded reply) is written as U+FFFD."""
    from playpen.results.store import atomic_write_bytes

    path = Path(path)
    rows = _encodable(rows)
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        sink = pa.BufferOutputStream()
        try:
            pq.write_table(pa.Table.from_pylist(rows), sink)
        except (pa.ArrowException, TypeError, ValueError) as error:
            raise PlaypenError(f"cannot write the rows as parquet to {path} ({error}); write .jsonl instead") from None
        atomic_write_bytes(path, sink.getvalue().to_pybytes())
    else:
        atomic_write_bytes(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8"))
    return path


_SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings (keys too) replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if not value.isascii() else value
    if isinstance(value, dict):
        return {_encodable(k): _encodable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encodable(v) for v in value]
    return value


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a dataset file; anything that is not rows (empty, not JSON lines, not parquet, NUL bytes, a
    line that is not an object) is a PlaypenError naming the file and the line."""
    path = Path(path)
    if not path.is_file():
        raise PlaypenError(f"dataset not found: {path} (build one with `playpen data sft|dpo`)")
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path).to_pylist()
        except (pa.ArrowException, OSError) as error:
            raise PlaypenError(f"{path} is not a readable parquet file ({error})") from None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise PlaypenError(f"{path} is not UTF-8 text (byte {error.start}); expected JSON lines") from None
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as error:
            raise PlaypenError(f"{path}, line {number}: not JSON ({error}); expected one JSON object per line") from None
        if not isinstance(row, dict):
            raise PlaypenError(f"{path}, line {number}: a {type(row).__name__}, not a JSON object")
        rows.append(row)
    return rows


def _messages_problem(value: Any, name: str) -> str | None:
    if not isinstance(value, list) or not value:
        return f"'{name}' is not a non-empty list of messages"
    for message in value:
        if not (isinstance(message, dict) and isinstance(message.get("role"), str)
                and isinstance(message.get("content"), str)):
            return f"'{name}' holds {json.dumps(message, default=str)[:60]}, not a {{role, content}} message"
    return None


def check_training_rows(path: str | Path, kind: str) -> list[dict[str, Any]]:
    """The rows of an SFT (``messages``) or DPO (``prompt``/``chosen``/``rejected``) dataset, checked before a
    model is loaded: readable, not empty, some rows to train on (not all ``validation``), every row of the
    shape its trainer needs (an SFT conversation has an assistant turn to learn)."""
    rows = read_rows(path)
    if not rows:
        raise PlaypenError(f"{path} has no rows (build one with `playpen data {kind}`)")
    for number, row in enumerate(rows, 1):
        if kind == "sft":
            problem = _messages_problem(row.get("messages"), "messages")
            if problem is None and not any(m["role"] == "assistant" for m in row["messages"]):
                problem = "its conversation has no assistant turn to learn"
        else:
            missing = [k for k in ("prompt", "chosen", "rejected") if k not in row]
            problem = f"DPO data needs prompt/chosen/rejected (missing {', '.join(missing)})" if missing else next(
                (p for k in ("prompt", "chosen", "rejected") if not isinstance(row[k], str)
                 for p in [_messages_problem(row[k], k)] if p), None)
        if problem:
            raise PlaypenError(f"{path}, row {number}: {problem} (build {kind.upper()} data with `playpen data {kind}`)")
    if all(row.get("split") == "validation" for row in rows):
        raise PlaypenError(f"{path}: all {len(rows)} rows are in the validation split, none to train on "
                           "(build it with a --holdout below 1)")
    return rows

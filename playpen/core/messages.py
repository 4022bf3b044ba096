"""Chat messages, the one shape every layer passes around: ``{"role": ..., "content": ...}`` dicts.

A player's *perspective* is its own list of them; a scripted player (a :data:`Policy`) maps that list to a reply.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping

Messages = list[dict[str, str]]
#: A scripted player: given the player's own messages, return its reply.
Policy = Callable[[Messages], str]

SEPARATOR = "\n\n"


def merge_messages(messages: Iterable[Mapping[str, str]]) -> Messages:
    """Merge consecutive messages of the same role (contents joined with a blank line).

    Chat templates (and most servers) expect alternating roles; games sometimes send two user messages in
    a row. The input is not modified; extra keys of the first message of a run are kept.
    """
    merged: Messages = []
    for message in messages:
        role = message.get("role", "user")
        content = message.get("content") or ""
        if not isinstance(content, str):
            content = str(content)
        if merged and merged[-1]["role"] == role:
            merged[-1]["content"] = merged[-1]["content"] + SEPARATOR + content
        else:
            merged.append({**dict(message), "role": role, "content": content})
    return merged


def last_user_message(messages: Iterable[Mapping[str, str]]) -> str:
    """The content of the last ``user`` message ("" when there is none)."""
    text = ""
    for message in messages:
        if message.get("role") == "user":
            text = message.get("content") or ""
    return text

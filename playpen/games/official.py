"""The prompt texts that clembench's official instance files carry.

clembench writes a game's prompts into its instance files (``player_1_prompt_header``, ``prompt``,
``initial_prompt``, ...). Those texts are data: when an instance carries one, the game sends it exactly as
clembench does (filled in and joined per turn the way clembench's game does it), so that a model sees
clembench's prompts byte for byte and its scores compare with the leaderboard's. Instances from our own
generators carry none, and the games' own wording (their ``prompts`` modules) applies.
"""

from __future__ import annotations

from typing import Any, Mapping


def official_text(instance: Mapping[str, Any], key: str) -> str | None:
    """The prompt text the instance carries under ``key``; None when it carries none (our own instances)."""
    value = instance.get(key)
    return value if isinstance(value, str) else None


def fill(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each placeholder (a literal string such as ``$TARGET_WORD$``) replaced by its value, in
    the given order: clembench fills its templates with plain string replacement, not a template engine."""
    for placeholder, value in values.items():
        template = template.replace(placeholder, value)
    return template

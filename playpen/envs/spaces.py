"""Gymnasium spaces for chat text (needs ``gymnasium``: the ``gym`` or ``pettingzoo`` extra).

Gymnasium's ``Text`` space only holds characters of a fixed, small charset (letters and digits by default); a
game's prompts and a model's replies are any Unicode. ``ChatText`` holds any string up to ``max_length``
characters; ``ReplyText`` is the space of a player's replies, and its samples are what ``check_game`` plays:
hostile replies (empty, huge, control characters, the game's protocol markers) and random text.
"""

from __future__ import annotations

import random
from typing import Any, Sequence

from playpen.core.check import random_response
from playpen.core.errors import PlaypenError

try:
    import gymnasium
except ImportError:
    raise PlaypenError("Playpen's Gymnasium spaces need gymnasium: pip install 'playpen[gym]'") from None

#: characters; longer than any prompt or reply of the games (a hostile reply of 100,000 characters fits)
MAX_TEXT = 1 << 20


class ChatText(gymnasium.spaces.Text):
    """Any text of at most ``max_length`` characters (samples are drawn from the charset, as ``Text`` does)."""

    def __init__(self, max_length: int = MAX_TEXT, **kwargs: Any):
        super().__init__(max_length=max_length, min_length=0, **kwargs)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.max_length})"


class ReplyText(ChatText):
    """A player's reply: any text; a sample is one of ``check_game``'s random or hostile replies (``markers``: the
    games' ``protocol_markers`` among them)."""

    def __init__(self, markers: Sequence[str] = (), **kwargs: Any):
        super().__init__(**kwargs)
        self.markers = tuple(markers)

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        return random_response(random.Random(int(self.np_random.integers(2**63))), self.markers)


def message_space() -> gymnasium.spaces.Dict:
    """One chat message, ``{"role": ..., "content": ...}``."""
    return gymnasium.spaces.Dict({"role": ChatText(64), "content": ChatText()})

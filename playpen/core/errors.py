"""Errors.

Two families:

* ``PlaypenError``: something the *user* must fix (unknown game, bad instance file, unreachable server).
  The CLI prints its message as one line and exits non-zero, without a traceback.
* ``ResponseError``: something a *player* said. ``ParseError`` means the reply does not follow the
  protocol (missing tag, extra lines) and is counted as a violated request; ``GameError`` subclasses mean
  the reply parsed but cannot be applied (a rule is broken, a move is impossible). What each one does to
  the episode is the game's decision (usually: parse error → aborted, rule violation → lost).
"""

from __future__ import annotations


class PlaypenError(Exception):
    """A user-facing error whose message says what to do."""


class ResponseError(Exception):
    def __init__(self, reason: str = "", response: str | None = None, key: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.response = response
        self.key = key

    def __str__(self) -> str:
        return f"{type(self).__name__}: {self.reason}"


class ParseError(ResponseError):
    """The reply does not follow the communication protocol."""


class GameError(ResponseError):
    """The reply parsed but causes a problem advancing the game."""


class RuleViolation(GameError):
    """The reply breaks a rule of the game (e.g. a taboo word, a 6-letter Wordle guess)."""


class NotApplicable(GameError):
    """The reply cannot be applied to the current state of the game."""

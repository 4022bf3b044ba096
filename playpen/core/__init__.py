"""The game contract: game spec, game master, outcomes and stop reasons, errors, chat messages, instances.
Standard library only."""

from playpen.core.errors import (
    GameError,
    NotApplicable,
    ParseError,
    PlaypenError,
    ResponseError,
    RuleViolation,
)
from playpen.core.master import GameMaster, Outcome, Status, StopReason
from playpen.core.registry import GameSpec

__all__ = [
    "GameError",
    "GameMaster",
    "GameSpec",
    "NotApplicable",
    "Outcome",
    "ParseError",
    "PlaypenError",
    "ResponseError",
    "RuleViolation",
    "Status",
    "StopReason",
]

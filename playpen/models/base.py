"""The one interface every model backend implements: batched chat generation.

A request carries the player's messages plus *who is asking* (game, role, episode), which only the
programmatic backends (scripted, replay) look at. Backends never raise for a failed request: after their
own retries they return a result with ``error`` set, so the engine can mark that one episode as errored
and go on with the others.

A result may carry the tokens behind its text (``prompt_token_ids``, ``token_ids``, ``logprobs``): the local
model fills them, a server when it returns them; GRPO trains on exactly those tokens.
"""

from __future__ import annotations

import asyncio
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from playpen.core.messages import Messages

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate (e.g. from a ``\\ud800`` escape in a server's JSON) replaced by U+FFFD:
    such a string cannot be encoded as UTF-8, so it could neither be recorded nor sent back in the history."""
    if text.isascii():
        return text
    return _LONE_SURROGATE.sub("\ufffd", text)


@dataclass(frozen=True)
class GenerationRequest:
    messages: Messages
    game: str = ""
    role: str = ""
    #: unique key of the episode within a run (e.g. ``taboo/0_high_en/episode_3``)
    episode: str = ""
    experiment: Mapping[str, Any] | None = None
    instance: Mapping[str, Any] | None = None


@dataclass
class GenerationResult:
    text: str = ""
    #: what was actually sent (rendered prompt or request body), for the records
    prompt: Any = None
    #: the backend's raw answer (JSON-able)
    raw: Any = None
    #: set when the request failed after retries; the text is then meaningless
    error: str | None = None
    #: "backend": server/runtime failure (episode errored, not scored);
    #: "context": the conversation does not fit the model's context (episode aborted with that reason)
    error_kind: Literal["backend", "context"] | None = None
    usage: dict[str, int] = field(default_factory=dict)
    #: the prompt's token ids exactly as the model read them (None: the backend does not know them)
    prompt_token_ids: list[int] | None = None
    #: the generated token ids exactly as sampled, before decoding and stripping (a stop token included when
    #: one ended the reply); ``text`` is decoded from them. None: the backend does not report tokens
    token_ids: list[int] | None = None
    #: the log-probability of each token in ``token_ids`` under the sampling distribution, where the backend
    #: reports it
    logprobs: list[float] | None = None

    def __post_init__(self) -> None:
        # the model boundary: whatever a backend returns, the games and the records get encodable text
        if isinstance(self.text, str):
            self.text = clean_text(self.text)
        if isinstance(self.error, str):
            self.error = clean_text(self.error)


@dataclass
class GenerationSettings:
    """How a model generates. The defaults here are the framework's (greedy, 300 new tokens); a registry entry's
    ``temperature`` / ``max_tokens`` replace them (``from_entry``), and a caller's explicit settings replace both."""

    temperature: float = 0.0
    max_tokens: int = 300

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> "GenerationSettings":
        """The entry's own ``temperature`` / ``max_tokens`` where it sets them, else the framework defaults."""
        defaults = cls()
        return cls(temperature=float(entry.get("temperature", defaults.temperature)),
                   max_tokens=int(entry.get("max_tokens", defaults.max_tokens)))


class Model(ABC):
    """A chat model. ``generate`` answers a batch of requests in order."""

    #: name used in results folders and records
    name: str = "model"
    #: True when one ``generate`` call over many requests is much cheaper than many calls (local models)
    batched: bool = False
    #: True for remote servers: the engine drives them with ``agenerate`` and many requests in flight
    concurrent: bool = False

    def __init__(self, settings: GenerationSettings | None = None):
        self.settings = settings or GenerationSettings()

    @abstractmethod
    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        """One result per request, in order. Must not raise for a single failed request."""

    async def agenerate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        return await asyncio.to_thread(self.generate, requests)

    def info(self) -> dict[str, Any]:
        """What goes into the records' ``player_models`` entry."""
        return {"model_name": self.name, "backend": type(self).__name__}

    def close(self) -> None:
        """Release resources (HTTP clients, GPU memory)."""

"""OpenEnv's wire types for Playpen's games, and the client (``pip install 'playpen[serve]'``).

``playpen serve`` (``playpen.envs.server``) speaks OpenEnv's protocol; a trainer talks to it with
:class:`PlaypenClient`, OpenEnv's ``EnvClient`` (one WebSocket per session, each with its own game master)::

    with PlaypenClient(base_url="http://127.0.0.1:8000").sync() as env:
        result = env.reset(seed=3)                     # the learner's first turn
        while not result.done:
            reply = my_model(result.observation.messages)
            result = env.step(PlaypenAction(text=reply))
        result.reward, result.observation.info["scores"]

This module imports only OpenEnv (and pydantic), never the games.
"""

from __future__ import annotations

from typing import Any

from playpen.core.errors import PlaypenError

try:
    from openenv.core.client_types import StepResult
    from openenv.core.env_client import EnvClient
    from openenv.core.env_server.types import Action, Observation, State
    from pydantic import Field
except ImportError:
    raise PlaypenError("serving needs OpenEnv: pip install 'playpen[serve]'") from None


class PlaypenAction(Action):
    """The learner's reply."""

    text: str = Field(description="the learner's reply, as its model wrote it")


class PlaypenObservation(Observation):
    """What the learner sees: its chat so far (empty once the episode is over) and the step's info."""

    messages: list[dict[str, str]] = Field(default_factory=list, description="the learner's chat messages")
    role: str = Field(default="", description="the learner's role")
    game: str = Field(default="", description="the game being played")
    truncated: bool = Field(default=False, description="a turn limit or a context overflow cut the episode short")
    info: dict[str, Any] = Field(default_factory=dict, description="outcome, stop reason, feedback, scores at the end")


class PlaypenState(State):
    """A session's episode: which instance, whose turn, how far."""

    game: str | None = None
    instance: str | None = Field(default=None, description="<game>/<experiment>/<episode>: the instance's key")
    role: str | None = None
    outcome: str | None = None
    recorded: str | None = Field(default=None, description="the episode's results folder, once written")


class PlaypenClient(EnvClient[PlaypenAction, PlaypenObservation, PlaypenState]):
    """OpenEnv client of ``playpen serve``. ``reset(seed=..., game=..., index=...)``; ``step(PlaypenAction(text))``."""

    def _step_payload(self, action: PlaypenAction) -> dict[str, Any]:
        return {"text": action.text}

    def _parse_result(self, payload: dict[str, Any]) -> StepResult[PlaypenObservation]:
        fields = {k: v for k, v in payload.get("observation", {}).items() if k != "metadata"}
        observation = PlaypenObservation(**fields, done=payload.get("done", False), reward=payload.get("reward"))
        return StepResult(observation=observation, reward=payload.get("reward"), done=payload.get("done", False))

    def _parse_state(self, payload: dict[str, Any]) -> PlaypenState:
        return PlaypenState(**payload)

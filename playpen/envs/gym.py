"""Optional Gymnasium adapter: ``gymnasium.make("playpen/taboo-v0", role=..., partners=...)``.

The Gymnasium observation is the text of the learner's newest message; the whole chat (what a chat model
needs) is in ``info["messages"]``. Requires ``pip install gymnasium`` (extra ``playpen[gym]``).
"""

from __future__ import annotations

from typing import Any

from playpen.core.errors import PlaypenError
from playpen.envs.text_env import TextEnv


def _gymnasium():
    try:
        import gymnasium
    except ImportError:
        raise PlaypenError("the Gymnasium adapter needs gymnasium: pip install 'playpen[gym]'") from None
    return gymnasium


def _env_class():
    gymnasium = _gymnasium()
    from playpen.envs.spaces import ChatText, ReplyText

    class GymTextEnv(gymnasium.Env):
        """A :class:`TextEnv` behind Gymnasium's ``Env`` interface."""

        metadata = {"render_modes": ["ansi"]}

        def __init__(self, game: str, render_mode: str | None = None, **kwargs: Any):
            self.env = TextEnv(game, **kwargs)
            self.render_mode = render_mode
            self.observation_space = ChatText()
            self.action_space = ReplyText([marker for spec in self.env.specs.values()
                                           for marker in spec.protocol_markers])
            self._messages: list[dict[str, str]] = []

        def _observe(self, messages: list[dict[str, str]], info: dict) -> tuple[str, dict]:
            self._messages = messages
            info = {**info, "messages": messages}
            return (messages[-1]["content"] if messages else ""), info

        def reset(self, *, seed: int | None = None, options: dict | None = None):
            super().reset(seed=seed)
            messages, info = self.env.reset(seed=seed, options=options)
            return self._observe(messages, info)

        def step(self, action: str):
            messages, reward, terminated, truncated, info = self.env.step(action)
            observation, info = self._observe(messages, info)
            return observation, reward, terminated, truncated, info

        def render(self) -> str:
            return "\n\n".join(f"[{m['role']}] {m['content']}" for m in self._messages)

        def close(self) -> None:
            self.env.close()

    return GymTextEnv


def register_gymnasium() -> list[str]:
    """Register every implemented game as ``playpen/<game>-v0``; returns the ids."""
    gymnasium = _gymnasium()
    from playpen.games import available_games

    ids = []
    env_class = _env_class()
    for name in available_games():
        env_id = f"playpen/{name}-v0"
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=env_class, kwargs={"game": name}, disable_env_checker=True)
        ids.append(env_id)
    return ids

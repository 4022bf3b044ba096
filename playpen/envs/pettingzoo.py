"""PettingZoo's AEC API over a game: every role is an agent (``pip install 'playpen[pettingzoo]'``).

``env("taboo")`` (wrapped in PettingZoo's order-enforcing wrapper) or ``raw_env("taboo")``:

* ``possible_agents`` are the game's roles (``WordDescriber``, ``WordGuesser``), ``agent_selection`` the role
  whose turn it is (the game master decides, as in the engine);
* an observation is that role's chat, ``{"messages": ({"role": ..., "content": ...}, ...)}`` — the messages
  its model would be sent (a dict, so PettingZoo's checker compares no NumPy dtype; the space is
  ``Dict(messages=Sequence(Dict(role=ChatText, content=ChatText)))``);
* an action is the reply text (space ``ReplyText``: any text; its samples are hostile and random replies);
* every role gets the episode's reward (``reward=``, as in ``TextEnv``) when the episode ends, and all roles then
  end together: ``truncations`` when a turn limit or a context overflow cut it short, ``terminations`` otherwise.

Built on :class:`MultiAgentTextEnv` (instances, rewards) and ``rollout.engine.apply_reply``.
"""

from __future__ import annotations

from typing import Any

from playpen.core.errors import PlaypenError
from playpen.core.master import TRUNCATIONS
from playpen.core.registry import GameSpec
from playpen.envs.text_env import MultiAgentTextEnv, step_info

try:
    import gymnasium
    from pettingzoo import AECEnv
    from pettingzoo.utils.wrappers import OrderEnforcingWrapper
except ImportError:
    raise PlaypenError("the PettingZoo API needs pettingzoo: pip install 'playpen[pettingzoo]'") from None

from playpen.envs.spaces import ReplyText, message_space


def observation_space() -> gymnasium.spaces.Dict:
    """A role's chat: ``{"messages": tuple of {"role", "content"} dicts}``."""
    return gymnasium.spaces.Dict({"messages": gymnasium.spaces.Sequence(message_space(), stack=False)})


class PlaypenAECEnv(AECEnv):
    """One game as a PettingZoo AEC environment; keyword arguments as :class:`MultiAgentTextEnv`
    (``split``, ``instances``, ``reward``, ``abort_penalty``). ``reset(options=...)`` takes
    ``{"index": i}`` or ``{"instance": InstanceRow}`` to choose the instance; ``seed`` makes sampling reproducible."""

    metadata = {"render_modes": ["ansi"], "is_parallelizable": False}

    def __init__(self, game: str | GameSpec, *, render_mode: str | None = None, **kwargs: Any):
        super().__init__()
        self.game = MultiAgentTextEnv(game, **kwargs)
        self.metadata = {**self.metadata, "name": f"playpen_{self.game.spec.name}_v0"}
        self.render_mode = render_mode
        self.possible_agents = list(self.game.agents)
        self.observation_spaces = {agent: observation_space() for agent in self.possible_agents}
        self.action_spaces = {agent: ReplyText(self.game.spec.protocol_markers) for agent in self.possible_agents}
        self.agents: list[str] = []

    def observation_space(self, agent: str) -> gymnasium.spaces.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gymnasium.spaces.Space:
        return self.action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None) -> None:
        if seed is not None:
            for number, agent in enumerate(self.possible_agents):
                self.action_spaces[agent].seed(seed + number)
        self.game.reset(seed=seed, options=options)
        self.agents = list(self.possible_agents)
        self.rewards = {agent: 0.0 for agent in self.agents}
        self._cumulative_rewards = {agent: 0.0 for agent in self.agents}
        self.terminations = {agent: False for agent in self.agents}
        self.truncations = {agent: False for agent in self.agents}
        self._seen_events = 0
        self._update_infos()
        self.agent_selection = self.game.agent_selection

    def observe(self, agent: str) -> dict[str, tuple[dict[str, str], ...]]:
        return {"messages": tuple({"role": m["role"], "content": m["content"]} for m in self.game.observe(agent))}

    def step(self, action: str | None) -> None:
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        if not isinstance(action, str):
            raise TypeError(f"{agent}'s action is its reply text, not {type(action).__name__}")
        self._cumulative_rewards[agent] = 0.0
        self.game.step(action)
        master = self.game.master
        if master.done:
            truncated = master.outcome.stop in TRUNCATIONS
            for role in self.agents:
                self.rewards[role] = self.game.rewards[role]
                self.truncations[role] = truncated
                self.terminations[role] = not truncated
            self._update_infos()
            self._accumulate_rewards()  # the acting role stays selected: the finished roles step None in turn
            return
        self._update_infos()
        self.agent_selection = self.game.agent_selection

    def render(self) -> str | None:
        if self.render_mode != "ansi" or self.game.master is None:
            return None
        role = self.agent_selection
        return "\n\n".join(f"[{m['role']}] {m['content']}" for m in self.game.observe(role))

    def close(self) -> None:
        self.agents = []

    def _update_infos(self) -> None:
        """Each role's ``info``: the step info of ``TextEnv`` (outcome, stop reason, scores once finished, the
        game master's feedback since the previous step) as that role sees it."""
        master = self.game.master
        self.infos = {agent: step_info(master, agent, self._seen_events) for agent in self.agents}
        self._seen_events = sum(len(events) for events in master.rounds)


def raw_env(game: str | GameSpec, **kwargs: Any) -> PlaypenAECEnv:
    return PlaypenAECEnv(game, **kwargs)


def env(game: str | GameSpec, **kwargs: Any) -> OrderEnforcingWrapper:
    """``playpen.envs.pettingzoo.env("taboo", split="train")``: the AEC env in PettingZoo's usual wrapper."""
    return OrderEnforcingWrapper(PlaypenAECEnv(game, **kwargs))

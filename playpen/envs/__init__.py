"""RL-facing interfaces: Gymnasium-style text environments, rewards."""

from playpen.envs.rewards import REWARDS, get_reward
from playpen.envs.text_env import InstanceSampler, MultiAgentTextEnv, TextEnv, make

__all__ = ["REWARDS", "InstanceSampler", "MultiAgentTextEnv", "TextEnv", "get_reward", "make"]

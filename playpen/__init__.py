"""Playpen: learning through conversational interaction in dialogue games."""

__version__ = "0.1.0"


def make(game, **kwargs):
    """A text environment for one learner role: see :func:`playpen.envs.make`."""
    from playpen.envs import make as make_env

    return make_env(game, **kwargs)

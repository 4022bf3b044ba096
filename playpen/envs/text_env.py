"""Gymnasium-style text environments over the games.

``TextEnv``: one *learner* role; partner roles are played automatically between the learner's turns by any
:class:`Model` (a local or served LLM, a scripted player, or the learner's own model for self-play).
The observation is the learner's own chat messages; the reward comes at the end of the episode.

``MultiAgentTextEnv``: every role is a learner (turn-based, PettingZoo-AEC-like): ``agent_selection`` names
the role to act, ``observe(role)`` gives its messages, ``step(text)`` applies the reply.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from playpen.core.errors import PlaypenError
from playpen.core.instances import InstanceRow, iter_rows, load_instances
from playpen.core.master import TRUNCATIONS, GameMaster, Status, StopReason
from playpen.core.messages import Messages
from playpen.core.registry import GameSpec
from playpen.envs.rewards import RewardFn, get_reward
from playpen.models.base import GenerationRequest, GenerationResult, Model
from playpen.rollout.engine import apply_reply


#: numbers the episodes of every env in this process, so that no two envs sharing a partner model (a scripted
#: player keeps one policy per episode name) ever use the same episode name
_EPISODE_NUMBERS = itertools.count(1)


def _spec(game: str | GameSpec) -> GameSpec:
    if isinstance(game, GameSpec):
        return game
    from playpen.games import get_game

    return get_game(game)


def _model(model: Model | str) -> Model:
    if isinstance(model, Model):
        return model
    from playpen.models.registry import load_model

    return load_model(model)


@dataclass
class InstanceSampler:
    """Samples (game, instance) rows over several games with per-game weights, reproducibly."""

    rows: dict[str, list[InstanceRow]]
    weights: dict[str, float]

    @classmethod
    def from_specs(cls, specs: Sequence[GameSpec], *, split: str = "train",
                   instances: str | Mapping[str, str] | None = None,
                   weights: Mapping[str, float] | None = None) -> "InstanceSampler":
        """Rows of ``split``, or of ``instances``: one instances file for every game, or one per game name (the
        games it does not name use ``split``)."""
        rows = {}
        for spec in specs:
            source = instances.get(spec.name) if isinstance(instances, Mapping) else instances
            data = load_instances(source) if source else load_instances(spec.instances_file(split))
            rows[spec.name] = list(iter_rows(spec.name, data))
            if not rows[spec.name]:
                raise PlaypenError(f"{spec.name}: no instances in split '{split}'")
        chosen = {name: float((weights or {}).get(name, 1.0)) for name in rows}
        if not any(chosen.values()):
            raise PlaypenError("all game weights are zero")
        return cls(rows, chosen)

    def sample(self, rng: random.Random) -> InstanceRow:
        names = list(self.rows)
        game = rng.choices(names, weights=[self.weights[n] for n in names])[0]
        return rng.choice(self.rows[game])

    def choose(self, options: Mapping[str, Any], rng: random.Random) -> InstanceRow:
        """The instance a reset asks for: ``{"instance": InstanceRow}``, ``{"game": name, "index": i}`` (the
        i-th row of that game, modulo its count; ``game`` defaults to the first), ``{"game": name}`` (one of its
        rows drawn from ``rng``), or else one sampled from ``rng`` over all games."""
        if "instance" in options:
            row = options["instance"]
            if row.game not in self.rows:
                raise PlaypenError(f"instance of game '{row.game}' given to an env for {', '.join(self.rows)}")
            return row
        if "index" not in options and "game" not in options:
            return self.sample(rng)
        game = options.get("game") or next(iter(self.rows))
        if not isinstance(game, str) or game not in self.rows:
            raise PlaypenError(f"unknown game {game!r} (this env plays {', '.join(self.rows)})")
        if "index" not in options:
            return rng.choice(self.rows[game])
        index = options["index"]
        if isinstance(index, bool) or not isinstance(index, int):
            raise PlaypenError(f"the instance index must be an integer, not {index!r}")
        return self.rows[game][index % len(self.rows[game])]


def step_info(master: GameMaster, role: str | None, seen_events: int) -> dict[str, Any]:
    """What ``info`` reports: outcome, scores when finished, the game master's feedback since the last step."""
    events = [e for events in master.rounds for e in events]
    feedback = [
        {"type": e["action"]["type"], "content": e["action"]["content"]}
        for e in events[seen_events:]
        if e["from"] == "GM" and e["to"] == "GM"
    ]
    info: dict[str, Any] = {
        "game": master.name,
        "experiment": master.experiment.get("name"),
        "game_id": master.game_id,
        "role": role,
        "outcome": master.outcome.status.value,
        "reason": master.outcome.reason,
        "requests": master.requests,
        "feedback": feedback,
        #: why the episode stopped (``StopReason``'s value), None while it runs
        "stop": None if master.outcome.stop is None else master.outcome.stop.value,
    }
    if master.done:
        info["scores"] = master.scores()["episode scores"]
    return info


def _apply(master: GameMaster, answer: GenerationResult) -> None:
    """One reply into the game master through ``apply_reply``, as the engine steps it; a failed model ends the
    episode (an env has no errored episodes), a game master that raises is a bug and raises here."""
    step = apply_reply(master, answer)
    if step.stop is StopReason.BACKEND_ERROR:
        master.interrupt(StopReason.BACKEND_ERROR, answer.error or "")
    elif step.stop is StopReason.GAME_BUG:
        raise RuntimeError(f"{master.name}: {step.error}")


class TextEnv:
    """One learner role against automatic partners. Create with :func:`playpen.make`."""

    def __init__(
        self,
        games: str | GameSpec | Sequence[str | GameSpec],
        *,
        role: str | Mapping[str, str] | None = None,
        partners: Mapping[str, Model | str] | Model | str | None = None,
        split: str = "train",
        instances: str | None = None,
        weights: Mapping[str, float] | None = None,
        reward: str | RewardFn = "main_score",
        abort_penalty: float = 0.0,
        max_partner_retries: int = 3,
        sampler: InstanceSampler | None = None,
    ):
        specs = [_spec(g) for g in ([games] if isinstance(games, (str, GameSpec)) else games)]
        self.specs = {spec.name: spec for spec in specs}
        self.learner_roles = {name: self._learner_role(spec, role) for name, spec in self.specs.items()}
        self._owned: list[Model] = []
        self.partners = self._partners(partners)
        # ``sampler``: instances chosen by the caller (e.g. ``playpen serve``'s, shared by its sessions)
        self.sampler = sampler or InstanceSampler.from_specs(specs, split=split, instances=instances, weights=weights)
        self.reward_fn = get_reward(reward, abort_penalty=abort_penalty)
        self.max_partner_retries = max_partner_retries
        self.rng = random.Random()
        self.master: GameMaster | None = None
        self.row: InstanceRow | None = None
        self._seen_events = 0
        self._episode = 0

    @staticmethod
    def _learner_role(spec: GameSpec, role: str | Mapping[str, str] | None) -> str:
        return spec.learner_role(role.get(spec.name) if isinstance(role, Mapping) else role)

    def _partners(self, partners) -> dict[tuple[str, str], Model]:
        table: dict[tuple[str, str], Model] = {}
        loaded: dict[str, Model] = {}
        for name, spec in self.specs.items():
            for other in spec.roles:
                if other == self.learner_roles[name]:
                    continue
                if partners is None:
                    raise PlaypenError(f"{name}: role '{other}' needs a partner (partners={{'{other}': model}})")
                model = partners.get(other) if isinstance(partners, Mapping) else partners
                if model is None:
                    raise PlaypenError(f"{name}: no partner given for role '{other}'")
                if not isinstance(model, Model):
                    if model not in loaded:
                        loaded[model] = _model(model)
                        self._owned.append(loaded[model])
                    model = loaded[model]
                table[(name, other)] = model
        return table

    # ------------------------------------------------------------------ Gymnasium-style API
    @property
    def learner_role(self) -> str | None:
        return None if self.master is None else self.learner_roles[self.master.name]

    def reset(self, *, seed: int | None = None, options: Mapping[str, Any] | None = None) -> tuple[Messages, dict]:
        """Start an episode. ``options``: ``{"instance": InstanceRow}`` or ``{"game": name, "index": i}``
        to choose the instance; otherwise one is sampled (``seed`` makes the sampling reproducible)."""
        if seed is not None:
            self.rng.seed(seed)
        options = options or {}
        for attempt in range(self.max_partner_retries + 1):
            self.row = self.sampler.choose(options, self.rng)
            self.master = self.specs[self.row.game].new_episode(self.row.experiment, self.row.instance)
            self._episode = next(_EPISODE_NUMBERS)
            self._seen_events = 0
            self._play_partners()
            if not self.master.done:
                break
            # the partner ended the episode before the learner said anything: not the learner's doing
            if "instance" in options or "index" in options:
                break
        info = self._info()
        return self.master.messages_for(self.learner_role), info

    def step(self, action: str) -> tuple[Messages, float, bool, bool, dict]:
        """Gymnasium's ``(observation, reward, terminated, truncated, info)``: an episode that a turn limit or a
        context overflow cut short is ``truncated``, one the game decided is ``terminated``."""
        master = self._require_running()
        _apply(master, GenerationResult(text=action))
        self._play_partners()
        info = self._info()
        if master.done:
            truncated = master.outcome.stop in TRUNCATIONS
            return [], self.reward_fn(master), not truncated, truncated, info
        return master.messages_for(self.learner_role), 0.0, False, False, info

    def close(self) -> None:
        """Close the partner models this env loaded from aliases (models passed in belong to the caller)."""
        for model in self._owned:
            model.close()
        self._owned = []

    # ------------------------------------------------------------------ internals
    def _require_running(self) -> GameMaster:
        if self.master is None:
            raise RuntimeError("call reset() before step()")
        if self.master.done:
            raise RuntimeError("the episode is over; call reset()")
        return self.master

    def _play_partners(self) -> None:
        master = self.master
        assert master is not None and self.row is not None
        self.partner_error: str | None = None
        while not master.done and master.current_role != self.learner_roles[master.name]:
            role = master.current_role
            model = self.partners[(master.name, role)]
            request = GenerationRequest(master.messages_for(role), game=master.name, role=role,
                                        episode=f"{self.row.key}#{self._episode}", experiment=self.row.experiment,
                                        instance=self.row.instance)
            result = model.generate([request])[0]
            if result.error is not None:
                self.partner_error = result.error
            _apply(master, result)

    def _info(self) -> dict[str, Any]:
        master = self.master
        assert master is not None
        info = step_info(master, self.learner_role, self._seen_events)
        self._seen_events = sum(len(r) for r in master.rounds)
        outcome = master.outcome
        info["aborted_by_partner"] = (outcome.status is Status.ABORTED
                                      and outcome.role not in (None, self.learner_roles[master.name]))
        if self.partner_error:
            info["partner_error"] = self.partner_error
        return info


class MultiAgentTextEnv:
    """Every role is a learner. Turn-based: act for ``agent_selection`` until ``done``."""

    def __init__(self, game: str | GameSpec, *, split: str = "train", instances: str | None = None,
                 reward: str | RewardFn = "main_score", abort_penalty: float = 0.0,
                 sampler: InstanceSampler | None = None):
        self.spec = _spec(game)
        self.sampler = sampler or InstanceSampler.from_specs([self.spec], split=split, instances=instances)
        self.reward_fn = get_reward(reward, abort_penalty=abort_penalty)
        self.rng = random.Random()
        self.master: GameMaster | None = None
        self.row: InstanceRow | None = None
        self.rewards: dict[str, float] = {}
        self._seen_events = 0

    @property
    def agents(self) -> tuple[str, ...]:
        return self.spec.roles

    @property
    def agent_selection(self) -> str | None:
        return None if self.master is None else self.master.current_role

    @property
    def done(self) -> bool:
        return self.master is not None and self.master.done

    def reset(self, *, seed: int | None = None, options: Mapping[str, Any] | None = None) -> None:
        if seed is not None:
            self.rng.seed(seed)
        self.row = row = self.sampler.choose(options or {}, self.rng)
        self.master = self.spec.new_episode(row.experiment, row.instance)
        self.rewards = {role: 0.0 for role in self.agents}
        self._seen_events = 0

    def observe(self, role: str) -> Messages:
        assert self.master is not None
        return self.master.messages_for(role)

    def last(self) -> tuple[Messages, float, bool, dict]:
        """(observation, reward, done, info) for the agent to act (PettingZoo's ``last``)."""
        assert self.master is not None
        role = self.agent_selection
        info = step_info(self.master, role, self._seen_events)
        return (self.observe(role) if role else []), (self.rewards.get(role, 0.0) if role else 0.0), self.done, info

    def step(self, action: str) -> None:
        master = self.master
        if master is None or master.done:
            raise RuntimeError("call reset() first; the episode is over")
        self._seen_events = sum(len(r) for r in master.rounds)
        _apply(master, GenerationResult(text=action))
        if master.done:
            value = self.reward_fn(master)
            self.rewards = {role: value for role in self.agents}  # cooperative games: a team reward


def make(game: str | GameSpec | Sequence[str | GameSpec], **kwargs: Any) -> TextEnv:
    """``playpen.make("taboo", role="WordGuesser", partners={"WordDescriber": model}, split="train")``."""
    return TextEnv(game, **kwargs)

"""GRPO's group play, without any trainer: the episodes a step's groups are played in, and their rewards.

A *group* is a run of equal ``(game, instance key, role)`` keys (TRL repeats each dataset row ``group_size``
times). ``GroupPlay.play_step`` plays a step's groups in one batch: groups of one instance in different roles
share their episodes (``episode_sets``); with branching a group forks from one trunk (``play_branching``);
episodes the partner spoiled are played again, then replaced within their group (``replace_partner_failures``);
flat groups are replayed on another instance (dynamic sampling); an abort is charged to the role that caused it.
``playpen.train.grpo.EpisodeRollout`` turns the episodes into TRL's token sequences and loss masks."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from playpen.core.errors import PlaypenError
from playpen.core.instances import InstanceRow
from playpen.core.master import GameMaster, Status
from playpen.core.messages import merge_messages
from playpen.core.registry import GameSpec
from playpen.envs.rewards import get_reward
from playpen.models.base import Model
from playpen.rollout.engine import EpisodeJob, EpisodeResult, run_episodes


@dataclass
class PlayedEpisode:
    result: EpisodeResult
    #: None when the episode carries no signal (an unscorable batch, see ``replace_partner_failures``)
    reward: float | None
    learner_role: str
    #: the episode played in this slot was spoiled by the partner and this one (of the same group) replaces it
    replaced: bool = False
    #: the learner's first replies that the group shares (branching): not trained on
    shared_replies: int = 0
    #: the learner played every role: an abort by any role is the learner's own, never the partner's
    self_play: bool = False

    @property
    def master(self) -> GameMaster | None:
        return self.result.master

    @property
    def partner_failure(self) -> bool:
        """Spoiled without the learner's fault: errored, aborted by another player, or the learner never spoke."""
        master = self.result.master
        if self.result.errored or master is None or not master.done:
            return True
        if not any(m["role"] == "assistant" for m in master.history_of[self.learner_role]):
            return True
        if master.outcome.status is not Status.ABORTED or self.self_play:
            return False
        return master.outcome.role != self.learner_role

    def learner_replies(self) -> list[str]:
        master = self.result.master
        if master is None:
            return []
        return [m["content"] for m in master.history_of[self.learner_role] if m["role"] == "assistant"]


def replies_made(master: GameMaster | None, role: str) -> int:
    """How many replies ``role`` has made in ``master``'s episode so far (0 for a new episode)."""
    if master is None:
        return 0
    return sum(m["role"] == "assistant" for m in merge_messages(master.history_of[role]))


def group_ids(keys: list[Any]) -> list[int]:
    """GRPO groups: TRL repeats each row ``group_size`` times in a row, so a group is a run of equal keys. (An
    instance drawn twice in a row makes one run; TRL still normalises each ``group_size`` chunk of it on its own,
    and with branching all of the run forks from the same trunk, so each chunk still shares one history.)"""
    ids: list[int] = []
    for index, key in enumerate(keys):
        ids.append(ids[-1] if index and keys[index - 1] == key else (ids[-1] + 1 if ids else 0))
    return ids


@dataclass
class EpisodeSet:
    """The episodes one instance is played in for a step: ``size`` of them, viewed by each trained role (the
    output positions of each role's group in ``slots``)."""

    game: str
    key: str
    size: int
    slots: dict[str, list[int]]
    episodes: list[PlayedEpisode] = field(default_factory=list)
    resampled: int = 0


def episode_sets(keys: list[tuple[str, str, str]]) -> list[EpisodeSet]:
    """Groups (runs of equal (game, key, role)) joined into episode sets: groups of the same instance and size
    but different roles share one set of episodes (self-play in every role)."""
    groups = group_ids(keys)
    members: dict[int, list[int]] = {}
    for index, group in enumerate(groups):
        members.setdefault(group, []).append(index)
    sets: list[EpisodeSet] = []
    for positions in members.values():
        game, key, role = keys[positions[0]]
        shared = next((s for s in sets if (s.game, s.key, s.size) == (game, key, len(positions)) and role not in s.slots),
                      None)
        if shared is None:
            sets.append(EpisodeSet(game, key, len(positions), {role: positions}))
        else:
            shared.slots[role] = positions
    return sets


def replace_partner_failures(episodes: list[PlayedEpisode], groups: list[Any],
                             rng: random.Random | None = None) -> list[PlayedEpisode]:
    """Each slot spoiled by the partner takes a copy of a valid episode of its own group (``groups`` gives
    each slot's group id); a group without any valid episode takes a copy of a whole other group that has
    one. The learner's own aborts stay (and are penalised). If no episode of the batch is valid, every slot
    keeps its episode with reward None: TRL then gives the batch advantage 0 (no signal rather than a wrong
    one)."""
    rng = rng or random.Random(len(episodes))
    valid_by_group: dict[Any, list[PlayedEpisode]] = {}
    for group, episode in zip(groups, episodes):
        if not episode.partner_failure:
            valid_by_group.setdefault(group, []).append(episode)
    if not valid_by_group:
        if any(e.result.master is None or not e.result.master.done for e in episodes):
            raise PlaypenError("every episode of this batch was spoiled by the partner and some could not be "
                               "played at all; check the partner model")
        return [replace(e, reward=None) for e in episodes]
    donors = list(valid_by_group)
    # a group with no valid episode borrows a whole group (its slots are filled from that group's episodes)
    source = {g: (g if g in valid_by_group else rng.choice(donors)) for g in dict.fromkeys(groups)}
    replaced = []
    for group, episode in zip(groups, episodes):
        if not episode.partner_failure:
            replaced.append(episode)
        else:
            replaced.append(replace(rng.choice(valid_by_group[source[group]]), replaced=True))
    return replaced


@dataclass
class PlayedStep:
    """One step's episodes, one per position of the step's keys."""

    episodes: list[PlayedEpisode]
    #: the (game, instance key) each position was played on (another instance when its flat group was resampled)
    keys: list[tuple[str, str]]
    resampled: list[bool]


class GroupPlay:
    """Plays GRPO groups: ``learner`` in each game's learner role, ``partner`` in the others (None: self-play,
    the learner plays every role). ``rows`` are the instances by key."""

    def __init__(self, specs: Iterable[GameSpec], rows: dict[str, InstanceRow], partner: Model | None, *,
                 roles: dict[str, str] | None = None, reward: Any = "main_score", abort_penalty: float = 0.0,
                 partner_retries: int = 1, branching: bool = False, resample_flat_groups: int = 0):
        self.specs = {spec.name: spec for spec in specs}
        self.roles = {name: spec.learner_role((roles or {}).get(name)) for name, spec in self.specs.items()}
        self.rows = rows
        self.partner = partner
        self.reward_fn = get_reward(reward, abort_penalty=abort_penalty)
        self.partner_retries = partner_retries
        self.branching = branching
        self.resample_flat_groups = resample_flat_groups
        self.rows_by_game: dict[str, list[InstanceRow]] = {}
        for row in rows.values():
            self.rows_by_game.setdefault(row.game, []).append(row)

    def resolve(self, game: str, key: str, role: str | None) -> tuple[str, str, str]:
        """(game, key, role) with the game's learner role when ``role`` is None."""
        return game, key, self.specs[game].learner_role(role) if role else self.roles[game]

    def play(self, keys: list[tuple[str, str]], learner: Model, starts: list[GameMaster | None] | None = None,
             before_reply: Callable[[EpisodeJob, GameMaster], None] | None = None) -> list[PlayedEpisode]:
        """Play one episode per key, all in one batch (the learner answers all waiting episodes at once); an
        episode with a start state plays on from a copy of it, sharing the learner's replies made before it."""
        starts = starts or [None] * len(keys)
        jobs = []
        for (game, key), start in zip(keys, starts):
            spec = self.specs[game]
            role = self.roles[game]
            players = {r: (learner if r == role or self.partner is None else self.partner) for r in spec.roles}
            jobs.append(EpisodeJob(spec, self.rows[key], players, start=start))
        results = run_episodes(jobs, batch_size=max(1, len(jobs)), before_reply=before_reply)
        by_job = {id(r.job): r for r in results}
        played = []
        for job in jobs:
            result = by_job[id(job)]
            role = self.roles[job.spec.name]
            played.append(PlayedEpisode(result, self.reward(result, role), role,
                                        shared_replies=replies_made(job.start, role), self_play=self.partner is None))
        return played

    def reward(self, result: EpisodeResult, role: str) -> float:
        """The episode's reward for ``role``; in self-play an abort is charged to the role that caused it only
        (the other roles get the reward of a lost episode, 0, instead of the abort penalty)."""
        master = result.master
        if master is None or not master.done or result.errored:
            return 0.0
        if (self.partner is None and master.outcome.status is Status.ABORTED
                and master.outcome.role not in (None, role)):
            return 0.0
        return self.reward_fn(master)

    def view(self, episode: PlayedEpisode, role: str) -> PlayedEpisode:
        """The same episode as seen (and rewarded) by another of the learner's roles."""
        if role == episode.learner_role:
            return episode
        return replace(episode, learner_role=role, reward=self.reward(episode.result, role), shared_replies=0)

    def play_branching(self, keys: list[tuple[str, str]], learner: Model,
                       rng: random.Random) -> tuple[list[PlayedEpisode], list[GameMaster | None]]:
        """Each group (a run of equal keys) plays one trunk episode; at one of the learner's turns in it, drawn
        uniformly, the rest of the group forks from the trunk's state and plays on. Returns the episodes (the
        trunk first in its group) and each slot's start state (for replays of spoiled episodes)."""
        groups = group_ids(keys)
        first = {g: groups.index(g) for g in dict.fromkeys(groups)}
        trunk_keys = [keys[i] for i in first.values()]
        turns: dict[int, list[GameMaster]] = {}

        def snapshot(job: EpisodeJob, master: GameMaster) -> None:
            if master.current_role == self.roles[job.spec.name]:
                turns.setdefault(id(job), []).append(master.copy())

        trunks = dict(zip(first, self.play(trunk_keys, learner, before_reply=snapshot)))
        points = {g: (rng.choice(turns[id(t.result.job)]) if turns.get(id(t.result.job)) else None)
                  for g, t in trunks.items()}
        forks = [i for i, g in enumerate(groups) if i != first[g]]
        starts = [points[g] for g in groups]
        forked = iter(self.play([keys[i] for i in forks], learner, [starts[i] for i in forks]))
        episodes = []
        for index, group in enumerate(groups):
            if index == first[group]:
                trunk = trunks[group]
                episodes.append(replace(trunk, shared_replies=replies_made(points[group], trunk.learner_role)))
            else:
                episodes.append(next(forked))
        return episodes, starts

    def play_step(self, keys: list[tuple[str, str, str]], learner: Model, rng: random.Random) -> PlayedStep:
        """The episodes of one step's groups (``keys``: one (game, instance key, role) per position): episode
        sets played (branching, partner retries), flat sets replayed on other instances, each position's view of
        its set's episodes, and episodes the partner spoiled replaced within their group."""
        sets = episode_sets(keys)
        self._play_sets(sets, learner, rng)
        pending = [s for s in sets if self._flat(s)]
        for _ in range(self.resample_flat_groups):
            if not pending:
                break
            for episode_set in pending:
                episode_set.key = rng.choice(self.rows_by_game[episode_set.game]).key
                episode_set.resampled += 1
            self._play_sets(pending, learner, rng)
            pending = [s for s in pending if self._flat(s)]
        episodes: list[PlayedEpisode | None] = [None] * len(keys)
        played_keys: list[tuple[str, str]] = [("", "")] * len(keys)
        resampled = [False] * len(keys)
        for episode_set in sets:
            for role, positions in episode_set.slots.items():
                for position, episode in zip(positions, episode_set.episodes):
                    episodes[position] = self.view(episode, role)
                    played_keys[position] = (episode_set.game, episode_set.key)
                    resampled[position] = episode_set.resampled > 0
        # per (set, role) group, since a flat group may have been replayed on another instance
        group_of = {p: (id(s), role) for s in sets for role, positions in s.slots.items() for p in positions}
        episodes = replace_partner_failures(episodes, [group_of[i] for i in range(len(keys))], rng)
        return PlayedStep(episodes, played_keys, resampled)

    def _play_sets(self, sets: list[EpisodeSet], learner: Model, rng: random.Random) -> None:
        """Play every set's episodes in one batch (branching: trunks, then forks), then replay those spoiled by
        the partner (``partner_retries``)."""
        keys = [(s.game, s.key) for s in sets for _ in range(s.size)]
        if self.branching:
            episodes, starts = self.play_branching(keys, learner, rng)
        else:
            episodes, starts = self.play(keys, learner), [None] * len(keys)
        owners = [s for s in sets for _ in range(s.size)]

        def spoiled(index: int) -> bool:  # for any of the roles that view this episode
            return any(self.view(episodes[index], role).partner_failure for role in owners[index].slots)

        for _ in range(self.partner_retries):
            redo = [i for i in range(len(episodes)) if spoiled(i)]
            if not redo:
                break
            for index, episode in zip(redo, self.play([keys[i] for i in redo], learner, [starts[i] for i in redo])):
                episodes[index] = episode
        offset = 0
        for episode_set in sets:
            episode_set.episodes = episodes[offset:offset + episode_set.size]
            offset += episode_set.size

    def _flat(self, episode_set: EpisodeSet) -> bool:
        """Whether no group of the set can learn anything: in every role all valid episodes got the same reward."""
        for role in episode_set.slots:
            views = [self.view(e, role) for e in episode_set.episodes]
            rewards = {v.reward for v in views if not v.partner_failure}
            if len(rewards) > 1:
                return False
        return True

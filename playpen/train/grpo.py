"""GRPO in the playpen: a learner plays dialogue games against frozen partners and learns from the score.

Built on TRL's ``GRPOTrainer`` with a ``rollout_func`` (so vLLM generation and accelerate / DeepSpeed
training come with TRL). Each dataset row names one training instance; TRL repeats it ``group_size`` times, and
the rollout function plays all episodes of a step to the end in ONE batch through the rollout engine (lockstep
batching, partners played by their own model), then returns the learner's whole multi-turn conversation as one
completion with an ``env_mask`` that hides the game master's and partner's tokens from the loss. The episode
reward is forwarded to the reward function; TRL normalises it per group
(``GRPOTrainer._generate_and_score_completions``: ``(r - mean) / (std + 1e-4)`` with the unbiased std, so a group
without spread gets advantage 0) and applies the KL penalty to the reference model (``beta``; with LoRA the
reference is the base model with the adapter switched off).

The completion is built from the tokens the learner actually sampled (``GenerationResult.token_ids``, with the
prompt tokens it read): turn by turn, what the environment and the chat template added since the previous turn
(masked out) and the sampled reply (trained on). Every turn's prompt must extend the previous prompt plus its
reply; an episode where it does not (a chat template that is not prefix-preserving, a reply that reads back
as other tokens) is trained on only up to that turn, with a warning naming the cause (``rollout/cut`` in the
training log). Learners that report no tokens (programmatic ones in tests) are re-rendered with the chat
template instead (``tokenise_conversation``).

Episodes that the *partner* spoiled (it aborted, the episode errored, or the learner never got a turn) are
played again (``partner_retries``) and, if that keeps happening, replaced by a valid episode of the same group
(a group with no valid episode takes a copy of another group), so the learner is never blamed for its
partner's mistakes (the paper's recipe).

With ``branching`` on, a group does not play ``group_size`` independent episodes: it plays one trunk episode,
draws one of the learner's turns in it uniformly, and forks the rest of the group from the game state just
before that turn (``GameMaster.copy()``). The group then differs only from that turn on, so its advantages
credit that turn's decision and what followed; the shared earlier replies are masked out of the loss.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import random
import shutil
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

from playpen.core.errors import PlaypenError
from playpen.core.instances import InstanceRow
from playpen.core.master import GameMaster, Status
from playpen.core.registry import GameSpec
from playpen.envs.rewards import get_reward
from playpen.envs.text_env import InstanceSampler
from playpen.models.base import GenerationSettings, Model
from playpen.core.messages import merge_messages
from playpen.rollout.engine import EpisodeJob, EpisodeResult, run_episodes
from playpen.train.common import (
    device_kind,
    is_main_process,
    load_trainable,
    register_result,
    resume_checkpoint,
    save_config,
    trainer_arguments,
)
from playpen.train.conversation import (
    TokenisedConversation,
    Turn,
    sampled_logprobs,
    tokenise_conversation,
    tokens_from_turns,
)
from playpen.train.vllm_learner import VLLMLearner, reload_layerwise
from playpen.train.guardrails import check_guardrails

log = logging.getLogger("playpen.train")

ROW_PREFIX = "playpen-instance:"

#: what a cut trajectory (``tokens_from_turns``) says once per run and cause
CUT_WARNINGS = {
    "rewritten": "the learner's chat template is not prefix-preserving: a later turn's prompt does not start with "
                 "the earlier prompt (the template rewrites or drops earlier turns, e.g. past assistant replies), "
                 "so one token sequence cannot hold the episode; GRPO trains such episodes only up to that turn "
                 "(rollout/cut in the training log); use a template that renders every earlier turn unchanged",
    "reply": "a learner reply reads back as other tokens than it sampled (its text was changed, e.g. whitespace "
             "stripped, or the tokenizer splits the decoded text differently); GRPO trains such episodes only up "
             "to that reply (rollout/cut in the training log)",
}

#: the folder of the best evaluated checkpoint (``select_by``)
BEST = "best"

#: files of a run that are appended to while training (cleared when a run starts afresh, kept on resume)
RUN_FILES = ("eval_metrics.csv", "rollouts.jsonl", "training_log.csv")


@dataclass
class GRPOSettings:
    games: list[str] = field(default_factory=lambda: ["referencegame"])
    #: learner role per game (default: the game's, ``GameSpec.learner``: the paper's in its training games)
    roles: dict[str, str] = field(default_factory=dict)
    #: relative sampling weight per game (default 1 each)
    weights: dict[str, float] = field(default_factory=dict)
    #: partner alias ("scripted", "scripted-bad", any model alias) or "self" (the learner plays every role)
    partner: str = "scripted"
    split: str = "train"
    #: per game, an instances file to train on instead of ``split`` (an experiment's training instances without
    #: the evaluated target words)
    instances: dict[str, str] = field(default_factory=dict)
    group_size: int = 8
    #: episodes per optimisation step (= instances per step × group_size), all played in one batch
    batch_size: int = 16
    #: episodes per forward/backward pass (None: the whole batch); smaller saves memory, not time
    micro_batch_size: int | None = None
    max_steps: int = 100
    learning_rate: float = 1e-5
    #: KL weight to the reference model (0: no reference model, no KL)
    beta: float = 0.04
    temperature: float = 1.0
    #: tokens per learner reply while training
    max_new_tokens: int = 100
    #: tokens of the whole multi-turn conversation after the first prompt (learner + game master + partner)
    max_completion_length: int = 1024
    lora_r: int | None = 16
    lora_alpha: int | None = None
    #: an episode reward name (``playpen.envs.rewards``: paper, main_score, quality, success) or a callable
    reward: Any = "main_score"
    #: reward of an episode the learner aborted is ``-abort_penalty``
    abort_penalty: float = 0.0
    partner_retries: int = 1
    #: each group shares one history up to a learner turn drawn uniformly, then forks (turn-level credit)
    branching: bool = False
    #: with partner "self": train every role of each game; every (instance, role) is its own group, so advantages
    #: are normalised per role (role-conditioned baselines); the roles of one instance share the same episodes
    all_roles: bool = False
    #: dynamic sampling: a group whose rewards are all equal (advantage 0 for all) is played again on another
    #: instance of its game, up to this many times, instead of wasting its share of the step
    resample_flat_groups: int = 0
    #: TRL's loss aggregation ("dapo": over all learner tokens of the batch; "grpo": per sequence, the paper's)
    loss_type: str = "dapo"
    #: None: on with a GPU, off on the CPU (where memory is no issue and recomputation costs time)
    gradient_checkpointing: bool | None = None
    #: evaluate before and after training (and every ``eval_steps``)
    evaluate: bool = True
    #: evaluate every N steps (0: only before and after training)
    eval_steps: int = 0
    #: extra games evaluated in self-play (e.g. the out-of-domain ones)
    eval_games: list[str] = field(default_factory=list)
    eval_split: str = "validation"
    #: instances per experiment in evaluations of the trained games (None: all)
    eval_per_experiment: int | None = 1
    #: instances per experiment in evaluations of the extra ``eval_games`` (None: all)
    eval_extra_per_experiment: int | None = 1
    eval_max_new_tokens: int = 100
    eval_batch_size: int = 32
    #: who plays the policy in evaluations: "huggingface" (in this process) or "vllm" (saved, then served by a vLLM
    #: server started for each evaluation: models/vllm_server.serve_policy)
    eval_backend: Literal["huggingface", "vllm"] = "huggingface"
    #: reference tasks of the static suite evaluated too (their scope is ``static``: the statscore), from the
    #: clembench-style folder ``eval_static_instances``, ``eval_static_per_experiment`` instances per experiment
    eval_static_games: list[str] = field(default_factory=list)
    eval_static_instances: str | None = None
    eval_static_per_experiment: int | None = 10
    #: keep the evaluated checkpoint that is best by this scope ("in", "out", "static", "clemscore") in
    #: ``best/`` and register it instead of the last one (``train.guardrails``)
    select_by: str | None = None
    #: stop training once the statscore falls more than this many points below its value before training
    stop_static_drop: float | None = None
    save_steps: int = 50
    seed: int = 0
    alias: str | None = None
    #: TRL's vLLM engine for the learner's generation (GPU; "colocate" or "server", see docs/training.md)
    use_vllm: bool = False
    vllm_mode: str = "colocate"
    vllm_server_base_url: str | None = None
    vllm_gpu_memory_utilization: float = 0.3


def learner_role(spec: GameSpec, roles: dict[str, str] | None = None) -> str:
    """The learner's role in ``spec``: the configured one, else the game's default (``GameSpec.learner``)."""
    return spec.learner_role((roles or {}).get(spec.name))


def _specs(names: list[str]) -> list[GameSpec]:
    from playpen.games import resolve_games

    return resolve_games(names)


def training_rows(sampler: InstanceSampler, *, count: int, seed: int,
                  roles: dict[str, tuple[str, ...]] | None = None) -> list[dict[str, Any]]:
    """``count`` dataset rows, each naming one training instance: the game drawn by its weight, then the
    instance uniformly (``InstanceSampler.sample``). TRL repeats every row ``group_size`` times. With ``roles``
    (game -> the roles to train) each drawn instance gives one row per role, next to each other, so that the
    groups of one instance land in the same step and share their episodes."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    while len(rows) < count:
        row = sampler.sample(rng)
        for role in (roles or {}).get(row.game, (None,)):
            named = [row.game, row.key] + ([role] if role else [])
            rows.append({"prompt": [{"role": "user", "content": ROW_PREFIX + json.dumps(named)}]})
    return rows[:count]


def row_key(prompt: list[dict[str, str]]) -> tuple[str, str, str | None]:
    """(game, instance key, role or None for the game's learner role) named by a dataset row's prompt."""
    named = json.loads(prompt[-1]["content"][len(ROW_PREFIX):])
    return named[0], named[1], (named[2] if len(named) > 2 else None)


@dataclass
class PlayedEpisode:
    result: EpisodeResult
    #: None when the episode carries no signal (an unscorable batch, see ``_replace_partner_failures``)
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


def _replies(master: GameMaster | None, role: str) -> int:
    """How many replies ``role`` has made in ``master``'s episode so far (0 for a new episode)."""
    if master is None:
        return 0
    return sum(m["role"] == "assistant" for m in merge_messages(master.history_of[role]))


def _group_ids(keys: list[Any]) -> list[int]:
    """GRPO groups: TRL repeats each row ``group_size`` times in a row, so a group is a run of equal keys. (An
    instance drawn twice in a row makes one run; TRL still normalises each ``group_size`` chunk of it on its own,
    and with branching all of the run forks from the same trunk, so each chunk still shares one history.)"""
    ids: list[int] = []
    for index, key in enumerate(keys):
        ids.append(ids[-1] if index and keys[index - 1] == key else (ids[-1] + 1 if ids else 0))
    return ids


@dataclass
class _EpisodeSet:
    """The episodes one instance is played in for a step: ``size`` of them, viewed by each trained role (the
    output positions of each role's group in ``slots``)."""

    game: str
    key: str
    size: int
    slots: dict[str, list[int]]
    episodes: list[PlayedEpisode] = field(default_factory=list)
    resampled: int = 0


def _episode_sets(keys: list[tuple[str, str, str]]) -> list[_EpisodeSet]:
    """Groups (runs of equal (game, key, role)) joined into episode sets: groups of the same instance and size
    but different roles share one set of episodes (self-play in every role)."""
    groups = _group_ids(keys)
    members: dict[int, list[int]] = {}
    for index, group in enumerate(groups):
        members.setdefault(group, []).append(index)
    sets: list[_EpisodeSet] = []
    for positions in members.values():
        game, key, role = keys[positions[0]]
        shared = next((s for s in sets if (s.game, s.key, s.size) == (game, key, len(positions)) and role not in s.slots),
                      None)
        if shared is None:
            sets.append(_EpisodeSet(game, key, len(positions), {role: positions}))
        else:
            shared.slots[role] = positions
    return sets


@contextmanager
def _eval_mode(model: Model) -> Iterator[None]:
    """Dropout off while the learner plays (a no-op for backends without a torch module)."""
    module = getattr(model, "model", None)
    training = bool(getattr(module, "training", False))
    if training:
        module.eval()
    try:
        yield
    finally:
        if training:
            module.train()


class EpisodeRollout:
    """The ``rollout_func`` given to TRL: plays the named instances, returns tokens, masks and rewards."""

    def __init__(self, settings: GRPOSettings, specs: list[GameSpec], rows: dict[str, InstanceRow],
                 partner: Model | None, tokenizer: Any, log_path: Path | None = None):
        self.settings = settings
        self.specs = {spec.name: spec for spec in specs}
        self.roles = {spec.name: learner_role(spec, settings.roles) for spec in specs}
        self.rows = rows
        self.partner = partner
        self.tokenizer = tokenizer
        self.reward_fn = get_reward(settings.reward, abort_penalty=settings.abort_penalty)
        self.log_path = log_path
        self.calls = 0
        self._warned: set[str] = set()  # the causes of cut trajectories already warned about
        self.rows_by_game: dict[str, list[InstanceRow]] = {}
        for row in rows.values():
            self.rows_by_game.setdefault(row.game, []).append(row)

    def learner_model(self, trainer: Any) -> Model:
        from playpen.models.huggingface import HuggingFaceModel

        if getattr(trainer, "use_vllm", False):
            return VLLMLearner(trainer, self.tokenizer, self.settings.max_new_tokens)
        model = trainer.accelerator.unwrap_model(trainer.model)
        return HuggingFaceModel(model=model, tokenizer=self.tokenizer, name="learner", keep_prompt_tokens=True,
                                settings=GenerationSettings(self.settings.temperature, self.settings.max_new_tokens))

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
            played.append(PlayedEpisode(result, self._reward(result, role), role,
                                        shared_replies=_replies(job.start, role), self_play=self.partner is None))
        return played

    def _reward(self, result: EpisodeResult, role: str) -> float:
        """The episode's reward for ``role``; in self-play an abort is charged to the role that caused it only
        (the other roles get the reward of a lost episode, 0, instead of the abort penalty)."""
        master = result.master
        if master is None or not master.done or result.errored:
            return 0.0
        if (self.partner is None and master.outcome.status is Status.ABORTED
                and master.outcome.role not in (None, role)):
            return 0.0
        return self.reward_fn(master)

    def _view(self, episode: PlayedEpisode, role: str) -> PlayedEpisode:
        """The same episode as seen (and rewarded) by another of the learner's roles."""
        if role == episode.learner_role:
            return episode
        return replace(episode, learner_role=role, reward=self._reward(episode.result, role), shared_replies=0)

    def play_branching(self, keys: list[tuple[str, str]], learner: Model,
                       rng: random.Random) -> tuple[list[PlayedEpisode], list[GameMaster | None]]:
        """Each group (a run of equal keys) plays one trunk episode; at one of the learner's turns in it, drawn
        uniformly, the rest of the group forks from the trunk's state and plays on. Returns the episodes (the
        trunk first in its group) and each slot's start state (for replays of spoiled episodes)."""
        groups = _group_ids(keys)
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
                episodes.append(replace(trunk, shared_replies=_replies(points[group], trunk.learner_role)))
            else:
                episodes.append(next(forked))
        return episodes, starts

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, Any]:
        keys = [self._resolve(row_key(p)) for p in prompts]
        step = int(getattr(getattr(trainer, "state", None), "global_step", self.calls)) + 1
        rng = random.Random(f"{self.settings.seed}:{step}:{self.calls}")
        self.calls += 1
        if self.settings.branching and getattr(getattr(trainer, "accelerator", None), "num_processes", 1) > 1:
            raise PlaypenError("branching needs a single training process (a group split across "
                               "processes cannot share its trunk); turn branching off or use one process")
        learner = self.learner_model(trainer)
        sets = _episode_sets(keys)
        with _eval_mode(learner):
            self._play_sets(sets, learner, rng)
            pending = [s for s in sets if self._flat(s)]
            for _ in range(self.settings.resample_flat_groups):
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
                    episodes[position] = self._view(episode, role)
                    played_keys[position] = (episode_set.game, episode_set.key)
                    resampled[position] = episode_set.resampled > 0
        # per (set, role) group, since a flat group may have been replayed on another instance
        group_of = {p: (id(s), role) for s in sets for role, positions in s.slots.items() for p in positions}
        episodes = self._replace_partner_failures(episodes, [group_of[i] for i in range(len(keys))], rng)
        output: dict[str, Any] = {"prompt_ids": [], "completion_ids": [], "logprobs": None, "env_mask": [],
                                  "episode_reward": [], "episode_outcome": [], "episode_replaced": [],
                                  "episode_resampled": resampled, "episode_cut": []}
        trajectories = [self.trajectory(episode) for episode in episodes]
        output["logprobs"] = sampled_logprobs(trajectories)  # TRL's importance sampling (vLLM) needs them
        for episode, tokens in zip(episodes, trajectories):
            output["prompt_ids"].append(tokens.prompt_ids)
            output["completion_ids"].append(tokens.completion_ids)
            output["env_mask"].append(tokens.mask)
            output["episode_reward"].append(episode.reward)
            output["episode_outcome"].append(episode.result.master.outcome.status.value)
            output["episode_replaced"].append(episode.replaced)
            output["episode_cut"].append(tokens.cut_at_turn is not None)
        self._log(step, played_keys, episodes, trajectories, getattr(trainer, "accelerator", None))
        return output

    def trajectory(self, episode: PlayedEpisode) -> TokenisedConversation:
        """The learner's prompt, completion and loss mask in one episode: from the tokens it sampled when its
        backend reports them (``tokens_from_turns``), else re-rendered from its messages."""
        result, role = episode.result, episode.learner_role
        limit = self.settings.max_completion_length
        answered = [g for g in result.generations_of(role) if g.error is None]
        with_tokens = [g for g in answered if g.token_ids is not None and g.prompt_token_ids is not None]
        if not answered or not with_tokens:
            return tokenise_conversation(self.tokenizer, merge_messages(result.master.history_of[role]), limit,
                                         episode.shared_replies)
        if len(with_tokens) < len(answered):
            raise PlaypenError(f"the learner reported token ids for {len(with_tokens)} of its {len(answered)} "
                               "replies; its backend must report them for every reply (or for none)")
        # replies made before the episode's start state (branching) are in the first prompt, not in ``answered``
        shared = max(0, episode.shared_replies - _replies(result.job.start, role))
        tokens = tokens_from_turns([Turn(g.prompt_token_ids, g.token_ids, g.logprobs) for g in answered], limit,
                                   shared)
        if tokens.cut_reason is not None and tokens.cut_reason not in self._warned:
            self._warned.add(tokens.cut_reason)
            log.warning(CUT_WARNINGS[tokens.cut_reason])
        return tokens

    def _resolve(self, named: tuple[str, str, str | None]) -> tuple[str, str, str]:
        game, key, role = named
        return game, key, self.specs[game].learner_role(role) if role else self.roles[game]

    def _play_sets(self, sets: list[_EpisodeSet], learner: Model, rng: random.Random) -> None:
        """Play every set's episodes in one batch (branching: trunks, then forks), then replay those spoiled by
        the partner (``partner_retries``)."""
        keys = [(s.game, s.key) for s in sets for _ in range(s.size)]
        if self.settings.branching:
            episodes, starts = self.play_branching(keys, learner, rng)
        else:
            episodes, starts = self.play(keys, learner), [None] * len(keys)
        owners = [s for s in sets for _ in range(s.size)]

        def spoiled(index: int) -> bool:  # for any of the roles that view this episode
            return any(self._view(episodes[index], role).partner_failure for role in owners[index].slots)

        for _ in range(self.settings.partner_retries):
            redo = [i for i in range(len(episodes)) if spoiled(i)]
            if not redo:
                break
            for index, episode in zip(redo, self.play([keys[i] for i in redo], learner, [starts[i] for i in redo])):
                episodes[index] = episode
        offset = 0
        for episode_set in sets:
            episode_set.episodes = episodes[offset:offset + episode_set.size]
            offset += episode_set.size

    def _flat(self, episode_set: _EpisodeSet) -> bool:
        """Whether no group of the set can learn anything: in every role all valid episodes got the same reward."""
        for role in episode_set.slots:
            views = [self._view(e, role) for e in episode_set.episodes]
            rewards = {v.reward for v in views if not v.partner_failure}
            if len(rewards) > 1:
                return False
        return True

    @staticmethod
    def _replace_partner_failures(episodes: list[PlayedEpisode], groups: list[Any],
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

    def _log(self, step: int, keys: list[tuple[str, str]], episodes: list[PlayedEpisode],
             trajectories: list[TokenisedConversation], accelerator: Any = None) -> None:
        """One JSON line per episode in ``rollouts.jsonl`` (what the learner said and what it got), written by the
        main process for the episodes of every process (``process``: which one played it)."""
        if self.log_path is None:
            return
        process = getattr(accelerator, "process_index", 0)
        entries = []
        for (game, key), episode, tokens in zip(keys, episodes, trajectories):
            master = episode.result.master
            entries.append({
                "step": step, "process": process, "game": game, "instance": key, "role": episode.learner_role,
                "episode": master.game_id if master is not None else None,
                "reward": episode.reward, "outcome": master.outcome.status.value if master else None,
                "reason": master.outcome.reason if master else None, "replaced": episode.replaced,
                "shared_replies": episode.shared_replies,
                "cut_at_turn": tokens.cut_at_turn, "cut_reason": tokens.cut_reason,
                "learner": episode.learner_replies(),
            })
        if getattr(accelerator, "num_processes", 1) > 1:
            from accelerate.utils import gather_object

            entries = gather_object(entries)
        if process == 0:
            with open(self.log_path, "a", encoding="utf-8") as handle:
                for entry in entries:
                    handle.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")


def episode_reward(completions: list[Any], episode_reward: list[float | None], episode_outcome: list[str] | None = None,
                   episode_replaced: list[bool] | None = None, episode_resampled: list[bool] | None = None,
                   episode_cut: list[bool] | None = None,
                   log_metric: Callable[[str, float], None] | None = None, **_: Any) -> list[float | None]:
    """TRL reward function: the game's reward computed during the rollout (None: no signal). Also logs the
    rollouts' outcome rates (``rollout/played``, ``rollout/success``, ``rollout/partner_replaced``,
    ``rollout/resampled``: the share of episodes whose flat group was replayed on another instance,
    ``rollout/cut``: the share trained only up to a turn whose prompt did not extend the previous one)."""
    if log_metric is not None and episode_outcome:
        count = len(episode_outcome)
        log_metric("rollout/played", sum(o != Status.ABORTED.value for o in episode_outcome) / count)
        log_metric("rollout/success", sum(o == Status.SUCCESS.value for o in episode_outcome) / count)
        for name, flags in (("partner_replaced", episode_replaced), ("resampled", episode_resampled),
                            ("cut", episode_cut)):
            if flags is not None:
                log_metric(f"rollout/{name}", sum(bool(f) for f in flags) / count)
    return [None if r is None or (isinstance(r, float) and math.isnan(r)) else float(r) for r in episode_reward]


def _progress_callback(printer: Callable[[str], None], max_steps: int):
    import time

    from transformers import TrainerCallback

    class StepPrinter(TrainerCallback):
        """One line per optimisation step (instead of transformers' raw log dicts)."""

        def __init__(self) -> None:
            self.started = time.monotonic()

        def on_step_begin(self, args, state, control, **kwargs):
            self.started = time.monotonic()

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if ("loss" not in logs and "reward" not in logs) or not state.is_world_process_zero:
                return
            parts = [f"step {state.global_step}/{max_steps}"]
            for key, label, form in (("reward", "reward", "{:+.3f}"), ("rollout/played", "played", "{:.0%}"),
                                     ("rollout/success", "success", "{:.0%}"), ("loss", "loss", "{:.4f}"),
                                     ("kl", "kl", "{:.4f}")):
                if isinstance(logs.get(key), (int, float)):
                    parts.append(f"{label} " + form.format(logs[key]))
            parts.append(f"{time.monotonic() - self.started:.0f}s")
            printer(", ".join(parts))

    return StepPrinter()


@dataclass
class GRPORun:
    """Everything ``train_grpo`` builds before it trains (tests drive the trainer's steps themselves)."""

    trainer: Any
    rollout: EpisodeRollout
    tokenizer: Any
    base: Path | None
    partner: Model | None
    specs: list[GameSpec]
    roles: dict[str, str]


def build_grpo(learner: str, output_dir: Path, settings: GRPOSettings, *, resume: bool = False,
               printer: Callable[[str], None] | None = print) -> GRPORun:
    """Load the learner (+ a fresh LoRA adapter) and the partner, and set up TRL's trainer with our rollout
    function, reward function and evaluation callback."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from playpen.models.registry import load_model
    from playpen.train.evaluation import EvalCallback

    if settings.group_size < 2:
        raise PlaypenError("the group size must be at least 2 (advantages are relative to the group)")
    if settings.batch_size % settings.group_size:
        raise PlaypenError(f"batch size {settings.batch_size} must be a multiple of the group size {settings.group_size}")
    micro = settings.micro_batch_size or settings.batch_size
    if settings.batch_size % micro:
        raise PlaypenError(f"batch size {settings.batch_size} must be a multiple of the micro batch size {micro}")
    specs = _specs(settings.games)
    if not specs:
        raise PlaypenError("no training game given (--games)")
    check_guardrails(settings.select_by, settings.stop_static_drop, evaluates=settings.evaluate,
                     static_games=settings.eval_static_games)
    if settings.eval_static_games and not settings.eval_static_instances:
        raise PlaypenError("the static tasks ship no instances: set eval_static_instances to a folder laid out "
                           "like clembench's static/ (see docs/games/static.md)")
    if settings.all_roles and settings.partner != "self":
        raise PlaypenError("all roles are trained only in self-play: use --partner self with --all-roles")
    if settings.all_roles and settings.branching:
        raise PlaypenError("--all-roles and --branching cannot be combined (a fork point belongs to one role)")
    roles = {spec.name: learner_role(spec, settings.roles) for spec in specs}
    sampler = InstanceSampler.from_specs(specs, split=settings.split, instances=settings.instances,
                                         weights=settings.weights)
    rows = {row.key: row for game_rows in sampler.rows.values() for row in game_rows}
    model, tokenizer, base = load_trainable(learner, lora_r=settings.lora_r, lora_alpha=settings.lora_alpha)
    partner = None if settings.partner == "self" else load_model(
        settings.partner, GenerationSettings(temperature=0.0, max_tokens=settings.max_new_tokens))
    output_dir.mkdir(parents=True, exist_ok=True)
    if not resume and is_main_process():
        for name in RUN_FILES:
            (output_dir / name).unlink(missing_ok=True)
        shutil.rmtree(output_dir / BEST, ignore_errors=True)
    save_config(settings, output_dir)
    instances_per_step = settings.batch_size // settings.group_size
    trained_roles = {spec.name: spec.roles for spec in specs} if settings.all_roles else None
    from accelerate import PartialState

    # every training process plays batch_size episodes per step, on rows of its own
    count = max(1, settings.max_steps) * instances_per_step * PartialState().num_processes
    dataset = Dataset.from_list(training_rows(sampler, count=count, seed=settings.seed, roles=trained_roles))
    rollout = EpisodeRollout(settings, specs, rows, partner, tokenizer, log_path=output_dir / "rollouts.jsonl")
    cuda = device_kind() == "cuda"
    checkpointing = cuda if settings.gradient_checkpointing is None else settings.gradient_checkpointing
    vllm = {}
    if settings.use_vllm:
        vllm = dict(use_vllm=True, vllm_mode=settings.vllm_mode,
                    vllm_gpu_memory_utilization=settings.vllm_gpu_memory_utilization)
        if settings.vllm_server_base_url:
            vllm["vllm_server_base_url"] = settings.vllm_server_base_url
    args = GRPOConfig(**trainer_arguments(
        output_dir, learning_rate=settings.learning_rate, max_steps=settings.max_steps, batch_size=micro,
        grad_accumulation=settings.batch_size // micro,  # one rollout of batch_size per step
        save_steps=settings.save_steps, seed=settings.seed,
        num_generations=settings.group_size,
        max_completion_length=settings.max_completion_length,
        beta=settings.beta,
        temperature=settings.temperature,
        loss_type=settings.loss_type,
        data_seed=settings.seed,
        gradient_checkpointing=checkpointing,
        lr_scheduler_type="constant",
        disable_tqdm=True,
        shuffle_dataset=False,  # the rows are random draws already; kept in order, an instance's role groups
        # (all_roles) stay in one step and share their episodes
        **vllm,
    ))
    callbacks = []
    if settings.evaluate:
        callbacks.append(EvalCallback(settings, specs, roles, tokenizer, partner, output_dir, resume=resume,
                                      printer=printer))
    if printer is not None:
        callbacks.append(_progress_callback(printer, settings.max_steps))
    with warnings.catch_warnings():  # TRL marks rollout_func experimental; we pin TRL's version
        warnings.filterwarnings("ignore", message=".*'rollout_func'.*experimental")
        trainer = GRPOTrainer(model=model, reward_funcs=[episode_reward], args=args, train_dataset=dataset,
                              processing_class=tokenizer, rollout_func=rollout, callbacks=callbacks)
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # raw log dicts; the step printer above says it shorter
    if settings.use_vllm:
        reload_layerwise(trainer.vllm_generation)  # vLLM's CPU build: the weight sync needs vLLM's reload
    return GRPORun(trainer, rollout, tokenizer, base, partner, specs, roles)


def train_grpo(learner: str, output_dir: Path, settings: GRPOSettings, *, resume: bool = False,
               printer: Callable[[str], None] | None = print) -> tuple[Path, str]:
    """Run GRPO and return (the registered checkpoint, its alias): ``final/``, or with ``select_by`` the best
    evaluated one, ``best/``. Writes into ``output_dir``: checkpoints, ``final/``, ``training_log.csv`` (loss,
    reward, KL, rollout outcome rates per step), ``rollouts.jsonl``, ``eval_metrics.csv`` and ``eval/step-N/``
    (validation episodes with transcripts), ``learning_curves.png``."""
    from playpen.train.evaluation import plot_learning_curves

    output_dir = Path(output_dir)
    run = build_grpo(learner, output_dir, settings, resume=resume, printer=printer)
    checkpoint = resume_checkpoint(output_dir, resume)
    try:
        run.trainer.train(resume_from_checkpoint=checkpoint)
        final = output_dir / "final"
        run.trainer.save_model(str(final))  # from the main process only (transformers)
        if is_main_process():
            run.tokenizer.save_pretrained(str(final))
    finally:
        if is_main_process():
            write_training_log(run.trainer.state.log_history, output_dir)
            plot_learning_curves(output_dir)
        if run.partner is not None:
            run.partner.close()
    chosen = output_dir / BEST if settings.select_by and (output_dir / BEST / "best.json").is_file() else final
    alias = register_result(settings.alias or output_dir.name, chosen, run.base)
    return chosen, alias


LOG_KEYS = ("step", "loss", "reward", "reward_std", "frac_reward_zero_std", "kl", "entropy", "rollout/played",
            "rollout/success", "rollout/partner_replaced", "rollout/resampled", "rollout/cut", "completions/mean_length", "grad_norm", "learning_rate")


def write_training_log(log_history: list[dict[str, Any]], output_dir: Path) -> Path | None:
    """``training_log.csv``: one row per optimisation step (TRL's metrics and our rollout metrics)."""
    steps = [e for e in log_history if "step" in e and ("loss" in e or "reward" in e)]
    if not steps:
        return None
    keys = [k for k in LOG_KEYS if any(k in e for e in steps)]
    keys += sorted({k for e in steps for k in e if k not in keys and isinstance(e[k], (int, float))})
    path = output_dir / "training_log.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(steps)
    return path

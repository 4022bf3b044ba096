"""GRPO in the playpen: a learner plays dialogue games against frozen partners and learns from the score.

Built on TRL's ``GRPOTrainer`` with a ``rollout_func`` (so vLLM generation and accelerate / DeepSpeed
training come with TRL). Each dataset row names one training instance; TRL repeats it ``group_size`` times, and
the rollout function plays those episodes to the end through the rollout engine (lockstep batching, partners
played by their own model), then returns the learner's whole multi-turn conversation as one completion with an
``env_mask`` that hides the game master's and partner's tokens from the loss. The episode reward is forwarded
to the reward function; TRL normalises it per group (advantage 0 when a group has no spread).

Episodes that the *partner* aborted are played again (``partner_retries``) and, if that keeps happening,
replaced by a valid episode of the same group, so the learner is never blamed for its partner's mistakes.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playpen.core.errors import PlaypenError
from playpen.core.instances import InstanceRow
from playpen.core.master import Status
from playpen.core.registry import GameSpec
from playpen.envs.rewards import get_reward
from playpen.envs.text_env import InstanceSampler
from playpen.models.base import GenerationSettings, Model
from playpen.rollout.engine import EpisodeJob, EpisodeResult, run_episodes
from playpen.train.common import device_kind, last_checkpoint, load_trainable, register_result, save_config
from playpen.train.conversation import tokenise_conversation

ROW_PREFIX = "playpen-instance:"


@dataclass
class GRPOSettings:
    games: list[str] = field(default_factory=lambda: ["referencegame"])
    #: learner role per game (default: the paper's — guesser / follower / the only role)
    roles: dict[str, str] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    #: partner alias ("scripted", "scripted-bad", any model alias) or "self" (the learner plays every role)
    partner: str = "scripted"
    split: str = "train"
    group_size: int = 8
    #: episodes per optimisation step (= instances per step × group_size)
    batch_size: int = 16
    max_steps: int = 100
    learning_rate: float = 1e-5
    beta: float = 0.04
    temperature: float = 1.0
    max_new_tokens: int = 100
    max_completion_length: int = 1024
    lora_r: int | None = 16
    lora_alpha: int | None = None
    reward: str = "paper"
    abort_penalty: float = 0.0
    partner_retries: int = 1
    #: evaluate every N steps (0: only before and after training)
    eval_steps: int = 0
    eval_games: list[str] = field(default_factory=list)
    eval_split: str = "validation"
    eval_per_experiment: int | None = 1
    eval_max_new_tokens: int = 100
    save_steps: int = 50
    seed: int = 0
    alias: str | None = None


def default_role(spec: GameSpec) -> str:
    return spec.roles[-1]


def _specs(names: list[str]) -> list[GameSpec]:
    from playpen.games import resolve_games

    return resolve_games(names)


def training_rows(sampler: InstanceSampler, *, repeats: int, seed: int) -> list[dict[str, Any]]:
    """Dataset rows naming instances; a game's weight scales how often its instances appear."""
    rng = random.Random(seed)
    rows = []
    for game, game_rows in sampler.rows.items():
        copies = max(1, round(sampler.weights[game] * repeats))
        for _ in range(copies):
            for row in game_rows:
                rows.append({"prompt": [{"role": "user", "content": ROW_PREFIX + json.dumps([game, row.key])}]})
    rng.shuffle(rows)
    return rows


@dataclass
class PlayedEpisode:
    result: EpisodeResult
    reward: float
    learner_role: str

    @property
    def aborted_by_partner(self) -> bool:
        master = self.result.master
        if self.result.errored or master is None:
            return True
        if master.outcome.status is not Status.ABORTED:
            return False
        last = next((e for events in reversed(master.rounds) for e in reversed(events)
                     if e["action"]["type"] == "get message"), None)
        return last is not None and last["from"] != master.player_name(self.learner_role)


class EpisodeRollout:
    """The ``rollout_func`` given to TRL: plays the named instances, returns tokens, masks and rewards."""

    def __init__(self, settings: GRPOSettings, specs: list[GameSpec], rows: dict[str, InstanceRow],
                 partner: Model | None, tokenizer: Any):
        self.settings = settings
        self.specs = {spec.name: spec for spec in specs}
        self.rows = rows
        self.partner = partner
        self.tokenizer = tokenizer
        self.reward_fn = get_reward(settings.reward, abort_penalty=settings.abort_penalty)
        self.history: list[dict[str, float]] = []

    def learner_model(self, trainer: Any) -> Model:
        from playpen.models.huggingface import HuggingFaceModel

        if getattr(trainer, "use_vllm", False):
            return VLLMLearner(trainer, self.tokenizer)
        model = trainer.accelerator.unwrap_model(trainer.model)
        return HuggingFaceModel(model=model, tokenizer=self.tokenizer, name="learner",
                                settings=GenerationSettings(self.settings.temperature, self.settings.max_new_tokens))

    def play(self, keys: list[tuple[str, str]], learner: Model) -> list[PlayedEpisode]:
        jobs = []
        for game, key in keys:
            spec = self.specs[game]
            role = self.settings.roles.get(game) or default_role(spec)
            players = {r: (learner if r == role or self.partner is None else self.partner) for r in spec.roles}
            jobs.append(EpisodeJob(spec, self.rows[key], players))
        results = run_episodes(jobs, batch_size=len(jobs))
        by_job = {id(r.job): r for r in results}
        played = []
        for job in jobs:
            result = by_job[id(job)]
            role = self.settings.roles.get(job.spec.name) or default_role(job.spec)
            reward = self.reward_fn(result.master) if result.master is not None and result.master.done else 0.0
            played.append(PlayedEpisode(result, reward, role))
        return played

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, Any]:
        keys = [tuple(json.loads(p[-1]["content"][len(ROW_PREFIX):])) for p in prompts]
        learner = self.learner_model(trainer)
        was_training = learner.model.training
        learner.model.eval()
        try:
            episodes = self.play(keys, learner)
            for _ in range(self.settings.partner_retries):
                redo = [i for i, e in enumerate(episodes) if e.aborted_by_partner]
                if not redo:
                    break
                for index, episode in zip(redo, self.play([keys[i] for i in redo], learner)):
                    episodes[index] = episode
        finally:
            if was_training:
                learner.model.train()
        episodes = self._replace_partner_failures(episodes, keys)
        output: dict[str, Any] = {"prompt_ids": [], "completion_ids": [], "logprobs": None, "env_mask": [],
                                  "episode_reward": [], "episode_outcome": []}
        for episode in episodes:
            master = episode.result.master
            tokens = tokenise_conversation(self.tokenizer, list(master.history_of[episode.learner_role]),
                                           self.settings.max_completion_length)
            output["prompt_ids"].append(tokens.prompt_ids)
            output["completion_ids"].append(tokens.completion_ids)
            output["env_mask"].append(tokens.mask)
            output["episode_reward"].append(episode.reward)
            output["episode_outcome"].append(master.outcome.status.value)
        self.history.append(_rollout_stats(episodes))
        return output

    @staticmethod
    def _replace_partner_failures(episodes: list[PlayedEpisode], keys: list[tuple[str, str]]) -> list[PlayedEpisode]:
        """An episode the partner spoiled takes the place of a valid one of the same instance (its group);
        a group with no valid episode at all takes a valid episode from anywhere in the batch."""
        valid = [e for e in episodes if not e.aborted_by_partner and e.result.master is not None]
        if not valid:
            raise PlaypenError("every episode of this batch was spoiled by the partner (aborted or errored); "
                               "check the partner model")
        rng = random.Random(len(episodes))
        replaced = []
        for key, episode in zip(keys, episodes):
            if not episode.aborted_by_partner:
                replaced.append(episode)
                continue
            same = [e for k, e in zip(keys, episodes) if k == key and not e.aborted_by_partner]
            replaced.append(rng.choice(same or valid))
        return replaced


class VLLMLearner(Model):
    """The learner generating through TRL's vLLM engine (colocated or server; weights synced by TRL)."""

    batched = True

    def __init__(self, trainer: Any, tokenizer: Any):
        super().__init__()
        self.name = "learner"
        self.trainer = trainer
        self.tokenizer = tokenizer

    @property
    def model(self) -> Any:  # for the train/eval mode switch around rollouts
        return self.trainer.accelerator.unwrap_model(self.trainer.model)

    def generate(self, requests):
        from playpen.models.base import GenerationResult

        prompts = [self.tokenizer.apply_chat_template(r.messages, tokenize=True, add_generation_prompt=True)
                   for r in requests]
        _, completions, _, _ = self.trainer.vllm_generation.generate(prompts=prompts, images=None, num_generations=1)
        return [GenerationResult(text=self.tokenizer.decode(ids, skip_special_tokens=True).strip()) for ids in completions]


def _rollout_stats(episodes: list[PlayedEpisode]) -> dict[str, float]:
    count = len(episodes)
    status = [e.result.master.outcome.status for e in episodes]
    return {
        "episodes": count,
        "reward": sum(e.reward for e in episodes) / count,
        "success": sum(s is Status.SUCCESS for s in status) / count,
        "aborted": sum(s is Status.ABORTED for s in status) / count,
    }


def episode_reward(completions: list[Any], episode_reward: list[float], **_: Any) -> list[float]:
    """TRL reward function: the game's reward computed during the rollout."""
    return [float(r) for r in episode_reward]


def train_grpo(learner: str, output_dir: Path, settings: GRPOSettings, *, resume: bool = False) -> tuple[Path, str]:
    """Run GRPO and return (final checkpoint, registered alias)."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from playpen.models.registry import load_model
    from playpen.train.evaluation import EvalCallback, plot_learning_curves

    if settings.batch_size % settings.group_size:
        raise PlaypenError(f"batch size {settings.batch_size} must be a multiple of the group size {settings.group_size}")
    specs = _specs(settings.games)
    for spec in specs:
        role = settings.roles.get(spec.name)
        if role and role not in spec.roles:
            raise PlaypenError(f"{spec.name} has no role '{role}' (roles: {', '.join(spec.roles)})")
    sampler = InstanceSampler.from_specs(specs, split=settings.split, weights=settings.weights)
    rows = {row.key: row for game_rows in sampler.rows.values() for row in game_rows}
    model, tokenizer, base = load_trainable(learner, lora_r=settings.lora_r, lora_alpha=settings.lora_alpha)
    partner = None if settings.partner == "self" else load_model(
        settings.partner, GenerationSettings(temperature=0.0, max_tokens=settings.max_new_tokens))
    output_dir.mkdir(parents=True, exist_ok=True)
    save_config(settings, output_dir)
    dataset = Dataset.from_list(training_rows(sampler, repeats=max(1, settings.max_steps), seed=settings.seed))
    rollout = EpisodeRollout(settings, specs, rows, partner, tokenizer)
    cuda = device_kind() == "cuda"
    args = GRPOConfig(
        output_dir=str(output_dir),
        learning_rate=settings.learning_rate,
        max_steps=settings.max_steps,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=1,
        num_generations=settings.group_size,
        max_completion_length=settings.max_completion_length,
        beta=settings.beta,
        temperature=settings.temperature,
        logging_steps=1,
        save_steps=settings.save_steps,
        save_total_limit=2,
        seed=settings.seed,
        report_to="none",
        bf16=cuda,
        use_cpu=not cuda,
        lr_scheduler_type="constant",
    )
    callback = EvalCallback(settings, specs, tokenizer, partner, output_dir)
    trainer = GRPOTrainer(model=model, reward_funcs=[episode_reward], args=args, train_dataset=dataset,
                          processing_class=tokenizer, rollout_func=rollout, callbacks=[callback])
    trainer.train(resume_from_checkpoint=last_checkpoint(output_dir) if resume else None)
    final = output_dir / "final"
    trainer.save_model(str(final))
    tokenizer.save_pretrained(str(final))
    _write_training_log(trainer.state.log_history, rollout.history, output_dir)
    plot_learning_curves(output_dir)
    alias = register_result(settings.alias or output_dir.name, final, base)
    if partner is not None:
        partner.close()
    return final, alias


def _write_training_log(log_history: list[dict[str, Any]], rollouts: list[dict[str, float]], output_dir: Path) -> None:
    steps = [e for e in log_history if "step" in e and ("loss" in e or "reward" in e)]
    rows = []
    for index, entry in enumerate(steps):
        row = {"step": entry["step"], "loss": entry.get("loss"), "reward": entry.get("reward"),
               "kl": entry.get("kl"), "learning_rate": entry.get("learning_rate")}
        if index < len(rollouts):
            row.update({f"rollout_{k}": v for k, v in rollouts[index].items()})
        rows.append(row)
    if not rows:
        return
    keys = list(dict.fromkeys(k for row in rows for k in row))
    with open(output_dir / "training_log.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)

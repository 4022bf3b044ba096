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

The group play itself — episode sets, branching (trunk + forks), partner retries and replacement, flat-group
resampling, rewards — is ``playpen.envs.groups.GroupPlay`` (no torch, no TRL); this module is the TRL adapter:
dataset rows, the ``rollout_func`` that tokenises the played episodes, the trainer's setup and callbacks.
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import warnings
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from playpen.core.errors import PlaypenError
from playpen.core.instances import InstanceRow
from playpen.core.master import Status
from playpen.core.registry import GameSpec
from playpen.envs.groups import GroupPlay, PlayedEpisode, replies_made
from playpen.envs.text_env import InstanceSampler
from playpen.models.base import GenerationSettings, Model
from playpen.core.messages import merge_messages
from playpen.train.common import (
    device_kind,
    eval_mode,
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
from playpen.models.vllm_learner import VLLMLearner, colocated_engine_scope, reload_layerwise
from playpen.train.guardrails import check_guardrails
from playpen.train.settings import GRPOSettings, check_values, check_vllm_installed

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


def learner_role(spec: GameSpec, roles: dict[str, str] | None = None) -> str:
    """The learner's role in ``spec``: the configured one, else the game's default (``GameSpec.learner``)."""
    return spec.learner_role((roles or {}).get(spec.name))


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


class EpisodeRollout:
    """The ``rollout_func`` given to TRL: plays the named instances, returns tokens, masks and rewards."""

    def __init__(self, settings: GRPOSettings, specs: list[GameSpec], rows: dict[str, InstanceRow],
                 partner: Model | None, tokenizer: Any, log_path: Path | None = None):
        self.settings = settings
        self.specs = list(specs)
        self.rows = rows
        self.partner = partner
        self.tokenizer = tokenizer
        self.log_path = log_path
        self.calls = 0
        self._warned: set[str] = set()  # the causes of cut trajectories already warned about

    def groups(self) -> GroupPlay:
        """The group play of a step, from the current settings and partner."""
        s = self.settings
        return GroupPlay(self.specs, self.rows, self.partner, roles=s.roles, reward=s.reward,
                         abort_penalty=s.abort_penalty, partner_retries=s.partner_retries, branching=s.branching,
                         resample_flat_groups=s.resample_flat_groups)

    def learner_model(self, trainer: Any) -> Model:
        from playpen.models.huggingface import HuggingFaceModel

        if getattr(trainer, "use_vllm", False):
            return VLLMLearner(trainer, self.tokenizer, self.settings.max_new_tokens)
        model = trainer.accelerator.unwrap_model(trainer.model)
        return HuggingFaceModel(model=model, tokenizer=self.tokenizer, name="learner", keep_prompt_tokens=True,
                                settings=GenerationSettings(self.settings.temperature, self.settings.max_new_tokens))

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, Any]:
        groups = self.groups()
        keys = [groups.resolve(*row_key(p)) for p in prompts]
        step = int(getattr(getattr(trainer, "state", None), "global_step", self.calls)) + 1
        rng = random.Random(f"{self.settings.seed}:{step}:{self.calls}")
        self.calls += 1
        if self.settings.branching and getattr(getattr(trainer, "accelerator", None), "num_processes", 1) > 1:
            raise PlaypenError("branching needs a single training process (a group split across "
                               "processes cannot share its trunk); turn branching off or use one process")
        learner = self.learner_model(trainer)
        with eval_mode(getattr(learner, "model", None)):  # dropout off while the learner plays
            played = groups.play_step(keys, learner, rng)
        episodes = played.episodes
        output: dict[str, Any] = {"prompt_ids": [], "completion_ids": [], "logprobs": None, "env_mask": [],
                                  "episode_reward": [], "episode_outcome": [], "episode_replaced": [],
                                  "episode_resampled": played.resampled, "episode_cut": []}
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
        self._log(step, played.keys, episodes, trajectories, getattr(trainer, "accelerator", None))
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
                                         episode.shared_replies, self.settings.trained_replies)
        if len(with_tokens) < len(answered):
            raise PlaypenError(f"the learner reported token ids for {len(with_tokens)} of its {len(answered)} "
                               "replies; its backend must report them for every reply (or for none)")
        # replies made before the episode's start state (branching) are in the first prompt, not in ``answered``
        shared = max(0, episode.shared_replies - replies_made(result.job.start, role))
        tokens = tokens_from_turns([Turn(g.prompt_token_ids, g.token_ids, g.logprobs) for g in answered], limit,
                                   shared, self.settings.trained_replies)
        if tokens.cut_reason is not None and tokens.cut_reason not in self._warned:
            self._warned.add(tokens.cut_reason)
            log.warning(CUT_WARNINGS[tokens.cut_reason])
        return tokens

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
    check_values("train grpo", asdict(settings), GRPOSettings)  # before trl's import and the model: fail fast
    from datasets import Dataset
    from trl import GRPOConfig

    from playpen.games import resolve_games
    from playpen.models.registry import load_model
    from playpen.train.callbacks import EvalCallback, StepPrinter
    from playpen.train.shared_prefix import SharedPrefixGRPOTrainer

    if settings.group_size < 2:
        raise PlaypenError("the group size must be at least 2 (advantages are relative to the group)")
    if settings.batch_size % settings.group_size:
        raise PlaypenError(f"batch size {settings.batch_size} must be a multiple of the group size {settings.group_size}")
    micro = settings.micro_batch_size or settings.batch_size
    if settings.batch_size % micro:
        raise PlaypenError(f"batch size {settings.batch_size} must be a multiple of the micro batch size {micro}")
    specs = resolve_games(settings.games)
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
    if settings.use_vllm:
        check_vllm_installed()
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
        callbacks.append(StepPrinter(printer, settings.max_steps))
    with warnings.catch_warnings():  # TRL marks rollout_func experimental; we pin TRL's version
        warnings.filterwarnings("ignore", message=".*'rollout_func'.*experimental")
        trainer = SharedPrefixGRPOTrainer(model=model, reward_funcs=[episode_reward], args=args,
                                          train_dataset=dataset, processing_class=tokenizer, rollout_func=rollout,
                                          callbacks=callbacks)
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
    from playpen.eval.training_log import plot_learning_curves, write_training_log

    output_dir = Path(output_dir)
    # a colocated vLLM engine leaves a process group and distributed variables behind: dropped after the run,
    # so that the next trainer of this process (an experiment's next stage) is not wrapped for several processes
    with colocated_engine_scope() if settings.use_vllm else nullcontext():
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
            if getattr(run.trainer, "vllm_generation", None) is not None:
                run.trainer.vllm_generation.llm = None  # the engine's memory, before the next stage
    chosen = output_dir / BEST if settings.select_by and (output_dir / BEST / "best.json").is_file() else final
    alias = register_result(settings.alias or output_dir.name, chosen, run.base)
    return chosen, alias

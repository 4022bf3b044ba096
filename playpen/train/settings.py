"""Every setting of ``playpen train sft|dpo|grpo``, ``playpen experiment`` and ``playpen demo``: one dataclass per
method, the single home of each setting's default and meaning (its ``#:`` comment is also its command-line help),
and the one check of values against them.

``TrainSettings`` holds what every trainer takes; ``OfflineSettings`` adds what SFT and DPO share; ``SFTSettings``,
``DPOSettings`` and ``GRPOSettings`` add their own, and restate an inherited field only to give it another default.
``ExperimentRecipe`` is ``playpen experiment``'s recipe; its ``[sft]``, ``[dpo]`` and ``[grpo]`` tables hold only
the values that differ from those classes' defaults. ``DemoSettings`` are ``playpen demo``'s choices.

A setting's value comes from the dataclass default, then a ``-c`` TOML/JSON file (or a recipe file), then the
command line, the later winning. ``load_settings`` checks every key and value with ``check_values`` before anything
runs: an unknown key is refused with the closest accepted one and the list of accepted ones, a value of the wrong
type with the type it must have. Stdlib only: ``playpen --help`` builds the commands' options from these classes.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
import sys
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal

from playpen.core.errors import PlaypenError

#: what ``playpen experiment`` trains (SFT->DPO and SFT->GRPO start from the same seed's SFT model)
METHODS = ("sft", "sft_dpo", "grpo", "sft_grpo")


# ------------------------------------------------------------------------------------------ the settings
@dataclass
class TrainSettings:
    """What every trainer takes; the defaults are SFT's (the paper's §3.1)."""

    #: the optimiser's learning rate
    learning_rate: float = 2e-4
    #: optimisation steps (-1: as many as the epochs take)
    max_steps: int = -1
    #: training examples per optimisation step and device
    batch_size: int = 4
    #: LoRA rank (0 or none: full fine-tuning)
    lora_r: int | None = 16
    #: LoRA alpha (none: twice the rank)
    lora_alpha: int | None = None
    #: save a checkpoint every N steps
    save_steps: int = 50
    #: seed of the data order, the sampling and the new weights
    seed: int = 7331
    #: the model alias the result is registered under (none: the output folder's name)
    alias: str | None = None


@dataclass
class OfflineSettings(TrainSettings):
    """What SFT and DPO share: training on a fixed dataset."""

    #: passes over the dataset (when max_steps is -1)
    epochs: float = 1.0
    #: batches whose gradients add up to one optimisation step
    grad_accumulation: int = 1
    #: tokens per training row (longer rows are cut)
    max_length: int = 1024


@dataclass
class SFTSettings(OfflineSettings):
    """Supervised fine-tuning; the defaults follow the paper's SFT (LoRA, lr 2e-4, batch 4, max length 1024)."""


@dataclass
class DPOSettings(OfflineSettings):
    """Direct preference optimisation; the defaults follow the paper's DPO (beta 0.1, lr 5e-6, batch 2 × 3)."""

    learning_rate: float = 5e-6
    batch_size: int = 2
    grad_accumulation: int = 3
    seed: int = 42
    #: weight of the implicit KL penalty to the starting model (higher: stay closer to it)
    beta: float = 0.1


@dataclass
class GRPOSettings(TrainSettings):
    """GRPO in the playpen (``playpen.train.grpo``): the learner plays games against frozen partners."""

    learning_rate: float = 1e-5
    max_steps: int = 100
    #: episodes per optimisation step (= instances per step × group_size), all played in one batch
    batch_size: int = 16
    seed: int = 0
    #: the games to train on
    games: list[str] = field(default_factory=lambda: ["referencegame"])
    #: learner role per game (default: the game's, ``GameSpec.learner``: the paper's in its training games)
    roles: dict[str, str] = field(default_factory=dict)
    #: relative sampling weight per game (default 1 each)
    weights: dict[str, float] = field(default_factory=dict)
    #: partner alias ("scripted", "scripted-bad", any model alias) or "self" (the learner plays every role)
    partner: str = "scripted"
    #: the instance split to train on
    split: str = "train"
    #: per game, an instances file to train on instead of ``split`` (an experiment's training instances without
    #: the evaluated target words)
    instances: dict[str, str] = field(default_factory=dict)
    #: episodes per instance whose rewards are compared (the group of GRPO's advantages)
    group_size: int = 8
    #: episodes per forward/backward pass (None: the whole batch); smaller saves memory, not time
    micro_batch_size: int | None = None
    #: KL weight to the reference model (0: no reference model, no KL)
    beta: float = 0.04
    #: the learner's sampling temperature while training
    temperature: float = 1.0
    #: tokens per learner reply while training
    max_new_tokens: int = 100
    #: tokens of the whole multi-turn conversation after the first prompt (learner + game master + partner)
    max_completion_length: int = 1024
    #: an episode reward name (``playpen.envs.rewards``: paper, main_score, quality, success) or a callable
    reward: Any = "main_score"
    #: reward of an episode the learner aborted is ``-abort_penalty``
    abort_penalty: float = 0.0
    #: times an episode the partner spoiled is played again before a valid one of its group replaces it
    partner_retries: int = 1
    #: each group shares one history up to a learner turn drawn uniformly, then forks (turn-level credit)
    branching: bool = False
    #: learner replies trained per episode after the shared history (None: all; 1: only the reply that answers
    #: the state its whole group answered, the first turn or the fork: docs/training.md, "Credit per turn")
    trained_replies: int | None = None
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
    #: the instance split of the evaluations
    eval_split: str = "validation"
    #: instances per experiment in evaluations of the trained games (None: all)
    eval_per_experiment: int | None = 1
    #: instances per experiment in evaluations of the extra ``eval_games`` (None: all)
    eval_extra_per_experiment: int | None = 1
    #: tokens per reply in the evaluations (greedy)
    eval_max_new_tokens: int = 100
    #: episodes answered in one model call in the evaluations
    eval_batch_size: int = 32
    #: who plays the policy in evaluations: "huggingface" (in this process) or "vllm" (saved, then served by a vLLM
    #: server started for each evaluation: models/vllm_server.serve_policy)
    eval_backend: Literal["huggingface", "vllm"] = "huggingface"
    #: reference tasks of the static suite evaluated too (their scope is ``static``: the statscore), from the
    #: clembench-style folder ``eval_static_instances``, ``eval_static_per_experiment`` instances per experiment
    eval_static_games: list[str] = field(default_factory=list)
    #: a folder laid out like clembench's static/ holding the reference tasks' instance files
    eval_static_instances: str | None = None
    #: instances per experiment of each reference task (None: all)
    eval_static_per_experiment: int | None = 10
    #: keep the evaluated checkpoint that is best by this scope ("in", "out", "static", "clemscore") in
    #: ``best/`` and register it instead of the last one (``train.guardrails``)
    select_by: str | None = None
    #: stop training once the statscore falls more than this many points below its value before training
    stop_static_drop: float | None = None
    #: TRL's vLLM engine for the learner's generation (GPU; "colocate" or "server", see docs/training.md)
    use_vllm: bool = False
    #: "colocate" (vLLM inside the training process) or "server" (a `trl vllm-serve` process)
    vllm_mode: str = "colocate"
    #: the `trl vllm-serve` address in server mode
    vllm_server_base_url: str | None = None
    #: share of the GPU's memory that colocated vLLM takes
    vllm_gpu_memory_utilization: float = 0.3


@dataclass
class ExperimentRecipe:
    """``playpen experiment``'s recipe (``configs/recipes/experiment_*.toml``; ``playpen.train.experiment``)."""

    #: the base model alias or checkpoint every method starts from
    base: str = "smollm2-135m"
    #: the in-domain (training) games
    games: list[str] = field(default_factory=lambda: ["referencegame"])
    #: the learner's role per in-domain game (default: the game's learner role)
    roles: dict[str, str] = field(default_factory=dict)
    #: the partner in the training setup ("scripted" or any alias), also for the in-domain evaluation
    partner: str = "scripted"
    #: the out-of-domain games, evaluated in self-play
    ood_games: list[str] = field(default_factory=lambda: ["guesswhat", "textmapworld"])
    #: reference tasks of the static suite (statscore: cladder, eqbench, ifeval, mmlu_pro)
    static_games: list[str] = field(default_factory=list)
    #: where the reference tasks' clembench instance files are (a folder laid out like clembench's ``static/``;
    #: they ship no splits)
    static_instances: str | None = None
    #: the methods to train (sft, sft_dpo, grpo, sft_grpo)
    methods: list[str] = field(default_factory=lambda: ["sft", "sft_dpo", "grpo"])
    #: one training run of every method per seed
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    #: the split the training data and the GRPO episodes come from
    train_split: str = "train"
    #: per in-domain game, the split GRPO plays instead of ``train_split`` (e.g. taboo's ``heldout``: words the SFT
    #: data never showed, where the SFT model still fails often enough for a group's rewards to differ); the
    #: evaluated target words are left out of it as from the training split
    grpo_splits: dict[str, str] = field(default_factory=dict)
    #: the split every evaluation plays
    eval_split: str = "validation"
    #: instances per experiment in the in-domain evaluation (None: all)
    eval_per_experiment: int | None = None
    #: instances per experiment in the out-of-domain evaluation (None: all)
    ood_per_experiment: int | None = 1
    #: instances per experiment of each reference task (None: all)
    static_per_experiment: int | None = 10
    #: per reference task, instances per experiment instead of ``static_per_experiment`` (e.g. ``mmlu_pro = 2``: its
    #: prompts run to ~1,000 tokens, a CPU spends ~10 s on each episode)
    static_per_game: dict[str, int] = field(default_factory=dict)
    #: tokens per reply in the evaluations (greedy)
    eval_max_new_tokens: int = 48
    #: episodes answered in one model call in the evaluations
    eval_batch_size: int = 32
    #: "huggingface": every evaluated model loads as its alias or folder says; "vllm": the base and trained models
    #: are served by vLLM (``vllm:<alias or folder>``, a server per evaluation; the partner loads as usual)
    eval_backend: Literal["huggingface", "vllm"] = "huggingface"
    #: per in-domain game, the quality a well-formed reply without content gets (measured; the report draws it as
    #: the level a gain "beyond the reply format" must clear)
    format_only_quality: dict[str, float] = field(default_factory=dict)
    #: per in-domain game, the scripted player whose transcripts the SFT data imitate (default ``scripted``, the
    #: competent player; e.g. ``scripted-literal`` for a teacher a small model can copy)
    teachers: dict[str, str] = field(default_factory=dict)
    #: extra recorded runs (ours or clembench's) whose episodes join the SFT / DPO data
    data_from: list[str] = field(default_factory=list)
    #: the SFT settings that differ from SFTSettings' defaults (not seed or alias: the experiment sets them)
    sft: dict[str, Any] = field(default_factory=dict)
    #: the DPO settings that differ from DPOSettings' defaults (not seed or alias: the experiment sets them)
    dpo: dict[str, Any] = field(default_factory=dict)
    #: the GRPO settings that differ from GRPOSettings' defaults (not seed, alias, games, roles, partner, split
    #: or instances: the experiment sets them)
    grpo: dict[str, Any] = field(default_factory=dict)
    #: bootstrap resamples of the report's intervals
    resamples: int = 2000
    #: evaluate on the training split (train_split = eval_split) knowingly; refused otherwise
    allow_split_overlap: bool = False

    def check(self) -> None:
        """The whole recipe, before any stage starts (``recipe_checks.check_recipe``)."""
        from playpen.train.recipe_checks import check_recipe

        check_recipe(self)


@dataclass
class DemoSettings:
    """``playpen demo``'s choices (``playpen.demo``, where ``SFT_DEMO`` and ``GRPO_DEMO`` hold what each demo
    changes in the trainers' settings)."""

    #: which demo: sft (SFT on taboo, the learning beyond format) or grpo (GRPO on the reference game's format)
    method: str = "sft"
    #: training steps (none: the method's own, 30 for sft and 10 for grpo of 8 episodes each)
    steps: int | None = None
    #: seed of the training run
    seed: int = 0
    #: out-of-domain games evaluated before and after
    ood_games: list[str] = field(default_factory=lambda: ["guesswhat", "textmapworld"])


# ------------------------------------------------------------------------------------------ their help
def field_help(cls: type) -> dict[str, str]:
    """Each field's ``#:`` comment: the one above its declaration, or above the nearest base's when a class
    restates a field without one."""
    docs: dict[str, str] = {}
    for klass in reversed([k for k in cls.__mro__ if is_dataclass(k)]):
        docs.update(_comments(sys.modules[klass.__module__].__file__).get(klass.__qualname__, {}))
    return docs


@functools.cache
def _comments(source: str | None) -> dict[str, dict[str, str]]:
    """Class name -> field -> its ``#:`` comment, for the top-level classes of a module's source (read as text:
    cheaper than ``inspect`` on every start of ``playpen``); nothing without a source file."""
    try:
        lines = Path(source).read_text(encoding="utf-8").splitlines() if source else []
    except OSError:
        return {}
    found: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    comment: list[str] = []
    for line in lines:
        opened = re.match(r"class (\w+)\b", line)
        if opened:
            current = found.setdefault(opened.group(1), {})
        text = line.strip()
        if text.startswith("#:"):
            comment.append(text[2:].strip())
            continue
        declared = re.match(r"    (\w+)\s*:", line)
        if declared and comment:
            current[declared.group(1)] = " ".join(comment)
        comment = []
    return found


def option_name(key: str) -> str:
    """The command-line option of a setting (``learning_rate`` -> ``--learning-rate``)."""
    return "--" + key.replace("_", "-")


def setting_types(cls: type) -> dict[str, Any]:
    """Each field's type (the dataclass annotations evaluated)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls)}


def default_value(cls: type, key: str) -> Any:
    """The default of field ``key`` of ``cls`` (a fresh one for list and table fields)."""
    spec = next(f for f in fields(cls) if f.name == key)
    return spec.default_factory() if callable(spec.default_factory) else spec.default


# ------------------------------------------------------------------------------------------ values
#: settings that are sizes or counts: 0 (or less) would train or evaluate nothing, or fail deep inside (not
#: ``lora_r``: 0 means full fine-tuning)
POSITIVE = {"batch_size", "grad_accumulation", "max_length", "save_steps", "learning_rate", "epochs", "group_size",
            "micro_batch_size", "max_new_tokens", "max_completion_length", "eval_max_new_tokens",
            "eval_batch_size", "eval_per_experiment", "ood_per_experiment",
            "static_per_experiment", "eval_extra_per_experiment", "resamples", "steps", "trained_replies"}
#: settings that are counts or seeds: below 0 means nothing
NON_NEGATIVE = {"seed", "resample_flat_groups", "partner_retries", "eval_steps", "abort_penalty", "beta"}


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is list:
        return f"a list of {_describe(args[0]).removeprefix('a ').removeprefix('an ')}s" if args else "a list"
    if origin is dict:
        return "a table"
    if origin is typing.Literal:
        return " or ".join(json.dumps(a) for a in args)
    return {int: "a whole number", float: "a number", str: "a string", bool: "true or false",
            type(None): "nothing"}.get(hint, str(hint))


def _fits(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is typing.Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if origin is list:
        return isinstance(value, list) and all(_fits(v, args[0]) for v in value) if args else isinstance(value, list)
    if origin is dict:
        return isinstance(value, dict) and (not args or all(_fits(k, args[0]) and _fits(v, args[1])
                                                            for k, v in value.items()))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint in (int, str):
        return isinstance(value, hint) and not isinstance(value, bool)
    return True  # a type this check does not know (callables): left to the trainer


def check_vllm_installed() -> None:
    """``use_vllm`` needs vLLM importable in this environment; else a PlaypenError that says how to get it."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        raise PlaypenError("use_vllm needs vLLM in this environment: on a CPU, `make vllm-venv` and run with "
                           ".venv-vllm/bin/playpen; on GPUs, pip install -e \".[vllm]\" (or set use_vllm = false)")


def check_values(where: str, values: Mapping[str, Any], cls: type, *, fixed: set[str] = frozenset()) -> None:
    """Every key of ``values`` is a field of ``cls`` (not one of ``fixed``), every value has the field's type,
    none of the ``POSITIVE`` ones is 0 or less and none of the ``NON_NEGATIVE`` ones below 0; a PlaypenError
    names the first one that is not (an unknown key with the closest accepted one and all accepted ones)."""
    hints = typing.get_type_hints(cls)
    accepted = sorted(f.name for f in fields(cls) if f.name not in fixed)
    for key, value in values.items():
        if key in fixed:
            raise PlaypenError(f"{where}: {key} is set by the experiment itself (per seed and game), not in the "
                               f"recipe; accepted: {', '.join(accepted)}")
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise PlaypenError(f"{where}: unknown setting {key!r}{hint}; accepted: {', '.join(accepted)}")
        if not _fits(value, hints[key]):
            raise PlaypenError(f"{where}: {key} must be {_describe(hints[key])}, not {json.dumps(value, default=str)}")
        if key in POSITIVE and value is not None and not value > 0:
            raise PlaypenError(f"{where}: {key} must be above 0 (got {value})")
        if key in NON_NEGATIVE and value < 0:
            raise PlaypenError(f"{where}: {key} must be 0 or more (got {value})")
        if key == "max_steps" and value == 0 or (key == "max_steps" and value < -1):
            raise PlaypenError(f"{where}: max_steps must be a number of steps above 0 (or -1: the epochs decide), "
                               f"not {value}")


def read_settings_file(path: Path) -> dict[str, Any]:
    """The table of a TOML (``.toml``) or JSON (any other name) settings file."""
    if not path.is_file():
        raise PlaypenError(f"config file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
        values = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:  # TOMLDecodeError is a ValueError
        raise PlaypenError(f"{path}: not a valid {path.suffix.lstrip('.') or 'JSON'} file ({error})") from None
    if not isinstance(values, dict):
        raise PlaypenError(f"{path}: expected a table of settings, found {type(values).__name__}")
    return values


def load_settings(cls: type, path: Path | None = None, overrides: Mapping[str, Any] | None = None, *,
                  where: str = "settings") -> Any:
    """``cls`` from its defaults, then the settings file ``path``, then ``overrides`` (a table adds to the file's
    table), every key and value checked (``check_values``) before anything else happens."""
    values = read_settings_file(path) if path is not None else {}
    check_values(str(path), values, cls)
    check_values(where, overrides or {}, cls)
    for key, value in (overrides or {}).items():
        earlier = values.get(key)
        values[key] = {**earlier, **value} if isinstance(value, dict) and isinstance(earlier, dict) else value
    return cls(**values)


# ------------------------------------------------------------------------------------------ command line
def text_value(key: str, hint: Any, given: Any) -> Any:
    """A command-line value as the field's type: a list from comma-separated or repeated items, a table from
    repeated ``name=value`` items (in a table of any values, ``value`` is read as a TOML value — 3, 0.5, true,
    "x" — else kept as text); other values come converted by the command line already."""
    hint = without_none(hint)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list:
        items = [part.strip() for item in given for part in item.split(",") if part.strip()]
        return [_text_scalar(key, args[0] if args else str, item) for item in items]
    if origin is dict:
        table: dict[str, Any] = {}
        for item in given:
            name, equals, value = item.partition("=")
            if not equals or not name.strip():
                raise PlaypenError(f"{option_name(key)} takes name=value, not {item!r}")
            table[name.strip()] = _text_scalar(key, args[1] if args else Any, value.strip())
        return table
    return given


def without_none(hint: Any) -> Any:
    """``X`` for ``X | None``, else ``hint``."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1 else hint


def _text_scalar(key: str, hint: Any, text: str) -> Any:
    if hint in (int, float):
        try:
            return hint(text)
        except ValueError:
            raise PlaypenError(f"{option_name(key)}: {text!r} is not {_describe(hint)}") from None
    if hint is Any:
        try:
            return tomllib.loads(f"value = {text}")["value"]
        except tomllib.TOMLDecodeError:
            return text
    return text

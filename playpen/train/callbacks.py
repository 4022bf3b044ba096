"""The trainer callbacks of GRPO: the evaluations during training with their guardrails (``EvalCallback``) and
the one-line-per-step progress printer."""

from __future__ import annotations

import time
from contextlib import closing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from playpen.core.registry import GameSpec
from playpen.eval.clemscore import ModelTable
from playpen.eval.policy import append_eval_rows, evaluate_policy, read_eval_rows, table_rows
from playpen.models.base import GenerationSettings, Model
from playpen.results.store import atomic_write_json
from playpen.train.common import eval_mode
from playpen.train.guardrails import best_step, history_from_rows, should_stop, static_drop


class EvalCallback(TrainerCallback):
    """Evaluates the policy before training, every ``eval_steps`` steps and at the end (greedy decoding).

    Appends to ``eval_metrics.csv`` and records the episodes under ``eval/step-N/``. On resume, steps already
    in the CSV are not evaluated again (and the resumed start is not a "before" evaluation)."""

    def __init__(self, settings: Any, specs: Sequence[GameSpec], roles: dict[str, str], tokenizer: Any,
                 partner: Model | None, output_dir: Path, *, resume: bool = False,
                 printer: Callable[[str], None] | None = print):
        from playpen.games import resolve_games

        self.settings = settings
        self.trained = list(specs)
        extra = resolve_games(settings.eval_games) if settings.eval_games else []
        self.static = resolve_games(getattr(settings, "eval_static_games", None) or [])
        self.specs = self.trained + [s for s in extra + self.static if s.name not in {t.name for t in self.trained}]
        self.roles = dict(roles)
        self.tokenizer = tokenizer
        self.partner = partner
        self.output_dir = Path(output_dir)
        self.path = self.output_dir / "eval_metrics.csv"
        self.printer = printer
        earlier = read_eval_rows(self.path) if resume else []
        self.done_steps: set[int] = {r["step"] for r in earlier}
        self.history = history_from_rows(earlier)

    def evaluate(self, step: int, model: Any, state: Any = None) -> ModelTable | None:
        """Evaluate at ``step`` (once; in the main process only, on the unwrapped model transformers passes)."""
        if step in self.done_steps or (state is not None and not state.is_world_process_zero):
            return None
        self.done_steps.add(step)
        settings = GenerationSettings(0.0, self.settings.eval_max_new_tokens)
        if getattr(self.settings, "eval_backend", "huggingface") == "vllm":
            from playpen.models.vllm_server import serve_policy

            policy: Model = serve_policy(model, self.tokenizer, settings, name="learner")
        else:
            from playpen.models.huggingface import HuggingFaceModel

            policy = HuggingFaceModel(model=model, tokenizer=self.tokenizer, name="learner", settings=settings)
        with eval_mode(model), closing(policy):  # a vLLM server stops here
            trained = {spec.name for spec in self.trained}
            counts = {spec.name: self.settings.eval_per_experiment if spec.name in trained
                      else getattr(self.settings, "eval_extra_per_experiment", self.settings.eval_per_experiment)
                      for spec in self.specs}
            counts.update({spec.name: self.settings.eval_static_per_experiment for spec in self.static})
            table = evaluate_policy(policy, self.specs, roles=self.roles, partner=self.partner,
                                    split=self.settings.eval_split, per_experiment=counts,
                                    batch_size=self.settings.eval_batch_size,
                                    results_dir=self.output_dir / "eval" / f"step-{step}",
                                    instances={s.name: self.settings.eval_static_instances for s in self.static})
        rows = table_rows(step, table)
        append_eval_rows(self.path, rows)
        self.history.update(history_from_rows(rows))
        if self.printer is not None:
            parts = [f"{r['game'] or r['scope']}: played {r['played']:.0f}% clemscore {r['clemscore']:.2f}"
                     for r in rows if r["scope"] in ("game", "in", "out", "static")]
            self.printer(f"eval @ step {step}: " + "; ".join(parts))
        self._keep_if_best(step, model)
        return table

    def _keep_if_best(self, step: int, model: Any) -> None:
        """With ``select_by``: save the policy to ``best/`` when this evaluation is the best so far."""
        select_by = getattr(self.settings, "select_by", None)
        best = best_step(self.history, select_by) if select_by else None
        if best is None or best[0] != step:
            return
        folder = self.output_dir / "best"
        model.save_pretrained(str(folder))
        self.tokenizer.save_pretrained(str(folder))
        atomic_write_json(folder / "best.json", {"step": step, "select_by": select_by, "value": best[1]})
        if self.printer is not None:
            self.printer(f"best so far by {select_by}: step {step} ({best[1]:.2f}) -> {folder}")

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step == 0:
            self.evaluate(0, model, state)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        every = self.settings.eval_steps
        if every and state.global_step % every == 0 and state.global_step < state.max_steps:
            self.evaluate(state.global_step, model, state)
            margin = getattr(self.settings, "stop_static_drop", None)
            if margin is not None and _on_every_process(should_stop(self.history, margin)):
                control.should_training_stop = True
                if self.printer is not None and state.is_world_process_zero:
                    self.printer(f"stopping early at step {state.global_step}: the statscore fell "
                                 f"{static_drop(self.history):.2f} points (more than {margin}) since before training")
        return control

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self.evaluate(state.global_step, model, state)


def _on_every_process(decision: bool) -> bool:
    """The main process's ``decision`` on every training process (only the main process evaluates, and all must
    stop together)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return decision
    box = [decision]
    dist.broadcast_object_list(box, src=0)
    return bool(box[0])




class StepPrinter(TrainerCallback):
    """One line per optimisation step (instead of transformers' raw log dicts)."""

    def __init__(self, printer: Callable[[str], None], max_steps: int) -> None:
        self.printer = printer
        self.max_steps = max_steps
        self.started = time.monotonic()

    def on_step_begin(self, args, state, control, **kwargs):
        self.started = time.monotonic()

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if ("loss" not in logs and "reward" not in logs) or not state.is_world_process_zero:
            return
        parts = [f"step {state.global_step}/{self.max_steps}"]
        for key, label, form in (("reward", "reward", "{:+.3f}"), ("rollout/played", "played", "{:.0%}"),
                                 ("rollout/success", "success", "{:.0%}"), ("loss", "loss", "{:.4f}"),
                                 ("kl", "kl", "{:.4f}")):
            if isinstance(logs.get(key), (int, float)):
                parts.append(f"{label} " + form.format(logs[key]))
        parts.append(f"{time.monotonic() - self.started:.0f}s")
        self.printer(", ".join(parts))

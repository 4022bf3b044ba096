"""Evaluation of a policy while (and around) training: play validation instances, compute clembench figures.

Trained games are played in the training setup (the learner's role against the partner); the other games
are played in self-play, the clembench convention. Figures are computed with the same code as
``playpen eval`` (% played, quality score, clemscore; in-domain and out-of-domain separately).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from playpen.core import metrics
from playpen.core.registry import GameSpec
from playpen.eval.clemscore import ModelTable, ScoreRow, build_tables
from playpen.eval.report import summaries
from playpen.models.base import GenerationSettings, Model
from playpen.rollout.benchmark import select_rows
from playpen.rollout.engine import EpisodeJob, run_episodes

EVAL_FIELDS = ["step", "scope", "game", "played", "quality", "clemscore", "episodes"]


def evaluate_policy(
    model: Model,
    specs: Sequence[GameSpec],
    *,
    roles: dict[str, str],
    partner: Model | None,
    split: str = "validation",
    per_experiment: int | None = 1,
    batch_size: int = 32,
    results_dir: Path | None = None,
) -> ModelTable:
    """Play the games and return the clembench table of ``model`` (one row of results.csv)."""
    from playpen.results.store import ResultsStore

    jobs = []
    for spec in specs:
        role = roles.get(spec.name)
        players = {r: (partner if role and r != role and partner is not None else model) for r in spec.roles}
        for row in select_rows(spec, split=split, per_experiment=per_experiment):
            jobs.append(EpisodeJob(spec, row, players))
    store = ResultsStore(results_dir, model.name) if results_dir is not None else None
    rows: list[ScoreRow] = []
    for result in run_episodes(jobs, batch_size=batch_size):
        if result.errored or result.master is None:
            continue
        row = result.job.row
        if store is not None:
            store.write_episode(row, result.master, {r: m.name for r, m in result.job.players.items()}, {})
        episode = result.master.scores()[metrics.EPISODE_SCORES_KEY]
        for metric in (metrics.MAIN_SCORE, metrics.ABORTED):
            rows.append(ScoreRow(row.game, model.name, row.experiment_dir, row.episode_dir, metric, episode[metric]))
        rows.append(ScoreRow(row.game, model.name, row.experiment_dir, row.episode_dir, metrics.PLAYED,
                             1 - episode[metrics.ABORTED]))
    tables = build_tables(rows)
    return tables[0] if tables else ModelTable(model.name)


def table_rows(step: int, table: ModelTable) -> list[dict[str, Any]]:
    rows = [{"step": step, "scope": "game", "game": game, "played": fig.played, "quality": fig.quality,
             "clemscore": "", "episodes": fig.episodes} for game, fig in sorted(table.games.items())]
    for summary in summaries([table]):
        rows.append({"step": step, "scope": summary.scope, "game": "", "played": summary.played,
                     "quality": summary.quality, "clemscore": summary.clemscore, "episodes": summary.games})
    return rows


def append_eval_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    new = not path.is_file()
    with open(path, "a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=EVAL_FIELDS)
        if new:
            writer.writeheader()
        writer.writerows(rows)


def _callback_base():
    from transformers import TrainerCallback

    return TrainerCallback


class EvalCallback(_callback_base()):
    """Evaluates the policy before training, every ``eval_steps`` steps and at the end (greedy decoding)."""

    def __init__(self, settings: Any, specs: Sequence[GameSpec], tokenizer: Any, partner: Model | None, output_dir: Path):
        from playpen.games import resolve_games

        self.settings = settings
        self.trained = list(specs)
        extra = resolve_games(settings.eval_games) if settings.eval_games else []
        self.specs = self.trained + [s for s in extra if s.name not in {t.name for t in self.trained}]
        self.roles = {spec.name: settings.roles.get(spec.name) or spec.roles[-1] for spec in self.trained}
        self.tokenizer = tokenizer
        self.partner = partner
        self.path = output_dir / "eval_metrics.csv"
        self.done_steps: set[int] = set()

    def _evaluate(self, step: int, model: Any) -> None:
        if step in self.done_steps:
            return
        self.done_steps.add(step)
        from playpen.models.huggingface import HuggingFaceModel

        policy = HuggingFaceModel(model=model, tokenizer=self.tokenizer, name="learner",
                                  settings=GenerationSettings(0.0, self.settings.eval_max_new_tokens))
        was_training = model.training
        model.eval()
        try:
            table = evaluate_policy(policy, self.specs, roles=self.roles, partner=self.partner,
                                    split=self.settings.eval_split, per_experiment=self.settings.eval_per_experiment)
        finally:
            if was_training:
                model.train()
        append_eval_rows(self.path, table_rows(step, table))

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._evaluate(state.global_step, model)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        every = self.settings.eval_steps
        if every and state.global_step % every == 0:
            self._evaluate(state.global_step, model)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self._evaluate(state.global_step, model)


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _float(value: str | None) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def plot_learning_curves(output_dir: Path) -> Path | None:
    """``learning_curves.png``: rollout reward / loss / KL per step, and evaluation figures per domain."""
    training = _read_csv(output_dir / "training_log.csv")
    evaluation = _read_csv(output_dir / "eval_metrics.csv")
    if not training and not evaluation:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4))
    steps = [_float(r["step"]) for r in training]
    for key, axis in (("reward", left), ("rollout_success", left), ("loss", middle), ("kl", middle)):
        values = [_float(r.get(key)) for r in training]
        if any(not math.isnan(v) for v in values):
            axis.plot(steps, values, label=key)
    left.set_title("rollouts")
    middle.set_title("optimisation")
    for scope, style in (("all", "-o"), ("in", "--s"), ("out", ":^")):
        points = [(_float(r["step"]), _float(r["clemscore"])) for r in evaluation if r["scope"] == scope]
        if points:
            right.plot(*zip(*points), style, label=f"clemscore ({scope})")
    right.set_title("validation (greedy)")
    for axis in (left, middle, right):
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
        if axis.lines:
            axis.legend(fontsize=8)
    figure.tight_layout()
    path = output_dir / "learning_curves.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path

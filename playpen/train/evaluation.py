"""Evaluation of a policy while (and around) training: play validation instances, compute clembench figures.

Trained games are played in the training setup (the learner's role against the partner); the other games
are played in self-play, the clembench convention. Figures are computed with the same code as
``playpen eval`` (% played, quality score, clemscore; in-domain and out-of-domain separately). Every
evaluation writes its episodes (clembench layout, with HTML transcripts) to ``<output>/eval/step-N/``.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from playpen.core import metrics
from playpen.core.registry import GameSpec
from playpen.eval.clemscore import ModelTable, ScoreRow, build_tables, round2
from playpen.eval.report import Summary, scope_games, summaries
from playpen.models.base import GenerationSettings, Model
from playpen.rollout.planner import select_rows
from playpen.rollout.engine import EpisodeJob, run_episodes
from playpen.results.store import atomic_write_json
from playpen.train.guardrails import best_step, history_from_rows, should_stop, static_drop

EVAL_FIELDS = ["step", "scope", "game", "played", "quality", "clemscore", "episodes"]


def evaluate_policy(
    model: Model,
    specs: Sequence[GameSpec],
    *,
    roles: dict[str, str],
    partner: Model | None,
    split: str = "validation",
    per_experiment: int | None | Mapping[str, int | None] = 1,
    batch_size: int = 32,
    results_dir: Path | None = None,
    instances: Mapping[str, str | Path] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ModelTable:
    """Play the games and return the clembench table of ``model`` (one row of results.csv).

    A game in ``roles`` is played in its training setup (``model`` in that role, ``partner`` in the others,
    or ``model`` everywhere when ``partner`` is None); any other game in self-play. All episodes are played in
    one batch. ``per_experiment`` (instances per experiment, None: all) may be given per game. ``instances``
    names an instance file (or a clembench-style folder) per game to play instead of ``split``. With
    ``results_dir``, every episode is recorded there (run folder named after ``model``). ``progress(done,
    total)`` is called whenever an episode ends."""
    from playpen.results.store import ResultsStore

    jobs = []
    for spec in specs:
        role = roles.get(spec.name)
        players = {r: (partner if role and r != role and partner is not None else model) for r in spec.roles}
        count = per_experiment.get(spec.name) if isinstance(per_experiment, Mapping) else per_experiment
        source = (instances or {}).get(spec.name)
        for row in select_rows(spec, split=split, per_experiment=count, instances_file=source):
            jobs.append(EpisodeJob(spec, row, players))
    store = ResultsStore(results_dir, model.name) if results_dir is not None else None
    rows: list[ScoreRow] = []
    ended = []

    def count(result) -> None:
        ended.append(result)
        if progress is not None:
            progress(len(ended), len(jobs))

    for result in run_episodes(jobs, batch_size=batch_size, on_end=count):
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


def game_clemscore(played: float, quality: float) -> float:
    """One game's clemscore (% played / 100 × quality); 0 when no episode was played (quality undefined)."""
    return 0.0 if math.isnan(quality) else round2(played / 100 * quality)


def scope_summaries(table: ModelTable) -> list[Summary]:
    """The clemscore summaries (all / in / out, and static: the statscore) of one table, as ``playpen eval``
    computes them, except that a scope in which no episode was played (quality undefined) gets clemscore 0
    instead of failing."""
    out = []
    for scope in ("all", "in", "out", "static"):
        games = scope_games(table, scope)
        if not games:
            continue
        if all(math.isnan(table.games[g].quality) for g in games):
            played = round2(statistics.fmean(table.games[g].played for g in games))
            out.append(Summary(table.model, scope, played, math.nan, 0.0, len(games)))
            continue
        sub = ModelTable(table.model, {g: table.games[g] for g in games})
        out.extend(s for s in summaries([sub]) if s.scope == scope)
    return out


def table_rows(step: int, table: ModelTable) -> list[dict[str, Any]]:
    """Rows of ``eval_metrics.csv``: one per game (scope ``game``), then one per domain scope."""
    rows = [{"step": step, "scope": "game", "game": game, "played": fig.played, "quality": fig.quality,
             "clemscore": game_clemscore(fig.played, fig.quality), "episodes": fig.episodes}
            for game, fig in sorted(table.games.items())]
    for summary in scope_summaries(table):
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


def read_eval_rows(path: Path) -> list[dict[str, Any]]:
    """``eval_metrics.csv`` with numbers parsed (``step`` int; figures float, NaN when empty)."""
    out = []
    for row in _read_csv(path):
        out.append({**row, "step": int(float(row["step"])), "played": _float(row["played"]),
                    "quality": _float(row["quality"]), "clemscore": _float(row["clemscore"]),
                    "episodes": int(_float(row["episodes"])) if row.get("episodes") else 0})
    return out


def _callback_base():
    from transformers import TrainerCallback

    return TrainerCallback


class EvalCallback(_callback_base()):
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
        was_training = model.training
        model.eval()
        try:
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
        finally:
            policy.close()  # a vLLM server stops here
            if was_training:
                model.train()
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
    """``learning_curves.png``: rollout reward and outcome rates, loss and KL per step, and the validation
    figures (clemscore per domain, % played of each trained game) at every evaluation."""
    output_dir = Path(output_dir)
    training = _read_csv(output_dir / "training_log.csv")
    evaluation = _read_csv(output_dir / "eval_metrics.csv")
    if not training and not evaluation:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4))
    steps = [_float(r["step"]) for r in training]
    # reward_std: the spread within groups that GRPO learns from (0 in a group = no signal from it)
    panels = ((left, ("reward", "reward_std", "frac_reward_zero_std", "rollout/played", "rollout/success")),
              (middle, ("loss", "kl")))
    for axis, keys in panels:
        for key in keys:
            values = [_float(r.get(key)) for r in training]
            if any(not math.isnan(v) for v in values):
                axis.plot(steps, values, marker="o" if len(steps) <= 30 else None, markersize=3, label=key)
    left.set_title("training rollouts (sampled)")
    middle.set_title("optimisation")
    for scope, style in (("all", "-o"), ("in", "--s"), ("out", ":^"), ("static", "-.d")):
        points = [(_float(r["step"]), _float(r["clemscore"])) for r in evaluation if r["scope"] == scope]
        if points:
            right.plot(*zip(*points), style, label="statscore" if scope == "static" else f"clemscore ({scope})")
    games = sorted({r["game"] for r in evaluation if r["scope"] == "game"})
    for game in games if len(games) <= 6 else []:
        points = [(_float(r["step"]), _float(r["played"])) for r in evaluation if r["scope"] == "game" and r["game"] == game]
        right.plot(*zip(*points), linestyle="-", alpha=0.5, marker=".", label=f"% played {game}")
    best = output_dir / "best" / "best.json"
    if best.is_file():
        import json

        chosen = json.loads(best.read_text(encoding="utf-8"))
        right.axvline(chosen["step"], color="#2a2", linestyle=":", label=f"kept (best by {chosen['select_by']})")
    if not evaluation:
        right.text(0.5, 0.5, "no evaluation during training\n(evaluate = false, or eval_steps = 0)",
                   ha="center", va="center", transform=right.transAxes, color="#666")
    right.set_title("validation (greedy)")
    for axis in (left, middle, right):
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
        if axis.lines:
            axis.legend(fontsize=7)
    figure.tight_layout()
    path = output_dir / "learning_curves.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path

"""``playpen experiment``: the paper's comparison — SFT, SFT→DPO, GRPO (and SFT→GRPO) against the base model.

From one base model and one set of in-domain training games, a recipe (``ExperimentRecipe``, a TOML file):

1. **data** — the games' competent scripted players play the training split (SFT: the learner role's successful
   conversations); the learner role is also played by the sloppy scripted player against the competent partner
   (DPO: competent success = chosen vs sloppy loss/abort = rejected on the same instance). Recorded runs given in
   ``data_from`` (e.g. public clembench transcripts) are added.
2. **base** — the base model is evaluated (greedy) on the in-domain games in the training setup (the learner
   role against the partner), on the out-of-domain games in self-play, and on the reference tasks
   (``static_games``, scored into the statscore).
3. **methods × seeds** — each method is trained per seed (SFT→DPO and SFT→GRPO start from that seed's SFT
   model) and evaluated on exactly the same episodes as the base.
4. **report** — ``report.csv`` / ``report.json`` / ``report.html`` (+ ``report.png``): per method and scope
   (in-domain clemscore, out-of-domain clemscore, statscore) and per game, the change vs the base with a
   bootstrap 95 % interval over episodes and seeds (``playpen.eval.confidence.seed_change``), the per-seed
   values and their spread.

Every stage writes ``done.json`` when it finishes; re-running the same command skips finished stages (resume),
and a stage killed half-way runs again. Training and model loading are pluggable (``MethodTrainer``, ``load``),
so the runner itself is tested on a toy game with scripted players.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from playpen.core.errors import PlaypenError
from playpen.core.registry import GameSpec
from playpen.results.store import atomic_write_bytes, atomic_write_json, atomic_write_text
from playpen.train.recipe_checks import (alias_stem, check_recipe, check_stages, check_static, hold_folder,
                                         record_stage, stage_done, stage_inputs, stage_seconds)

METHODS = ("sft", "sft_dpo", "grpo", "sft_grpo")
#: the method each method starts from (None: the base model)
STARTS_FROM = {"sft": None, "sft_dpo": "sft", "grpo": None, "sft_grpo": "sft"}
SCOPES = ("in", "out", "static")
SCOPE_LABELS = {"in": "in-domain clemscore", "out": "out-of-domain clemscore", "static": "statscore"}
DONE = "done.json"


@dataclass
class ExperimentRecipe:
    base: str = "smollm2-135m"
    #: the in-domain (training) games and the learner's role in each (default: the game's learner role)
    games: list[str] = field(default_factory=lambda: ["referencegame"])
    roles: dict[str, str] = field(default_factory=dict)
    #: the partner in the training setup ("scripted" or any alias), also for the in-domain evaluation
    partner: str = "scripted"
    ood_games: list[str] = field(default_factory=lambda: ["guesswhat", "textmapworld"])
    #: reference tasks of the static suite (statscore: cladder, eqbench, ifeval, mmlu_pro) and where their
    #: clembench instance files are (a folder laid out like clembench's ``static/``; they ship no splits)
    static_games: list[str] = field(default_factory=list)
    static_instances: str | None = None
    methods: list[str] = field(default_factory=lambda: ["sft", "sft_dpo", "grpo"])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    #: the split the training data and the GRPO episodes come from; evaluation uses ``eval_split``
    train_split: str = "train"
    eval_split: str = "validation"
    #: instances per experiment for the in-domain / out-of-domain / static evaluation (None: all)
    eval_per_experiment: int | None = None
    ood_per_experiment: int | None = 1
    static_per_experiment: int | None = 10
    eval_max_new_tokens: int = 48
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
    #: settings of each trainer (``SFTSettings``, ``DPOSettings``, ``GRPOSettings`` fields)
    sft: dict[str, Any] = field(default_factory=dict)
    dpo: dict[str, Any] = field(default_factory=dict)
    grpo: dict[str, Any] = field(default_factory=dict)
    resamples: int = 2000
    #: evaluate on the training split (train_split = eval_split) knowingly; refused otherwise
    allow_split_overlap: bool = False

    def check(self) -> None:
        check_recipe(self)
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise PlaypenError(f"unknown method(s) {', '.join(unknown)} (choose from {', '.join(METHODS)})")
        if not self.games:
            raise PlaypenError("the recipe names no training game (games = [...])")
        if not self.seeds:
            raise PlaypenError("the recipe names no seed (seeds = [...])")
        overlap = set(self.games) & (set(self.ood_games) | set(self.static_games))
        if overlap:
            raise PlaypenError(f"{', '.join(sorted(overlap))}: a training game cannot also be held out")
        strangers = sorted(set(self.teachers) - set(self.games))
        if strangers:
            raise PlaypenError(f"teachers name {', '.join(strangers)}, which the recipe does not train on "
                               f"(games = {self.games})")
        if self.static_games and not self.static_instances:
            raise PlaypenError("the static tasks ship no instances: set static_instances to a folder laid out "
                               "like clembench's static/ (see docs/games/static.md)")


@dataclass(frozen=True)
class ExperimentData:
    sft: Path
    dpo: Path
    #: per in-domain game with target words, its training instances without the evaluated targets
    train_instances: dict[str, Path] = field(default_factory=dict)


class MethodTrainer(Protocol):
    """Trains one method for one seed and returns what ``load`` accepts for the trained model."""

    def __call__(self, method: str, start: str, output: Path, seed: int, data: ExperimentData) -> str: ...


class TRLTrainer:
    """The real trainers: ``train_sft``, ``train_dpo``, ``train_grpo`` with the recipe's settings."""

    def __init__(self, recipe: ExperimentRecipe, roles: Mapping[str, str], name: str):
        self.recipe = recipe
        self.roles = dict(roles)
        self.name = name

    def __call__(self, method: str, start: str, output: Path, seed: int, data: ExperimentData) -> str:
        from playpen.train.offline import DPOSettings, SFTSettings, train_dpo, train_sft

        alias = f"{self.name}-{method}-s{seed}"
        if method == "sft":
            final, _ = train_sft(start, data.sft, output, SFTSettings(**{**self.recipe.sft, "seed": seed, "alias": alias}))
        elif method == "sft_dpo":
            final, _ = train_dpo(start, data.dpo, output, DPOSettings(**{**self.recipe.dpo, "seed": seed, "alias": alias}))
        else:
            from playpen.train.grpo import GRPOSettings, train_grpo

            # the evaluation during training (guardrails: select_by, stop_static_drop) is off unless [grpo] asks
            # for it; it plays the validation split, the out-of-domain games and the reference tasks of the recipe
            guarded = {"evaluate": False, "eval_games": list(self.recipe.ood_games),
                       "eval_static_games": list(self.recipe.static_games),
                       "eval_static_instances": self.recipe.static_instances}
            settings = GRPOSettings(**{**guarded, **self.recipe.grpo, "games": list(self.recipe.games), "roles": self.roles,
                                       "partner": self.recipe.partner, "split": self.recipe.train_split,
                                       "instances": {g: str(p) for g, p in data.train_instances.items()},
                                       "seed": seed, "alias": alias})
            final, _ = train_grpo(start, output, settings)
        return str(final)


def _load_model(name: str, max_tokens: int):
    from playpen.models.base import GenerationSettings
    from playpen.models.registry import load_model

    return load_model(name, GenerationSettings(temperature=0.0, max_tokens=max_tokens))


class Experiment:
    """Runs a recipe into ``output`` (resumable) and writes the report."""

    def __init__(self, recipe: ExperimentRecipe, output: Path, *, trainer: MethodTrainer | None = None,
                 load: Callable[[str, int], Any] = _load_model,
                 resolve: Callable[[list[str]], list[GameSpec]] | None = None,
                 printer: Callable[[str], None] | None = print):
        recipe.check()
        self.recipe = recipe
        self.output = Path(output)
        self.load = load
        self.printer = printer or (lambda line: None)
        if resolve is None:
            from playpen.games import resolve_games as resolve
        self.trained_specs = resolve(recipe.games)
        self.ood_specs = resolve(recipe.ood_games) if recipe.ood_games else []
        self.static_specs = resolve(recipe.static_games) if recipe.static_games else []
        check_static(self.static_specs)
        self.roles = {s.name: s.learner_role(recipe.roles.get(s.name)) for s in self.trained_specs}
        self.trainer = trainer or TRLTrainer(recipe, self.roles, alias_stem(self.output))

    # ------------------------------------------------------------------------------------------- stages
    def stages(self) -> list[tuple[str, Path, str | None, int | None]]:
        """(label, folder, method, seed) in run order: data, base, then every method × seed (training and
        evaluation), seed by seed so that a shortened run still has complete seeds."""
        order = sorted(self.recipe.methods, key=METHODS.index)
        return [("data", self.output / "data", None, None), ("base", self.output / "base", None, None)] + [
            (f"{method} seed {seed}", self._method_dir(method, seed), method, seed)
            for seed in self.recipe.seeds for method in order]

    def run(self) -> dict[str, Any]:
        with hold_folder(self.output):
            return self._run()

    def _run(self) -> dict[str, Any]:
        started = time.monotonic()
        stages = self.stages()
        inputs = {label: stage_inputs(self.recipe, label, method) for label, _, method, _ in stages}
        check_stages([(label, folder, inputs[label]) for label, folder, _, _ in stages])
        atomic_write_text(self.output / "recipe.json", json.dumps(asdict(self.recipe), indent=2))
        for game, words in self.write_training_instances().items():
            if words:
                self.printer(f"{game}: {len(words)} training instance(s) left out, their target is evaluated "
                             f"({', '.join(words[:8])}{' ...' if len(words) > 8 else ''})")
        for number, (label, folder, method, seed) in enumerate(stages, 1):
            prefix = f"[{number}/{len(stages)}] {label}"
            record_stage(folder, inputs[label])
            if stage_done(folder, DONE):
                missing = self._unevaluated(folder) if label != "data" else []
                if not missing:
                    self.printer(f"{prefix}: done earlier (skipped)")
                    continue
                # games added to the recipe after the stage finished (e.g. the reference tasks): only those
                self.printer(f"{prefix}: done earlier; evaluating {', '.join(s.name for s in missing)} ...")
                model = self.recipe.base if method is None else self._trained_model(method, seed)
                self._evaluate(model, folder / "eval", missing)
                continue
            self.printer(f"{prefix} ...")
            begin = time.monotonic()
            if label == "data":
                self._data()
            elif method is None:
                self._evaluate(self.recipe.base, folder / "eval")
            else:
                self._method(method, seed, folder)
            seconds = time.monotonic() - begin
            atomic_write_text(folder / DONE, json.dumps({"seconds": round(seconds, 1)}))
            self.printer(f"{prefix}: finished in {seconds / 60:.1f} min")
        report = self.report()
        self.printer(f"report: {self.output / 'report.html'} ({(time.monotonic() - started) / 60:.1f} min this run)")
        return report

    def _method_dir(self, method: str, seed: int) -> Path:
        return self.output / "runs" / method / f"seed-{seed}"

    @property
    def data(self) -> ExperimentData:
        folder = self.output / "data"
        return ExperimentData(folder / "sft.jsonl", folder / "dpo.jsonl", self._training_instance_files())

    def _training_instance_files(self) -> dict[str, Path]:
        folder = self.output / "data" / "train-instances"
        return {s.name: folder / f"{s.name}.json" for s in self.trained_specs if s.target_keys}

    def _eval_rows(self, spec: GameSpec) -> list:
        """The rows ``_evaluate`` plays of ``spec`` (the same selection)."""
        from playpen.rollout.planner import select_rows

        count = self.recipe.eval_per_experiment if spec in self.trained_specs else self.recipe.ood_per_experiment
        return select_rows(spec, split=self.recipe.eval_split, per_experiment=count)

    def write_training_instances(self) -> dict[str, list[str]]:
        """Write, per in-domain game with target words, its training split without the instances whose target
        word any evaluated game asks for (``data/train-instances/<game>.json``; SFT/DPO data and GRPO use them).
        Returns the dropped words per game. Deterministic, so a resumed experiment writes the same files."""
        from playpen.core.instances import load_instances
        from playpen.rollout.planner import target_words, without_targets

        held_out = target_words((spec, self._eval_rows(spec)) for spec in [*self.trained_specs, *self.ood_specs])
        dropped = {}
        for spec in self.trained_specs:
            path = self._training_instance_files().get(spec.name)
            if path is None:
                continue
            kept, dropped[spec.name] = without_targets(spec, load_instances(spec.instances_file(self.recipe.train_split)),
                                                       held_out)
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(path, kept)
        return dropped

    def _data(self) -> None:
        """Scripted competent and sloppy players on the training split -> SFT rows and DPO pairs."""
        from playpen.data.datasets import dpo_rows, sft_rows, write_rows
        from playpen.data.episodes import read_perspectives
        from playpen.train.evaluation import evaluate_policy

        folder = self.output / "data"
        competent = self.load("scripted", 0)
        teachers: dict[str, list[GameSpec]] = {}
        for spec in self.trained_specs:
            teachers.setdefault(self.recipe.teachers.get(spec.name, "scripted"), []).append(spec)
        plays = [(self.load(alias, 0), specs, "competent") for alias, specs in teachers.items()]
        plays.append((self.load("scripted-bad", 0), self.trained_specs, "sloppy"))
        for learner, specs, name in plays:  # the learner role vs a competent partner
            evaluate_policy(learner, specs, roles=self.roles, partner=competent,
                            split=self.recipe.train_split, per_experiment=None, batch_size=64,
                            results_dir=folder / name, instances=self.data.train_instances)
        extra = [Path(p) for p in self.recipe.data_from]

        def learner_views(sources):  # each game's learner role only (not another game's learner role)
            return (p for p in read_perspectives(sources) if self.roles.get(p.game) == p.role)

        # SFT imitates the competent players only (a sloppy player's lucky win is no example to follow)
        sft = sft_rows(learner_views([folder / "competent", *extra]))
        dpo = dpo_rows(learner_views([folder / "competent", folder / "sloppy", *extra]))
        if not sft:
            raise PlaypenError("no successful training episode to learn from (check the scripted players)")
        write_rows(sft, self.data.sft)
        write_rows(dpo, self.data.dpo)
        self.printer(f"  data: {len(sft)} SFT conversations, {len(dpo)} DPO pairs")

    def _method(self, method: str, seed: int, folder: Path) -> None:
        trained = folder / "model.txt"
        if trained.is_file():  # trained before the stage was stopped during its evaluation
            model = trained.read_text(encoding="utf-8").strip()
        else:
            source = STARTS_FROM[method]
            start = self.recipe.base if source is None else self._trained_model(source, seed)
            model = self.trainer(method, start, folder / "train", seed, self.data)
            atomic_write_text(trained, model)
        self._evaluate(model, folder / "eval")

    def _trained_model(self, method: str, seed: int) -> str:
        path = self._method_dir(method, seed) / "model.txt"
        if not path.is_file():
            raise PlaypenError(f"{method} seed {seed} has not been trained (needed first; add it to methods)")
        return path.read_text(encoding="utf-8").strip()

    @property
    def evaluated_specs(self) -> list[GameSpec]:
        return [*self.trained_specs, *self.ood_specs, *self.static_specs]

    def _unevaluated(self, folder: Path) -> list[GameSpec]:
        """The recipe's evaluation games of which a finished stage recorded no episode."""
        from playpen.results.records import episodes

        results = folder / "eval"
        found = {episode.game for episode in episodes(results)} if results.is_dir() else set()
        return [spec for spec in self.evaluated_specs if spec.name not in found]

    def _evaluate(self, model_name: str, results: Path, specs: list[GameSpec] | None = None) -> None:
        """Greedy evaluation on the same episodes for every model: in-domain games in the training setup,
        out-of-domain games in self-play, the reference tasks (``specs``: only these games)."""
        from playpen.train.evaluation import evaluate_policy

        from playpen.models.registry import VLLM_PREFIX

        vllm = self.recipe.eval_backend == "vllm"
        model = self.load(f"{VLLM_PREFIX}{model_name}" if vllm else model_name, self.recipe.eval_max_new_tokens)
        partner = self.load(self.recipe.partner, self.recipe.eval_max_new_tokens)
        counts = {s.name: self.recipe.eval_per_experiment for s in self.trained_specs}
        counts.update({s.name: self.recipe.ood_per_experiment for s in self.ood_specs})
        counts.update({s.name: self.recipe.static_per_experiment for s in self.static_specs})
        static = {s.name: self.recipe.static_instances for s in self.static_specs}

        def progress(done: int, total: int) -> None:  # a line at every quarter of the episodes
            if done == total or done * 4 // total > (done - 1) * 4 // total:
                self.printer(f"  evaluated {done}/{total} episodes")

        try:
            evaluate_policy(model, self.evaluated_specs if specs is None else specs, roles=self.roles,
                            partner=partner, split=self.recipe.eval_split, per_experiment=counts,
                            batch_size=self.recipe.eval_batch_size, results_dir=results, instances=static,
                            progress=progress)
        finally:
            for loaded in (model, partner):
                close = getattr(loaded, "close", None)
                if close is not None:
                    close()

    # ------------------------------------------------------------------------------------------- report
    def _transcripts(self, per_game: int = 8) -> str:
        """HTML: the first ``per_game`` evaluated episodes of every game, the base and each trained run side by
        side, each outcome linked to its transcript."""
        from html import escape

        from playpen.results.records import episode_outcomes
        from playpen.results.transcript import outcome_link

        columns = [("base", self.output / "base" / "eval")]
        columns += [(f"{method.replace('_', '→')} seed {seed}", self._method_dir(method, seed) / "eval")
                    for method in self.recipe.methods for seed in self.recipe.seeds]
        outcomes = [(label, episode_outcomes(folder)) for label, folder in columns if folder.is_dir()]
        shown: dict[str, list[tuple[str, str, str]]] = {}
        trained = {spec.name for spec in self.trained_specs}
        for key in sorted(set().union(*(found for _, found in outcomes)), key=lambda k: (k[0] not in trained, k)):
            if len(shown.setdefault(key[0], [])) < per_game:
                shown[key[0]].append(key)
        head = "<tr><th>game</th><th>experiment</th><th>episode</th>" + "".join(
            f"<th>{escape(label)}</th>" for label, _ in outcomes) + "</tr>"
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(part)}</td>" for part in key)
            + "".join(f"<td>{outcome_link(found.get(key), self.output)}</td>" for _, found in outcomes) + "</tr>"
            for keys in shown.values() for key in keys)
        return f"<table>{head}{body}</table>" if body else "<p>(no recorded episode)</p>"

    def _episodes(self, folder: Path):
        from playpen.eval.clemscore import load_score_rows
        from playpen.eval.confidence import episodes_by_model

        if not folder.is_dir():
            return None
        by_model = episodes_by_model(load_score_rows(folder))
        return next(iter(by_model.values())) if by_model else None

    def report(self) -> dict[str, Any]:
        """Compare every finished method × seed with the base: ``report.csv``, ``report.json``, ``report.html``."""
        from playpen.eval.confidence import point_figures, seed_change

        base = self._episodes(self.output / "base" / "eval")
        if base is None:
            raise PlaypenError(f"{self.output}: the base model has not been evaluated yet")
        scope_games = {"in": [s.name for s in self.trained_specs], "out": [s.name for s in self.ood_specs],
                       "static": [s.name for s in self.static_specs]}
        rows: list[dict[str, Any]] = []
        for method in sorted(self.recipe.methods, key=METHODS.index):
            runs = {seed: self._episodes(self._method_dir(method, seed) / "eval") for seed in self.recipe.seeds}
            runs = {seed: run for seed, run in runs.items() if run is not None}
            if not runs:
                continue
            targets = [(scope, None, games) for scope, games in scope_games.items() if games]
            targets += [(scope, game, [game]) for scope, games in scope_games.items() for game in games]
            for scope, game, games in targets:
                change = seed_change(base, list(runs.values()), games, resamples=self.recipe.resamples)
                levels = seed_change(None, list(runs.values()), games, resamples=self.recipe.resamples)
                base_point = point_figures(base, games)
                seed_points = {seed: point_figures(run, games) for seed, run in runs.items()}
                for figure, difference in change.items():
                    per_seed = {seed: points[figure] for seed, points in seed_points.items()}
                    values = [v for v in per_seed.values() if not math.isnan(v)]
                    rows.append({
                        "method": method, "scope": scope, "game": game or "", "figure": figure,
                        "base": base_point[figure],
                        "trained": statistics.fmean(values) if values else math.nan,
                        "trained_ci_low": levels[figure].interval.low, "trained_ci_high": levels[figure].interval.high,
                        "change": difference.interval.estimate, "ci_low": difference.interval.low,
                        "ci_high": difference.interval.high, "p_value": difference.p_value,
                        "significant": difference.significant, "seeds": len(runs),
                        "seed_sd": statistics.stdev(values) if len(values) > 1 else math.nan,
                        "per_seed": per_seed,
                    })
        seconds = {}
        for label, folder, _, _ in self.stages():
            if stage_done(folder, DONE):
                seconds[label] = stage_seconds(folder / DONE)
        report = {"recipe": asdict(self.recipe), "roles": self.roles, "rows": rows, "stage_seconds": seconds,
                  "base_episodes": {game: len(episodes.keys) for game, episodes in base.items()}}
        atomic_write_text(self.output / "report.json", json.dumps(json_safe(report), indent=2))
        atomic_write_text(self.output / "report.csv", _report_csv(rows))
        png = _report_png(rows, self.recipe)
        if png:
            atomic_write_bytes(self.output / "report.png", png)
        atomic_write_text(self.output / "report.html", _report_html(report, png, self._transcripts(),
                                                                     self._training_curves()))
        return report

    def _training_curves(self) -> list[tuple[str, bytes]]:
        """(label, PNG) of every finished GRPO run's learning curves (reward and its spread per step, and the
        evaluations during training when the recipe turned them on)."""
        curves = []
        for method in ("grpo", "sft_grpo"):
            for seed in self.recipe.seeds if method in self.recipe.methods else []:
                path = self._method_dir(method, seed) / "train" / "learning_curves.png"
                if path.is_file():
                    curves.append((f"{method.replace('_', '→')} seed {seed}", path.read_bytes()))
        return curves


def json_safe(value: Any) -> Any:
    """``value`` with NaN as null and dictionary keys as strings (strict JSON; ``json.dumps`` writes NaN)."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _fmt(value: float, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _report_csv(rows: list[dict[str, Any]]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    seeds = sorted({seed for row in rows for seed in row["per_seed"]})
    writer.writerow(["method", "scope", "game", "figure", "base", "trained", "trained_ci95_low", "trained_ci95_high",
                     "change", "ci95_low", "ci95_high", "p_value", "significant", "seeds", "seed_sd"]
                    + [f"seed_{s}" for s in seeds])
    for row in rows:
        writer.writerow([row["method"], row["scope"], row["game"], row["figure"], _fmt(row["base"]),
                         _fmt(row["trained"]), _fmt(row["trained_ci_low"]), _fmt(row["trained_ci_high"]),
                         _fmt(row["change"]), _fmt(row["ci_low"]), _fmt(row["ci_high"]),
                         "" if math.isnan(row["p_value"]) else f"{row['p_value']:.4f}", int(row["significant"]),
                         row["seeds"], _fmt(row["seed_sd"])] + [_fmt(row["per_seed"].get(s, math.nan)) for s in seeds])
    return out.getvalue()


def _bars(axis, rows: list[dict[str, Any]], key: str, value: str, low: str, high: str, methods: list[str]) -> list[str]:
    """Grouped bars (one per method) of ``value`` with its interval, grouped by ``key``; returns the groups."""
    groups = list(dict.fromkeys(r[key] for r in rows))
    width = 0.8 / max(1, len(methods))

    def number(row: dict[str, Any] | None, name: str, default: float) -> float:
        return default if row is None or math.isnan(row[name]) else row[name]

    for index, method in enumerate(methods):
        mine = {r[key]: r for r in rows if r["method"] == method}
        xs = [g + (index - (len(methods) - 1) / 2) * width for g in range(len(groups))]
        values = [number(mine.get(g), value, 0.0) for g in groups]
        errors = [[max(0.0, v - number(mine.get(g), low, v)) for g, v in zip(groups, values)],
                  [max(0.0, number(mine.get(g), high, v) - v) for g, v in zip(groups, values)]]
        axis.bar(xs, values, width=width, yerr=errors, capsize=3, label=method.replace("_", "→"))
    axis.set_xticks(range(len(groups)))
    axis.set_xticklabels([SCOPE_LABELS.get(g, g) for g in groups], fontsize=8)
    axis.grid(axis="y", alpha=0.3)
    return groups


def _report_png(rows: list[dict[str, Any]], recipe: ExperimentRecipe) -> bytes | None:
    """Left: the clemscore change vs base per scope. Right: the trained quality per in-domain game (the base
    plays nothing, so its quality is undefined) against each game's format-only level where the recipe names it.
    Both with 95 % intervals."""
    change = [r for r in rows if not r["game"] and r["figure"] == "clemscore"]
    quality = [r for r in rows if r["game"] and r["scope"] == "in" and r["figure"] == "quality"]
    if not change and not quality:
        return None
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 4.2))
    _bars(left, change, "scope", "change", "ci_low", "ci_high", methods)
    left.axhline(0, color="#444", linewidth=0.8)
    left.set_title("clemscore: change vs base", fontsize=10)
    left.legend(fontsize=8)
    games = _bars(right, quality, "game", "trained", "trained_ci_low", "trained_ci_high", methods)
    for index, game in enumerate(games):
        if game in recipe.format_only_quality:
            level = recipe.format_only_quality[game]
            right.hlines(level, index - 0.45, index + 0.45, colors="#c00", linestyles="dashed",
                         label="format-only level" if index == 0 else None)
    right.set_title("quality (Main Score of played episodes) after training", fontsize=10)
    right.legend(fontsize=8)
    seeds = max((r["seeds"] for r in rows), default=0)
    figure.suptitle(f"{recipe.base}: {seeds} seed(s) per method, bootstrap 95 % intervals", fontsize=10)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def _report_html(report: dict[str, Any], png: bytes | None, transcripts: str,
                 curves: list[tuple[str, bytes]] = ()) -> str:
    import base64
    from html import escape

    recipe = report["recipe"]

    def table(rows: list[dict[str, Any]], with_game: bool) -> str:
        head = "<tr><th>method</th><th>" + ("game" if with_game else "scope") + "</th><th>figure</th><th>base</th>" \
               "<th>trained (mean)</th><th>its 95 % CI</th><th>change</th><th>95 % CI</th><th>p</th><th>seed sd</th>" \
               "<th>per seed</th></tr>"
        body = []
        for row in rows:
            where = row["game"] if with_game else SCOPE_LABELS.get(row["scope"], row["scope"])
            mark = ' class="sig"' if row["significant"] else ""
            seeds = ", ".join(f"{s}: {_fmt(v)}" for s, v in row["per_seed"].items())
            p_value = "" if math.isnan(row["p_value"]) else f"{row['p_value']:.3f}"
            body.append(f"<tr><td>{escape(row['method'].replace('_', '→'))}</td><td>{escape(where)}</td>"
                        f"<td>{row['figure']}</td><td>{_fmt(row['base'])}</td><td>{_fmt(row['trained'])}</td>"
                        f"<td>[{_fmt(row['trained_ci_low'])}, {_fmt(row['trained_ci_high'])}]</td>"
                        f"<td{mark}>{_fmt(row['change'], True)}</td>"
                        f"<td>[{_fmt(row['ci_low'], True)}, {_fmt(row['ci_high'], True)}]</td>"
                        f"<td>{p_value}</td>"
                        f"<td>{_fmt(row['seed_sd'])}</td><td>{escape(seeds)}</td></tr>")
        return f"<table>{head}{''.join(body)}</table>"

    scopes = [r for r in report["rows"] if not r["game"]]
    games = [r for r in report["rows"] if r["game"]]
    image = f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}" alt="change vs base">' if png else ""
    training = "".join(f'<h3>{escape(label)}</h3><img src="data:image/png;base64,{base64.b64encode(data).decode()}" '
                       f'alt="learning curves of {escape(label)}">' for label, data in curves)
    if training:
        training = ("<h2>GRPO training</h2><p>Per step: the rollouts' mean reward, its spread within groups "
                    "(<code>reward_std</code>; groups without spread teach nothing) and outcome rates, the loss "
                    "and KL, and the evaluations during training.</p>" + training)
    timing = "".join(f"<li>{escape(k)}: {v / 60:.1f} min</li>" for k, v in report["stage_seconds"].items() if v)
    roles = ", ".join(f"{escape(g)}: {escape(r)}" for g, r in report["roles"].items())
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Playpen experiment</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1200px;margin:24px auto;padding:0 16px;color:#222}}
table{{border-collapse:collapse;margin:12px 0 28px;font-size:14px}}td,th{{border:1px solid #ddd;padding:3px 8px;text-align:right}}
th{{background:#f3f4f6}}td:nth-child(-n+3){{text-align:left}}.sig{{font-weight:bold;background:#eef7ee}}
img{{max-width:100%}}</style></head><body>
<h1>Experiment: {escape(recipe['base'])} — {escape(', '.join(m.replace('_', '→') for m in recipe['methods']))}</h1>
<p>Training games (learner role vs the {escape(recipe['partner'])} partner): {roles}.
Out-of-domain games (self-play): {escape(', '.join(recipe['ood_games']) or 'none')}.
Reference tasks (statscore): {escape(', '.join(recipe['static_games']) or 'none')}.
Seeds: {escape(', '.join(map(str, recipe['seeds'])))}; evaluation split: {escape(recipe['eval_split'])}, greedy.</p>
<p>Every change is trained − base on the same episodes, averaged over seeds; the 95 % interval comes from a
bootstrap over seeds and, within each seed, over episodes (paired with the base). Bold: the interval excludes
zero. Quality is the mean Main Score of the played episodes (undefined, "", when nothing was played: then compare
the trained quality and its interval with the game's format-only level); clemscore = % played / 100 × quality,
0 when nothing was played.</p>
{image}
<h2>Change vs base per scope</h2>{table(scopes, False)}
<h2>Per game</h2>{table(games, True)}
<h2>Transcripts</h2>
<p>The same evaluation episodes before and after training (the first of each game; every episode is under
<code>base/eval</code> and <code>runs/&lt;method&gt;/seed-&lt;n&gt;/eval</code>).</p>{transcripts}
{training}
<h2>Time per stage</h2><ul>{timing}</ul>
</body></html>"""


def load_recipe(path: Path | None, overrides: Mapping[str, Any] | None = None) -> ExperimentRecipe:
    """A recipe from a TOML/JSON file (``configs/recipes/experiment_*.toml``) with flag overrides."""
    from playpen.train.common import load_config

    return load_config(path, ExperimentRecipe, dict(overrides or {}))

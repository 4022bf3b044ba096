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
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from playpen.core.errors import PlaypenError
from playpen.core.registry import GameSpec
from playpen.results.store import atomic_write_json, atomic_write_text
from playpen.train.recipe_checks import (add_later_evaluation, alias_stem, check_stages, check_static, hold_folder,
                                         record_stage, stage_done, stage_inputs, stage_seconds)
from playpen.train.settings import METHODS, ExperimentRecipe, check_vllm_installed, load_settings

#: the method each method starts from (None: the base model)
STARTS_FROM = {"sft": None, "sft_dpo": "sft", "grpo": None, "sft_grpo": "sft"}
GRPO_METHODS = ("grpo", "sft_grpo")
SCOPES = ("in", "out", "static")
SCOPE_LABELS = {"in": "in-domain clemscore", "out": "out-of-domain clemscore", "static": "statscore"}
DONE = "done.json"


@dataclass(frozen=True)
class ExperimentData:
    sft: Path
    dpo: Path
    #: per in-domain game with target words, its training instances without the evaluated targets
    train_instances: dict[str, Path] = field(default_factory=dict)
    #: per game of the recipe's ``grpo_splits``, the instances GRPO plays (that split, the evaluated targets left out)
    grpo_instances: dict[str, Path] = field(default_factory=dict)


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
                                       "instances": {g: str(p) for g, p in
                                                     {**data.train_instances, **data.grpo_instances}.items()},
                                       "seed": seed, "alias": alias})
            final, _ = train_grpo(start, output, settings)
        return str(final)


def _load_model(name: str, max_tokens: int):
    from playpen.models.base import GenerationSettings
    from playpen.models.registry import load_model

    model = load_model(name, GenerationSettings(temperature=0.0, max_tokens=max_tokens))
    use_every_core = getattr(model, "use_every_core", None)  # a local HF model (not scripted, not vLLM's server)
    if use_every_core is not None:
        use_every_core()
    return model


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
        # a count for a task the recipe does not evaluate (yet) is kept for when it does; a dialogue game is a mistake
        try:
            counted = resolve(list(recipe.static_per_game)) if recipe.static_per_game else []
        except PlaypenError as error:
            raise PlaypenError(f"static_per_game: {error}") from None
        check_static(counted, "static_per_game")
        for spec in self.trained_specs:
            split = recipe.grpo_splits.get(spec.name)
            if split is not None and split not in spec.splits:
                raise PlaypenError(f"grpo_splits: {spec.name} has no split {split!r} (it has {', '.join(spec.splits)})")
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
        # a GRPO stage still to train with vLLM generation fails here, not after the stages before it
        if self.recipe.grpo.get("use_vllm") and any(
                method in GRPO_METHODS and not (folder / "model.txt").is_file() for _, folder, method, _ in stages):
            check_vllm_installed()
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
                names = [s.name for s in missing]
                self.printer(f"{prefix}: done earlier; evaluating {', '.join(names)} ...")
                begin = time.monotonic()
                model = self.recipe.base if method is None else self._trained_model(method, seed)
                self._evaluate(model, folder / "eval", missing)
                seconds = time.monotonic() - begin
                add_later_evaluation(folder / DONE, names, seconds)
                self.printer(f"{prefix}: {', '.join(names)} evaluated in {seconds / 60:.1f} min")
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
        return ExperimentData(folder / "sft.jsonl", folder / "dpo.jsonl", self._training_instance_files(),
                              self._grpo_instance_files())

    def _training_instance_files(self) -> dict[str, Path]:
        folder = self.output / "data" / "train-instances"
        return {s.name: folder / f"{s.name}.json" for s in self.trained_specs if s.target_keys}

    def _grpo_instance_files(self) -> dict[str, Path]:
        folder = self.output / "data" / "grpo-instances"
        return {game: folder / f"{game}.json" for game in self.recipe.grpo_splits}

    def _eval_rows(self, spec: GameSpec) -> list:
        """The rows ``_evaluate`` plays of ``spec`` (the same selection)."""
        from playpen.rollout.planner import select_rows

        count = self.recipe.eval_per_experiment if spec in self.trained_specs else self.recipe.ood_per_experiment
        return select_rows(spec, split=self.recipe.eval_split, per_experiment=count)

    def write_training_instances(self) -> dict[str, list[str]]:
        """Write, per in-domain game with target words, its training split without the instances whose target
        word any evaluated game asks for (``data/train-instances/<game>.json``; SFT/DPO data and GRPO use them),
        and likewise the split of each game in ``grpo_splits`` (``data/grpo-instances/<game>.json``: GRPO plays it).
        Returns the dropped words per file. Deterministic, so a resumed experiment writes the same files."""
        from playpen.core.instances import load_instances
        from playpen.rollout.planner import target_words, without_targets

        held_out = target_words((spec, self._eval_rows(spec)) for spec in [*self.trained_specs, *self.ood_specs])
        specs = {spec.name: spec for spec in self.trained_specs}
        files = [(game, specs[game], self.recipe.train_split, path)
                 for game, path in self._training_instance_files().items()]
        files += [(f"{game} ({self.recipe.grpo_splits[game]}, GRPO)", specs[game], self.recipe.grpo_splits[game], path)
                  for game, path in self._grpo_instance_files().items()]
        dropped = {}
        for label, spec, split, path in files:
            kept = load_instances(spec.instances_file(split))
            if spec.target_keys:
                kept, dropped[label] = without_targets(spec, kept, held_out)
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(path, kept)
        return dropped

    def _data(self) -> None:
        """Scripted competent and sloppy players on the training split -> SFT rows and DPO pairs."""
        from playpen.data.datasets import dpo_rows, sft_rows, write_rows
        from playpen.data.episodes import read_perspectives
        from playpen.eval.policy import evaluate_policy

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
        from playpen.eval.policy import evaluate_policy
        from playpen.models.registry import VLLM_PREFIX

        vllm = self.recipe.eval_backend == "vllm"
        model = self.load(f"{VLLM_PREFIX}{model_name}" if vllm else model_name, self.recipe.eval_max_new_tokens)
        partner = self.load(self.recipe.partner, self.recipe.eval_max_new_tokens)
        counts = {s.name: self.recipe.eval_per_experiment for s in self.trained_specs}
        counts.update({s.name: self.recipe.ood_per_experiment for s in self.ood_specs})
        counts.update({s.name: self.recipe.static_per_game.get(s.name, self.recipe.static_per_experiment)
                       for s in self.static_specs})
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
    def _transcripts(self) -> str:
        """The same evaluated episodes of the base and each trained run side by side (``transcripts_table``)."""
        from playpen.eval.experiment_report import transcripts_table

        columns = [("base", self.output / "base" / "eval")]
        columns += [(f"{method.replace('_', '→')} seed {seed}", self._method_dir(method, seed) / "eval")
                    for method in self.recipe.methods for seed in self.recipe.seeds]
        return transcripts_table(columns, {spec.name for spec in self.trained_specs}, self.output)

    def _episodes(self, folder: Path):
        from playpen.eval.clemscore import load_score_rows
        from playpen.eval.confidence import episodes_by_model

        if not folder.is_dir():
            return None
        by_model = episodes_by_model(load_score_rows(folder))
        return next(iter(by_model.values())) if by_model else None

    def report(self) -> dict[str, Any]:
        """Compare every finished method × seed with the base (and SFT→DPO / SFT→GRPO with the same seed's SFT
        model): ``report.csv``, ``report-vs-start.csv``, ``report.json``, ``report.html``."""
        from playpen.eval.experiment_report import change_rows, write_report

        base = self._episodes(self.output / "base" / "eval")
        if base is None:
            raise PlaypenError(f"{self.output}: the base model has not been evaluated yet")
        scope_games = {"in": [s.name for s in self.trained_specs], "out": [s.name for s in self.ood_specs],
                       "static": [s.name for s in self.static_specs]}
        rows: list[dict[str, Any]] = []
        vs_start: list[dict[str, Any]] = []
        evaluated = {}
        for method in sorted(self.recipe.methods, key=METHODS.index):
            runs = {seed: self._episodes(self._method_dir(method, seed) / "eval") for seed in self.recipe.seeds}
            evaluated[method] = runs = {seed: run for seed, run in runs.items() if run is not None}
            if runs:
                rows += change_rows(method, base, runs, scope_games, self.recipe.resamples)
            # a method that continues another (SFT→GRPO) also against that model, seed by seed
            starts = evaluated.get(STARTS_FROM[method]) or {}
            paired = {seed: run for seed, run in runs.items() if seed in starts}
            if paired:
                vs_start += change_rows(method, starts, paired, scope_games, self.recipe.resamples,
                                        per_seed_base=True)
        seconds = {}
        for label, folder, _, _ in self.stages():
            if stage_done(folder, DONE):
                seconds[label] = stage_seconds(folder / DONE)
        report = {"recipe": asdict(self.recipe), "roles": self.roles, "rows": rows, "vs_start": vs_start,
                  "stage_seconds": seconds,
                  "base_episodes": {game: len(episodes.keys) for game, episodes in base.items()}}
        write_report(self.output, report, self._transcripts(), self._training_curves())
        return report

    def _training_curves(self) -> list[tuple[str, bytes]]:
        """(label, PNG) of every finished GRPO run's learning curves (reward and its spread per step, and the
        evaluations during training when the recipe turned them on)."""
        curves = []
        for method in GRPO_METHODS:
            for seed in self.recipe.seeds if method in self.recipe.methods else []:
                path = self._method_dir(method, seed) / "train" / "learning_curves.png"
                if path.is_file():
                    curves.append((f"{method.replace('_', '→')} seed {seed}", path.read_bytes()))
        return curves


def load_recipe(path: Path | None, overrides: Mapping[str, Any] | None = None) -> ExperimentRecipe:
    """A recipe from a TOML/JSON file (``configs/recipes/experiment_*.toml``) with command-line overrides, checked
    whole (``ExperimentRecipe.check``)."""
    recipe = load_settings(ExperimentRecipe, path, overrides, where="experiment")
    recipe.check()
    return recipe

"""``playpen demo``: the embedded model learns a dialogue game on a CPU, in minutes — beyond the reply format.

The default (``--method sft``) is the paper's experiment in miniature (``playpen.train.experiment``):

1. evaluate SmolLM2-135M-Instruct (greedy) on held-out taboo instances as the *WordGuesser* against the scripted
   describer, and on out-of-domain games in self-play;
2. fine-tune it (LoRA SFT, a few dozen steps) on transcripts of taboo's competent scripted guesser;
3. evaluate again on the same episodes and write ``report.html``: the change vs base per game and scope with
   bootstrap 95 % intervals, and the transcripts before and after.

Why taboo: the base model already answers in the game's format in most episodes (it replies "GUESS: ...") but
repeats the clue instead of guessing a word, so its quality is 0; a well-formed guess without content also
scores 0. Whatever quality the trained model reaches is the skill of the game (naming the word a clue
describes, on words it never trained on), not its format (docs/training.md has the measurements).

``--method grpo`` runs the earlier demo: GRPO on the reference game's *Instruction Giver*. There the base model
never writes the one-line ``Expression:`` greedily, and GRPO with an abort penalty teaches that format within a
few steps; quality stays at the scripted follower's chance level (``demo_settings``).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any, Callable

from playpen.core.errors import PlaypenError
from playpen.results.store import atomic_write_text
from playpen.train.settings import DemoSettings

LEARNER = "smollm2-135m"
SFT_GAME = "taboo"
SFT_ROLE = "WordGuesser"
GAME = "referencegame"
ROLE = "Instruction Giver"
OOD_GAMES = tuple(DemoSettings().ood_games)
#: training steps of each demo (``DemoSettings.steps`` says them)
STEPS = {"sft": 30, "grpo": 10}
ALIAS = "smollm2-135m-grpo-demo"


#: what the SFT demo's experiment changes from ``ExperimentRecipe``'s and ``SFTSettings``' defaults: 30 taboo test
#: episodes (10 per experiment), one episode per out-of-domain experiment (steps, seed and the out-of-domain games
#: come from the command)
SFT_DEMO: dict[str, Any] = dict(
    games=[SFT_GAME], roles={SFT_GAME: SFT_ROLE}, methods=["sft"], eval_split="test", eval_per_experiment=10,
    eval_max_new_tokens=24, format_only_quality={SFT_GAME: 0.0}, sft={"learning_rate": 1e-3, "max_length": 512},
)
#: what the GRPO demo changes from ``GRPOSettings``' defaults (steps, seed and the out-of-domain games come from
#: the command)
GRPO_DEMO: dict[str, Any] = dict(
    games=[GAME], roles={GAME: ROLE}, batch_size=8, micro_batch_size=2, learning_rate=5e-4, max_new_tokens=24,
    max_completion_length=64, lora_alpha=32, reward="paper", abort_penalty=0.5, eval_per_experiment=None,
    eval_max_new_tokens=24, alias=ALIAS,
)


def demo_recipe(*, steps: int = STEPS["sft"], seed: int = 0, ood_games: tuple[str, ...] | list[str] = OOD_GAMES):
    """The SFT demo's experiment (see the module docstring): ``SFT_DEMO`` with the command's choices."""
    from playpen.train.settings import ExperimentRecipe, load_settings

    return load_settings(ExperimentRecipe, overrides={
        **SFT_DEMO, "ood_games": list(ood_games), "seeds": [seed],
        "sft": {**SFT_DEMO["sft"], "max_steps": steps}}, where="demo_recipe")


def run_sft_demo(output_dir: Path = Path("demo"), *, steps: int = STEPS["sft"], seed: int = 0,
                 ood_games: tuple[str, ...] | list[str] = OOD_GAMES,
                 printer: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Evaluate → SFT on taboo → evaluate → ``report.html`` (resumable, as every experiment); returns the report."""
    from playpen.models.embedded import prepare_embedded_model
    from playpen.train.experiment import Experiment

    say = printer or (lambda _: None)
    prepare_embedded_model()
    say(f"playpen demo: SFT of {LEARNER} as the {SFT_GAME} {SFT_ROLE} ({steps} steps) on the scripted guesser's "
        f"transcripts; greedy evaluation on held-out {SFT_GAME} episodes + {', '.join(ood_games) or 'no other game'} "
        "before and after")
    report = Experiment(demo_recipe(steps=steps, seed=seed, ood_games=ood_games), output_dir, printer=printer).run()
    say(sft_summary_text(report))
    return report


def run_chosen_demo(output_dir: Path, settings: DemoSettings, printer: Callable[[str], None] | None = print) -> None:
    """``playpen demo``: the demo ``settings.method`` names, with its own number of steps unless ``settings.steps``."""
    if settings.method not in STEPS:
        raise PlaypenError(f"--method is {' or '.join(STEPS)}, not {settings.method!r}")
    steps = settings.steps or STEPS[settings.method]
    if settings.method == "sft":
        run_sft_demo(output_dir, steps=steps, seed=settings.seed, ood_games=settings.ood_games, printer=printer)
    else:
        run_demo(output_dir, steps=steps, seed=settings.seed, ood_games=settings.ood_games)


def sft_summary_text(report: dict[str, Any]) -> str:
    """Per game: base → trained, and the change with its 95 % interval."""
    lines = ["base → trained (greedy, held-out episodes; change with its bootstrap 95 % interval):"]
    for row in report["rows"]:
        if not row["game"] or row["figure"] not in ("played", "quality"):
            continue
        label = "% played" if row["figure"] == "played" else "quality"
        change = "" if math.isnan(row["change"]) else (
            f"  change {row['change']:+.2f} [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]")
        lines.append(f"  {row['game']:14s} {row['scope']:>3}  {label:9s} {_fmt(row['base']):>6} → "
                     f"{_fmt(row['trained']):>6}{change}")
    return "\n".join(lines)


def demo_settings(*, steps: int = STEPS["grpo"], seed: int = 0, ood_games: tuple[str, ...] | list[str] = OOD_GAMES,
                  **overrides: Any):
    """The GRPO demo's recipe (``--method grpo``; see the module docstring and docs/training.md): ``GRPO_DEMO``
    with the command's choices, then ``overrides`` (each checked: a misspelt one is refused)."""
    from playpen.train.settings import GRPOSettings, load_settings

    return load_settings(GRPOSettings, overrides={
        **GRPO_DEMO, "max_steps": steps, "save_steps": max(1, steps), "seed": seed, "eval_games": list(ood_games),
        **overrides}, where="demo_settings")


@dataclass
class DemoResult:
    output_dir: Path
    report: Path
    seconds: float
    train_seconds: float
    steps: int
    seed: int
    #: eval_metrics.csv rows of the evaluation before and after training
    before: list[dict[str, Any]] = field(default_factory=list)
    after: list[dict[str, Any]] = field(default_factory=list)

    def figure(self, which: str, game: str, key: str = "clemscore") -> float:
        rows = self.before if which == "before" else self.after
        return next((r[key] for r in rows if r["scope"] == "game" and r["game"] == game), math.nan)


def run_demo(output_dir: Path = Path("demo"), *, steps: int = STEPS["grpo"], seed: int = 0,
             ood_games: tuple[str, ...] | list[str] = OOD_GAMES, printer: Callable[[str], None] | None = print,
             **overrides: Any) -> DemoResult:
    """Evaluate → GRPO → evaluate → ``report.html`` (the before/after evaluations are the training run's own
    evaluations at step 0 and at the last step). Registers the trained adapter as ``smollm2-135m-grpo-demo``."""
    from playpen.models.embedded import prepare_embedded_model
    from playpen.eval.policy import read_eval_rows
    from playpen.train.grpo import train_grpo

    settings = demo_settings(steps=steps, seed=seed, ood_games=ood_games, **overrides)  # checked before any work
    say = printer or (lambda _: None)
    started = time.monotonic()
    output_dir = Path(output_dir)
    prepare_embedded_model()
    run_dir = output_dir / "grpo"
    say(f"playpen demo: GRPO on {GAME} ({ROLE}, scripted partner), {steps} steps of {settings.batch_size} episodes; "
        f"evaluation on {GAME} + {', '.join(ood_games) or 'no out-of-domain game'} (greedy) before and after")
    train_started = time.monotonic()
    train_grpo(LEARNER, run_dir, settings, printer=printer)
    train_seconds = time.monotonic() - train_started
    rows = read_eval_rows(run_dir / "eval_metrics.csv")
    last = max(r["step"] for r in rows)
    result = DemoResult(output_dir, output_dir / "report.html", 0.0, train_seconds, steps, seed,
                        before=[r for r in rows if r["step"] == 0], after=[r for r in rows if r["step"] == last])
    result.seconds = time.monotonic() - started
    write_report(result, settings, run_dir)
    say(summary_text(result))
    say(f"report: {result.report}  ({result.seconds / 60:.1f} min in all)")
    return result


# ---------------------------------------------------------------------------------------------------- report
def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def _delta(before: float, after: float) -> str:
    if any(isinstance(v, float) and math.isnan(v) for v in (before, after)):
        return ""
    change = after - before
    colour = "#1a7f37" if change > 0 else "#cf222e" if change < 0 else "#666"
    return f"<span style='color:{colour}'>{change:+.2f}</span>"


def summary_text(result: DemoResult) -> str:
    lines = ["before → after (greedy, validation):"]
    for row in result.before:
        after = next((r for r in result.after if r["scope"] == row["scope"] and r["game"] == row["game"]), None)
        if after is None:
            continue
        name = row["game"] or f"[{row['scope']}]"
        lines.append(f"  {name:28s} % played {_fmt(row['played']):>6} → {_fmt(after['played']):>6}   "
                     f"quality {_fmt(row['quality']):>6} → {_fmt(after['quality']):>6}   "
                     f"clemscore {_fmt(row['clemscore']):>6} → {_fmt(after['clemscore']):>6}")
    return "\n".join(lines)


def _learner_samples(run_dir: Path, count: int = 4) -> tuple[list[dict], list[dict]]:
    """A few learner replies from the first and the last training step (rollouts.jsonl)."""
    path = run_dir / "rollouts.jsonl"
    if not path.is_file():
        return [], []
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not records:
        return [], []
    first, last = min(r["step"] for r in records), max(r["step"] for r in records)
    return ([r for r in records if r["step"] == first][:count], [r for r in records if r["step"] == last][:count])


def write_report(result: DemoResult, settings: Any, run_dir: Path) -> Path:
    from playpen.eval.experiment_report import transcripts_table
    from playpen.eval.html import embedded_png, page
    from playpen.games import domain_of

    root = result.output_dir
    last = max((r["step"] for r in result.after), default=0)
    rows = []
    order = {"in": 1, "out": 2, "all": 3}
    ordered = sorted(result.before, key=lambda r: (
        r["scope"] != "game", order.get(r["scope"], 0),
        (r["game"] not in settings.games, domain_of(r["game"]), r["game"]) if r["scope"] == "game" else ()))
    for scope_rows in (("game",), ("in", "out", "all")):
        for row in ordered:
            if row["scope"] not in scope_rows:
                continue
            after = next((r for r in result.after if r["scope"] == row["scope"] and r["game"] == row["game"]), None)
            if after is None:
                continue
            if row["scope"] == "game":
                trained = row["game"] in settings.games
                label = (f"<b>{escape(row['game'])}</b>", domain_of(row["game"]),
                         f"learner as {escape(settings.roles.get(row['game'], ''))} vs scripted" if trained
                         else "self-play (not trained)")
            else:
                label = (f"<i>average ({row['scope']})</i>", row["scope"], f"{row['episodes']} game(s)")
            cells = "".join(f"<td>{c}</td>" for c in label)
            cells += f"<td>{row['episodes'] if row['scope'] == 'game' else ''}</td>"
            for key in ("played", "quality", "clemscore"):
                cells += (f"<td>{_fmt(row[key])}</td><td>{_fmt(after[key])}</td>"
                          f"<td>{_delta(row[key], after[key])}</td>")
            rows.append(f"<tr>{cells}</tr>")
    curves = run_dir / "learning_curves.png"
    image = embedded_png(curves.read_bytes(), "learning curves") if curves.is_file() else "<p>(no learning curves)</p>"
    links = transcripts_table([("before", run_dir / "eval" / "step-0"), ("after", run_dir / "eval" / f"step-{last}")],
                              set(), root, per_game=None)
    first, final = _learner_samples(run_dir)
    samples = "".join(
        f"<tr><td>{label}</td><td>{r['step']}</td><td>{escape(r['outcome'] or '')}</td><td>{_fmt(r['reward'])}</td>"
        f"<td><code>{escape(' ⏎ '.join(r['learner']))}</code></td></tr>"
        for label, records in (("first step", first), ("last step", final)) for r in records)
    recipe = {k: getattr(settings, k) for k in (
        "games", "roles", "partner", "group_size", "batch_size", "max_steps", "learning_rate", "beta", "temperature",
        "max_new_tokens", "lora_r", "lora_alpha", "reward", "abort_penalty", "eval_games", "seed")}
    style = ("td:first-child,td:nth-child(2),td:nth-child(3),th{text-align:left}\n"
             "code{white-space:pre-wrap;font-size:12px}img{max-width:100%}")
    html = page("Playpen demo", f"""<h1>Playpen demo: GRPO on the embedded model</h1>
<p><b>{escape(LEARNER)}</b> (SmolLM2-135M-Instruct) learned <b>{escape(", ".join(settings.games))}</b> as the
<b>{escape(", ".join(settings.roles.values()))}</b> against the game's scripted partner: {result.steps} GRPO steps of
{settings.batch_size} episodes (groups of {settings.group_size}), LoRA r={settings.lora_r}, seed {result.seed}.
Before and after training it played the same validation instances with greedy decoding: the trained game in its
training setup, the out-of-domain game(s) in self-play (the clembench convention).
Training took {result.train_seconds / 60:.1f} min (evaluations included), the whole demo {result.seconds / 60:.1f} min.</p>
<h2>Before → after</h2>
<table><tr><th>game</th><th>domain</th><th>setup</th><th>episodes</th>
<th>% played<br>before</th><th>after</th><th>Δ</th><th>quality<br>before</th><th>after</th><th>Δ</th>
<th>clemscore<br>before</th><th>after</th><th>Δ</th></tr>{''.join(rows)}</table>
<p>clemscore = % played / 100 × quality (per game; averaged over games as clembench does). It is 0 when no
episode was played (quality is then undefined). A 135M model is far too small to play the games well: what GRPO
teaches it here in a few minutes is to follow the game's answer format, so it stops aborting; the quality of a
well-formed but uninformative expression is the scripted follower's chance level.</p>
<h2>Learning curves</h2>{image}
<p>Left: mean reward and outcome rates of the training rollouts (sampled at temperature {settings.temperature}).
Middle: GRPO loss and KL to the base model. Right: validation figures (greedy).</p>
<h2>What the learner said</h2>
<table><tr><th>when</th><th>step</th><th>outcome</th><th>reward</th><th>learner's reply</th></tr>{samples}</table>
<p>Every training episode is in <code>grpo/rollouts.jsonl</code>; per-step metrics in
<code>grpo/training_log.csv</code>, evaluations in <code>grpo/eval_metrics.csv</code>.</p>
<h2>Transcripts</h2>
{links}
<h2>Recipe</h2><pre>{escape(json.dumps(recipe, indent=1, default=str))}</pre>
<p>The trained LoRA adapter is in <code>grpo/final/</code> and registered as the model alias
<code>{escape(settings.alias or '')}</code>: <code>playpen run -g {escape(settings.games[0])} -m {escape(settings.alias or '')}
-m scripted --split validation</code>.</p>
""", style)
    atomic_write_text(result.report, html)
    return result.report

"""``playpen demo``: the embedded model learns a dialogue game with GRPO, on a CPU, in minutes.

1. evaluate SmolLM2-135M-Instruct (greedy) on the validation instances of the trained game (in its training
   setup) and of an out-of-domain game (self-play);
2. train it with GRPO for a few steps (LoRA; the learner samples, the partner is the game's scripted player);
3. evaluate again on the same instances;
4. write ``report.html``: before/after table per game and domain, learning curves, links to the transcripts.

The recipe (``demo_settings``) was chosen for what a 135M model can learn in a short CPU run: the learner is the
*Instruction Giver* of the reference game. Its replies must be one line starting with ``Expression:``; the base
model writes that in ~8% of its samples (temperature 1) but never greedily, so it aborts every validation
episode. With an abort penalty, every group that holds one well-formed reply has reward spread, and GRPO
teaches the format within a few steps. (As the paper's *Instruction Follower* the base model almost never
samples a well-formed ``Answer:`` — about 1 in 10,000 — so no group has any spread and nothing can be learned.)
See docs/training.md for the measurements.
"""

from __future__ import annotations

import base64
import json
import math
import time
from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path
from typing import Any, Callable

from playpen.results.records import (
    INTERACTIONS_FILE,
    TRANSCRIPT_FILE,
    ResultsFileError,
    episodes,
)
from playpen.results.store import atomic_write_text

LEARNER = "smollm2-135m"
GAME = "referencegame"
ROLE = "Instruction Giver"
OOD_GAMES = ("guesswhat", "textmapworld")
ALIAS = "smollm2-135m-grpo-demo"


def demo_settings(*, steps: int = 10, seed: int = 0, ood_games: tuple[str, ...] | list[str] = OOD_GAMES,
                  **overrides: Any):
    """The demo's GRPO recipe (see the module docstring and docs/training.md)."""
    from playpen.train.grpo import GRPOSettings

    settings = GRPOSettings(
        games=[GAME], roles={GAME: ROLE}, partner="scripted",
        group_size=8, batch_size=8, micro_batch_size=2, max_steps=steps,
        learning_rate=5e-4, beta=0.04, temperature=1.0,
        max_new_tokens=24, max_completion_length=64,
        lora_r=16, lora_alpha=32,
        reward="paper", abort_penalty=0.5, partner_retries=1,
        evaluate=True, eval_steps=0, eval_games=list(ood_games), eval_split="validation",
        eval_per_experiment=None, eval_extra_per_experiment=1, eval_max_new_tokens=24, eval_batch_size=32,
        save_steps=max(1, steps), seed=seed, alias=ALIAS,
    )
    for key, value in overrides.items():
        setattr(settings, key, value)
    return settings


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


def run_demo(output_dir: Path = Path("demo"), *, steps: int = 10, seed: int = 0,
             ood_games: tuple[str, ...] | list[str] = OOD_GAMES, printer: Callable[[str], None] | None = print,
             **overrides: Any) -> DemoResult:
    """Evaluate → GRPO → evaluate → ``report.html`` (the before/after evaluations are the training run's own
    evaluations at step 0 and at the last step). Registers the trained adapter as ``smollm2-135m-grpo-demo``."""
    from playpen.models.embedded import prepare_embedded_model
    from playpen.train.evaluation import read_eval_rows
    from playpen.train.grpo import train_grpo

    say = printer or (lambda _: None)
    started = time.monotonic()
    output_dir = Path(output_dir)
    prepare_embedded_model()
    settings = demo_settings(steps=steps, seed=seed, ood_games=ood_games, **overrides)
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


def _episodes(step_dir: Path) -> dict[tuple[str, str, str], tuple[Path, str]]:
    """(game, experiment, episode) -> (transcript, outcome) of one evaluation's recorded episodes."""
    out = {}
    for episode in episodes(step_dir) if step_dir.is_dir() else ():
        if not episode.file(INTERACTIONS_FILE).exists():
            continue
        try:
            outcome = episode.interactions.get("outcome", {}).get("status", "?")
        except (ResultsFileError, AttributeError):
            outcome = "?"
        out[(episode.game, episode.experiment_dir, episode.episode_dir)] = (episode.file(TRANSCRIPT_FILE), outcome)
    return out


def _outcome_link(entry: tuple[Path, str] | None, root: Path) -> str:
    if entry is None:
        return "–"
    path, outcome = entry
    colour = {"success": "#1a7f37", "lose": "#9a6700", "aborted": "#cf222e"}.get(outcome, "#666")
    return f"<a href='{escape(path.relative_to(root).as_posix())}' style='color:{colour}'>{escape(outcome)}</a>"


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
    image = (f"<img src='data:image/png;base64,{base64.b64encode(curves.read_bytes()).decode()}' "
             f"alt='learning curves' style='max-width:100%'>") if curves.is_file() else "<p>(no learning curves)</p>"
    before_eps = _episodes(run_dir / "eval" / "step-0")
    after_eps = _episodes(run_dir / "eval" / f"step-{last}")
    links = []
    for key in sorted(set(before_eps) | set(after_eps)):
        game, experiment, episode = key
        links.append(f"<tr><td>{escape(game)}</td><td>{escape(experiment)}</td><td>{escape(episode)}</td>"
                     f"<td>{_outcome_link(before_eps.get(key), root)}</td>"
                     f"<td>{_outcome_link(after_eps.get(key), root)}</td></tr>")
    first, final = _learner_samples(run_dir)
    samples = "".join(
        f"<tr><td>{label}</td><td>{r['step']}</td><td>{escape(r['outcome'] or '')}</td><td>{_fmt(r['reward'])}</td>"
        f"<td><code>{escape(' ⏎ '.join(r['learner']))}</code></td></tr>"
        for label, records in (("first step", first), ("last step", final)) for r in records)
    recipe = {k: v for k, v in asdict(settings).items()
              if k in ("games", "roles", "partner", "group_size", "batch_size", "max_steps", "learning_rate", "beta",
                       "temperature", "max_new_tokens", "lora_r", "lora_alpha", "reward", "abort_penalty",
                       "eval_games", "seed")}
    html = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Playpen demo</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1150px;margin:24px auto;padding:0 16px;color:#222}}
table{{border-collapse:collapse;margin:12px 0 28px}}td,th{{border:1px solid #ddd;padding:4px 9px;text-align:right}}
td:first-child,td:nth-child(2),td:nth-child(3),th{{text-align:left}}th{{background:#f3f4f6}}
code{{white-space:pre-wrap;font-size:12px}}</style></head><body>
<h1>Playpen demo: GRPO on the embedded model</h1>
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
<table><tr><th>game</th><th>experiment</th><th>episode</th><th>before</th><th>after</th></tr>{''.join(links)}</table>
<h2>Recipe</h2><pre>{escape(json.dumps(recipe, indent=1, default=str))}</pre>
<p>The trained LoRA adapter is in <code>grpo/final/</code> and registered as the model alias
<code>{escape(settings.alias or '')}</code>: <code>playpen run -g {escape(settings.games[0])} -m {escape(settings.alias or '')}
-m scripted --split validation</code>.</p>
</body></html>"""
    atomic_write_text(result.report, html)
    return result.report

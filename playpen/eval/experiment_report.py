"""``playpen experiment``'s report: per method and scope (in-domain clemscore, out-of-domain clemscore,
statscore) and per game, the change vs the base with a bootstrap 95 % interval over episodes and seeds
(``confidence.seed_change``), written as ``report.csv`` / ``report.json`` / ``report.html`` (+ ``report.png``) and
as Markdown tables to paste into a paper or a README (``report.md``).
The runner (``train.experiment``) gathers the evaluated episodes and calls ``change_rows`` and ``write_report``."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

from playpen.eval.confidence import GameEpisodes, point_figures, seed_change
from playpen.eval.html import embedded_png, page, png_of, pyplot
from playpen.results.records import episode_outcomes
from playpen.results.store import atomic_write_bytes, atomic_write_text
from playpen.results.transcript import outcome_link

SCOPE_LABELS = {"in": "in-domain clemscore", "out": "out-of-domain clemscore", "static": "statscore"}


def change_rows(method: str, base: Mapping[str, GameEpisodes] | Mapping[int, Mapping[str, GameEpisodes]],
                runs: Mapping[int, Mapping[str, GameEpisodes]], scope_games: Mapping[str, list[str]],
                resamples: int, *, per_seed_base: bool = False) -> list[dict[str, Any]]:
    """The report's rows of one method: per scope (all its games) and per game, each figure's base value, the
    trained value (mean over ``runs``, the seeds) with its interval, and the change vs the base with its
    interval over seeds and episodes (``seed_change``), p-value and per-seed values. With ``per_seed_base``,
    ``base`` maps each seed to its own starting run (SFT→GRPO against the same seed's SFT), and the base value is
    the mean over seeds."""
    rows: list[dict[str, Any]] = []
    targets = [(scope, None, games) for scope, games in scope_games.items() if games]
    targets += [(scope, game, [game]) for scope, games in scope_games.items() for game in games]
    starts = [base[seed] for seed in runs] if per_seed_base else base
    for scope, game, games in targets:
        change = seed_change(starts, list(runs.values()), games, resamples=resamples)
        levels = seed_change(None, list(runs.values()), games, resamples=resamples)
        if per_seed_base:
            start_points = [point_figures(start, games) for start in starts]
            base_point = {figure: _mean_of([p[figure] for p in start_points]) for figure in start_points[0]}
        else:
            base_point = point_figures(base, games)
        seed_points = {seed: point_figures(run, games) for seed, run in runs.items()}
        for figure, difference in change.items():
            per_seed = {seed: points[figure] for seed, points in seed_points.items()}
            values = [v for v in per_seed.values() if not math.isnan(v)]
            rows.append({
                "method": method, "scope": scope, "game": game or "", "figure": figure,
                "base": base_point[figure],
                "trained": _mean_of(values),
                "trained_ci_low": levels[figure].interval.low, "trained_ci_high": levels[figure].interval.high,
                "change": difference.interval.estimate, "ci_low": difference.interval.low,
                "ci_high": difference.interval.high, "p_value": difference.p_value,
                "significant": difference.significant, "seeds": len(runs),
                "seed_sd": statistics.stdev(values) if len(values) > 1 else math.nan,
                "per_seed": per_seed,
            })
    return rows


def _mean_of(values: list[float]) -> float:
    numbers = [v for v in values if not math.isnan(v)]
    return statistics.fmean(numbers) if numbers else math.nan


def write_report(output: Path, report: dict[str, Any], transcripts: str, curves: list[tuple[str, bytes]]) -> None:
    """``report.json``, ``report.csv``, ``report.md``, ``report.png`` (when there is something to draw) and
    ``report.html``; with rows against the starting model (``vs_start``), ``report-vs-start.csv`` too."""
    rows = report["rows"]
    atomic_write_text(output / "report.json", json.dumps(json_safe(report), indent=2))
    atomic_write_text(output / "report.csv", _report_csv(rows))
    atomic_write_text(output / "report.md", report_markdown(report))
    if report.get("vs_start"):
        atomic_write_text(output / "report-vs-start.csv", _report_csv(report["vs_start"]))
    png = _report_png(rows, report["recipe"])
    if png:
        atomic_write_bytes(output / "report.png", png)
    atomic_write_text(output / "report.html", _report_html(report, png, transcripts, curves))


def transcripts_table(columns: list[tuple[str, Path]], first_games: set[str], root: Path,
                      per_game: int | None = 8) -> str:
    """HTML: the first ``per_game`` (None: all) evaluated episodes of every game (``first_games`` first), each run
    of ``columns`` (label, evaluation folder) side by side, each outcome linked to its transcript (the demo's
    before/after table too)."""
    outcomes = [(label, episode_outcomes(folder)) for label, folder in columns if folder.is_dir()]
    shown: dict[str, list[tuple[str, str, str]]] = {}
    for key in sorted(set().union(*(found for _, found in outcomes)), key=lambda k: (k[0] not in first_games, k)):
        game = shown.setdefault(key[0], [])
        if per_game is None or len(game) < per_game:
            game.append(key)
    head = "<tr><th>game</th><th>experiment</th><th>episode</th>" + "".join(
        f"<th>{escape(label)}</th>" for label, _ in outcomes) + "</tr>"
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(part)}</td>" for part in key)
        + "".join(f"<td>{outcome_link(found.get(key), root)}</td>" for _, found in outcomes) + "</tr>"
        for keys in shown.values() for key in keys)
    return f"<table>{head}{body}</table>" if body else "<p>(no recorded episode)</p>"


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


def report_markdown(report: dict[str, Any]) -> str:
    """The comparison as Markdown: per scope and game, every method's clemscore (mean over seeds with its 95 %
    interval), its change vs the base, SFT→DPO/SFT→GRPO's change vs the SFT model they continue, and % played /
    quality per game. Bold: the change's interval excludes zero."""
    rows, recipe = report["rows"], report["recipe"]
    methods = list(dict.fromkeys(r["method"] for r in rows))

    def heads(names: list[str]) -> str:
        return " | ".join(name.upper().replace("_", "→") for name in names)  # sft_grpo: SFT→GRPO

    if not methods:
        return "# Experiment\n\n(no method has been evaluated yet)\n"

    def label(key: tuple[str, str]) -> str:
        scope, game = key
        return SCOPE_LABELS.get(scope, scope) if not game else f"{scope}: {game}"

    def interval(row: dict[str, Any], low: str, high: str, signed: bool) -> str:
        if math.isnan(row[low]) or math.isnan(row[high]):
            return ""
        return f" [{_fmt(row[low], signed)}, {_fmt(row[high], signed)}]"

    def trained(row: dict[str, Any]) -> str:
        return _fmt(row["trained"]) + interval(row, "trained_ci_low", "trained_ci_high", False)

    def change(row: dict[str, Any]) -> str:
        value = _fmt(row["change"], True)
        return (f"**{value}**" if row["significant"] else value) + interval(row, "ci_low", "ci_high", True)

    def table(source: list[dict[str, Any]], columns: list[str], cell, start: str = "base") -> str:
        """One row per scope and game (scopes first, each game after its scope), the starting model's figure,
        then one column per method of ``columns``."""
        found = {(r["scope"], r["game"], r["method"]): r for r in source if r["figure"] == "clemscore"}
        order = list(SCOPE_LABELS)
        keys = sorted(dict.fromkeys((scope, game) for scope, game, _ in found),
                      key=lambda key: (order.index(key[0]) if key[0] in order else len(order), bool(key[1])))
        lines = [f"| | {start} | {heads(columns)} |",
                 "|" + "---|" * (len(columns) + 2)]
        for key in keys:
            mine = [found.get((*key, method)) for method in columns]
            first = next(r for r in mine if r is not None)
            lines.append(f"| {label(key)} | {_fmt(first['base'])} | "
                         + " | ".join(cell(r) if r else "" for r in mine) + " |")
        return "\n".join(lines)

    def played_quality() -> str:
        found = {(r["game"], r["method"], r["figure"]): r for r in rows if r["game"]}
        games = list(dict.fromkeys(r["game"] for r in rows if r["game"]))
        lines = [f"| game | base | {heads(methods)} |",
                 "|" + "---|" * (len(methods) + 2)]
        for game in games:
            def pair(method: str | None) -> str:
                played = found.get((game, method or methods[0], "played"))
                quality = found.get((game, method or methods[0], "quality"))
                if played is None or quality is None:
                    return ""
                figure = "base" if method is None else "trained"
                return f"{_fmt(played[figure])} / {_fmt(quality[figure]) or '–'}"
            lines.append(f"| {game} | {pair(None)} | " + " | ".join(pair(m) for m in methods) + " |")
        return "\n".join(lines)

    seeds = ", ".join(map(str, recipe["seeds"]))
    minutes = sum(v for v in report.get("stage_seconds", {}).values() if v) / 60
    parts = [
        f"# Experiment: {recipe['base']}, seeds {seeds}",
        f"Evaluated greedily on the {recipe['eval_split']} split; in-domain games in the training setup (the learner "
        f"against the {recipe['partner']} partner), out-of-domain games in self-play. Mean over seeds with its 95 % "
        "interval, bootstrapped over seeds and, within each seed, over episodes (paired for changes). "
        f"Stages finished so far: {minutes:.1f} min of training and evaluation.",
        "## Clemscore (statscore for the reference tasks)", table(rows, methods, trained),
        "## Change vs base (bold: the 95 % interval excludes zero)", table(rows, methods, change),
    ]
    if report.get("vs_start"):
        continuing = list(dict.fromkeys(r["method"] for r in report["vs_start"]))
        parts += ["## Change vs the SFT model of the same seed", table(report["vs_start"], continuing, change, "SFT")]
    parts += ["## % played / quality per game (mean over seeds)", played_quality()]
    return "\n\n".join(parts) + "\n"


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


def _report_png(rows: list[dict[str, Any]], recipe: Mapping[str, Any]) -> bytes | None:
    """Left: the clemscore change vs base per scope. Right: the trained quality per in-domain game (the base
    plays nothing, so its quality is undefined) against each game's format-only level where the recipe names it.
    Both with 95 % intervals."""
    change = [r for r in rows if not r["game"] and r["figure"] == "clemscore"]
    quality = [r for r in rows if r["game"] and r["scope"] == "in" and r["figure"] == "quality"]
    if not change and not quality:
        return None
    plt = pyplot()

    methods = list(dict.fromkeys(r["method"] for r in rows))  # in the runner's order
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 4.2))
    _bars(left, change, "scope", "change", "ci_low", "ci_high", methods)
    left.axhline(0, color="#444", linewidth=0.8)
    left.set_title("clemscore: change vs base", fontsize=10)
    left.legend(fontsize=8)
    games = _bars(right, quality, "game", "trained", "trained_ci_low", "trained_ci_high", methods)
    for index, game in enumerate(games):
        if game in recipe["format_only_quality"]:
            level = recipe["format_only_quality"][game]
            right.hlines(level, index - 0.45, index + 0.45, colors="#c00", linestyles="dashed",
                         label="format-only level" if index == 0 else None)
    right.set_title("quality (Main Score of played episodes) after training", fontsize=10)
    right.legend(fontsize=8)
    seeds = max((r["seeds"] for r in rows), default=0)
    figure.suptitle(f"{recipe['base']}: {seeds} seed(s) per method, bootstrap 95 % intervals", fontsize=10)
    figure.tight_layout()
    return png_of(figure)


def _report_html(report: dict[str, Any], png: bytes | None, transcripts: str,
                 curves: list[tuple[str, bytes]] = ()) -> str:
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
    vs_start = ""
    if report.get("vs_start"):
        vs_start = ("<h2>Change vs the starting model</h2><p>SFT→DPO and SFT→GRPO against the SFT model of the same "
                    "seed, which they continue: in the <em>base</em> column the SFT model's figure (mean over "
                    "seeds); the change is paired per seed and episode, the interval bootstrapped as above.</p>"
                    + table([r for r in report["vs_start"] if not r["game"]], False)
                    + table([r for r in report["vs_start"] if r["game"]], True))
    image = embedded_png(png, "change vs base") if png else ""
    training = "".join(f"<h3>{escape(label)}</h3>" + embedded_png(data, f"learning curves of {label}")
                       for label, data in curves)
    if training:
        training = ("<h2>GRPO training</h2><p>Per step: the rollouts' mean reward, its spread within groups "
                    "(<code>reward_std</code>; groups without spread teach nothing) and outcome rates, the loss "
                    "and KL, and the evaluations during training.</p>" + training)
    timing = "".join(f"<li>{escape(k)}: {v / 60:.1f} min</li>" for k, v in report["stage_seconds"].items() if v)
    roles = ", ".join(f"{escape(g)}: {escape(r)}" for g, r in report["roles"].items())
    style = "td:nth-child(-n+3){text-align:left}.sig{font-weight:bold;background:#eef7ee}\nimg{max-width:100%}"
    return page("Playpen experiment", f"""<h1>Experiment: {escape(recipe['base'])} — {escape(', '.join(m.replace('_', '→') for m in recipe['methods']))}</h1>
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
{vs_start}
<h2>Transcripts</h2>
<p>The same evaluation episodes before and after training (the first of each game; every episode is under
<code>base/eval</code> and <code>runs/&lt;method&gt;/seed-&lt;n&gt;/eval</code>).</p>{transcripts}
{training}
<h2>Time per stage</h2><ul>{timing}</ul>
""", style)

"""``playpen eval``: clembench's ``raw.csv`` / ``results.csv`` plus our report (domains, chart, HTML)."""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from html import escape
from pathlib import Path

from playpen.eval.clemscore import ModelTable, build_tables, load_score_rows, raw_csv, results_csv
from playpen.eval.statscore import STATIC_RESULTS_CSV
from playpen.games import domain_of
from playpen.games.static import STATSCORE_GAMES
from playpen.results.store import atomic_write_text

#: summary scopes: the dialogue games (all, in, out) and the static tasks (their "clemscore" is statscore)
SCOPES = ("all", "in", "out", "static")


def scope_games(table: ModelTable, scope: str) -> list[str]:
    if scope == "static":
        return [g for g in table.games if g in STATSCORE_GAMES]
    return [g for g in table.games if domain_of(g) != "static" and scope in ("all", domain_of(g))]


@dataclass
class Summary:
    model: str
    scope: str  # "all" | "in" | "out"
    played: float
    quality: float
    clemscore: float
    games: int


def summaries(tables: list[ModelTable]) -> list[Summary]:
    out = []
    for table in tables:
        for scope in SCOPES:
            games = scope_games(table, scope)
            if not games:
                continue
            played, quality, clemscore = table.average(games)
            out.append(Summary(table.model, scope, played, quality, clemscore, len(games)))
    return out


def _fmt(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.2f}"


def chart_png(tables: list[ModelTable]) -> bytes:
    """Grouped bars of % played and quality per game, one panel per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(tables), 1, figsize=(11, 3.6 * len(tables)), squeeze=False)
    for axis, table in zip(axes[:, 0], tables):
        games = sorted(table.games, key=lambda g: (domain_of(g), g))
        xs = range(len(games))
        played = [table.games[g].played for g in games]
        quality = [0 if math.isnan(table.games[g].quality) else table.games[g].quality for g in games]
        axis.bar([x - 0.2 for x in xs], played, width=0.4, label="% played", color="#5c8dd6")
        axis.bar([x + 0.2 for x in xs], quality, width=0.4, label="quality score", color="#f0a04b")
        axis.set_xticks(list(xs))
        axis.set_xticklabels([f"{g}\n({domain_of(g)})" for g in games], rotation=30, ha="right", fontsize=8)
        axis.set_ylim(0, 105)
        headline = ", ".join(f"{'statscore' if s.scope == 'static' else 'clemscore'} {_fmt(s.clemscore)}"
                             for s in summaries([table]) if s.scope in ("all", "static"))
        axis.set_title(f"{table.model} — {headline}", fontsize=10)
        axis.legend(fontsize=8, loc="upper right")
        axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def results_html(tables: list[ModelTable], png: bytes) -> str:
    rows = []
    for summary in summaries(tables):
        rows.append(
            f"<tr><td>{escape(summary.model)}</td><td>{summary.scope}</td><td>{summary.games}</td>"
            f"<td>{_fmt(summary.played)}</td><td>{_fmt(summary.quality)}</td><td><b>{_fmt(summary.clemscore)}</b></td></tr>"
        )
    per_game = []
    for table in tables:
        for game in sorted(table.games, key=lambda g: (domain_of(g), g)):
            fig = table.games[game]
            per_game.append(
                f"<tr><td>{escape(table.model)}</td><td>{escape(game)}</td><td>{domain_of(game)}</td><td>{fig.episodes}</td>"
                f"<td>{_fmt(fig.played)}</td><td>{_fmt(fig.quality)}</td><td>{_fmt(fig.quality_std)}</td></tr>"
            )
    image = base64.b64encode(png).decode()
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Playpen results</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;color:#222}}
table{{border-collapse:collapse;margin:12px 0 28px}}td,th{{border:1px solid #ddd;padding:4px 10px;text-align:right}}
td:first-child,td:nth-child(2),th{{text-align:left}}th{{background:#f3f4f6}}</style></head><body>
<h1>Playpen results</h1>
<p>clemscore = (average % played / 100) × average quality score, averaged over games as clembench does.
In-domain games are the paper's training games; out-of-domain games are held out. The <i>static</i> row is
statscore: the same formula over clembench's static tasks (cladder, eqbench, ifeval, mmlu_pro).</p>
<h2>Summary</h2><table><tr><th>model</th><th>games</th><th>#</th><th>% played</th><th>quality</th><th>clemscore</th></tr>
{''.join(rows)}</table>
<img src="data:image/png;base64,{image}" alt="% played and quality score per game" style="max-width:100%">
<h2>Per game</h2><table><tr><th>model</th><th>game</th><th>domain</th><th>episodes</th><th>% played</th>
<th>quality</th><th>quality std</th></tr>{''.join(per_game)}</table></body></html>"""


def evaluate(results_dir: str | Path, *, models: str | None = None, games: set[str] | None = None,
             with_std: bool = True, chart: bool = True) -> list[ModelTable]:
    """Write ``raw.csv``, ``results.csv``, ``results.html`` (+ ``results.png``) into ``results_dir``.

    As in clembench, the dialogue games and the static tasks get separate tables: ``results.csv`` holds the
    dialogue games (clemscore), ``results-static.csv`` the static tasks (its ``-, clemscore`` is statscore,
    averaged over the statscore tasks). A folder with static tasks only gets that table as ``results.csv``
    too, as clembench's evaluator writes it for a static run."""
    root = Path(results_dir)
    rows = load_score_rows(root, models=models, games=games)
    tables = build_tables(rows)
    atomic_write_text(root / "raw.csv", raw_csv(rows))
    dialogue = [row for row in rows if domain_of(row.game) != "static"]
    static = [row for row in rows if domain_of(row.game) == "static"]
    if static:
        static_csv = results_csv(build_tables(static), with_std=with_std, average_over=STATSCORE_GAMES)
        atomic_write_text(root / STATIC_RESULTS_CSV, static_csv)
    if dialogue or not static:
        atomic_write_text(root / "results.csv", results_csv(build_tables(dialogue), with_std=with_std))
    else:
        atomic_write_text(root / "results.csv", static_csv)
    if tables and chart:
        png = chart_png(tables)
        (root / "results.png").write_bytes(png)
        atomic_write_text(root / "results.html", results_html(tables, png))
    return tables

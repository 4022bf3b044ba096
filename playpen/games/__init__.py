"""The game registry: clembench game name -> GameSpec, imported lazily (a game package is imported only
when it is asked for, so ``playpen list`` stays fast)."""

from __future__ import annotations

import importlib

from playpen.core.errors import PlaypenError
from playpen.core.registry import SKILLS, GameSpec

# Every game package exposes ``GAMES: dict[str, GameSpec]`` (variants share one package).
_PACKAGES: dict[str, str] = {
    "taboo": "taboo",
    "wordle": "wordle",
    "wordle_withclue": "wordle",
    "wordle_withcritic": "wordle",
    "referencegame": "referencegame",
    "imagegame": "imagegame",
    "privateshared": "privateshared",
    "codenames": "codenames",
    "guesswhat": "guesswhat",
    "matchit_ascii": "matchit_ascii",
    "textmapworld": "textmapworld",
    "textmapworld_graphreasoning": "textmapworld",
    "textmapworld_specificroom": "textmapworld",
    "adventuregame": "adventuregame",
    # clembench v3.0 adds these (played by `--benchmark 3.0`)
    "clean_up": "clean_up",
    "dond": "dond",
    "hot_air_balloon": "hot_air_balloon",
    # clembench's static suite: single-turn reference tasks (not part of ``all``)
    "ifeval": "static",
    "eqbench": "static",
    "cladder": "static",
    "mmlu_pro": "static",
    "bbh": "static",
}

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
    dialogue = {g for g in games if g in _PACKAGES and g not in static_games()}
    for version, names in BENCHMARKS.items():
        if dialogue <= set(names):
            return version
    return list(BENCHMARKS)[-1]


def _load(package: str) -> dict[str, GameSpec] | None:
    try:
        module = importlib.import_module(f"playpen.games.{package}")
    except ModuleNotFoundError as error:
        if error.name == f"playpen.games.{package}":
            return None  # not implemented yet
        raise
    return getattr(module, "GAMES", None)  # a folder without a finished package is not a game yet


def scripted_skills() -> list[str]:
    """Every skill some game's scripted players have (``SKILLS`` first)."""
    skills = list(SKILLS)
    for name in _PACKAGES:
        spec = (_load(_PACKAGES[name]) or {}).get(name)
        skills += [skill for skill in (spec.extra_skills if spec else ()) if skill not in skills]
    return skills


def game_names() -> list[str]:
    """All clembench text games (v2.0's, then v3.0's), implemented or not, then the static tasks."""
    return list(_PACKAGES)


def domain_of(name: str) -> str:
    """``in``, ``out`` or ``static``, as the game's ``GameSpec.domain`` declares it (the paper's split). A game
    Playpen does not implement (e.g. in a clembench results folder) counts as out-of-domain."""
    try:
        return get_game(name).domain
    except PlaypenError:
        return "out"


def static_games() -> list[str]:
    """The static tasks, in registry order; ``static`` selects the statscore ones."""
    return [name for name in _PACKAGES if domain_of(name) == "static"]


def available_games() -> dict[str, GameSpec]:
    """The implemented games, in clembench order."""
    found: dict[str, GameSpec] = {}
    for name, package in _PACKAGES.items():
        games = _load(package)
        if games and name in games:
            found[name] = games[name]
    return found


def get_game(name: str) -> GameSpec:
    if name not in _PACKAGES:
        known = ", ".join(_PACKAGES)
        raise PlaypenError(f"unknown game '{name}' (known games: {known}; see `playpen list games`)")
    games = _load(_PACKAGES[name])
    if not games or name not in games:
        raise PlaypenError(f"game '{name}' is not implemented in this version of playpen")
    return games[name]


def resolve_games(selectors: list[str], benchmark: str = DEFAULT_BENCHMARK) -> list[GameSpec]:
    """``all`` (the dialogue games of the ``benchmark`` version), ``in``/``out`` (those by domain), ``static`` (the
    statscore tasks) or game names -> specs, without duplicates, in clembench order."""
    from playpen.games.static import STATSCORE_GAMES

    benchmark_games = BENCHMARKS[check_benchmark(benchmark)]
    available = {name: spec for name, spec in available_games().items()
                 if spec.domain == "static" or name in benchmark_games}
    chosen: list[str] = []
    for selector in selectors:
        for part in selector.split(","):
            part = part.strip()
            if not part:
                continue
            if part == "all":
                names = [n for n, spec in available.items() if spec.domain != "static"]
            elif part in ("in", "out"):
                names = [n for n, spec in available.items() if spec.domain == part]
            elif part == "static":
                names = [n for n in STATSCORE_GAMES if n in available]
            else:
                spec = get_game(part)
                available.setdefault(spec.name, spec)
                names = [spec.name]
            chosen += [n for n in names if n not in chosen]
    return [available[n] for n in chosen]

"""Games from outside Playpen: a distribution's ``playpen.games`` entry point or ``register()`` adds a game that
``get_game``, ``resolve_games``, ``playpen list/run/check`` and the scripted players all see."""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from playpen import make
from playpen.core.check import play_scripted
from playpen.core.errors import PlaypenError
from playpen.core.instances import iter_rows, load_instances
from playpen.core.master import Status
from playpen.games import available_games, domain_of, game_names, get_game, register, registry, resolve_games

#: the plugin of docs/adding-a-game.md, as the guide writes it
GAME = re.search(r"```python\n# pingpong_plugin/__init__.py\n(.*?)```",
                 (Path(__file__).resolve().parents[1] / "docs" / "adding-a-game.md").read_text(), re.S).group(1)
INSTANCES = {"experiments": [{"name": "three_pings", "game_instances": [{"game_id": 0, "pings": 3},
                                                                      {"game_id": 1, "pings": 2}]}]}


def distribution(root, name, entry_points, modules=None):
    """Install a distribution ``name`` 0.1 the way pip lays one out: its modules and a ``.dist-info`` folder whose
    ``entry_points.txt`` declares ``entry_points`` ({game: "module:attr"}) in the ``playpen.games`` group."""
    for module, source in (modules or {}).items():
        package = root / module
        package.mkdir()
        (package / "__init__.py").write_text(textwrap.dedent(source))
    info = root / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = "".join(f"{game} = {target}\n" for game, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[playpen.games]\n{lines}")
    return root


@pytest.fixture
def fresh_registry(monkeypatch, tmp_path):
    """Only Playpen's own games registered, the plugins not read yet; the process's registry is restored and the
    plugin modules the test imported are forgotten afterwards."""
    monkeypatch.setattr(registry, "REGISTRY", registry.REGISTRY.builtins_only())
    yield registry.REGISTRY
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


@pytest.fixture
def pingpong(tmp_path, monkeypatch):
    """The pingpong plugin installed on sys.path, with its three splits (two instances each)."""
    site = tmp_path / "site"
    site.mkdir()
    distribution(site, "pingpong-plugin", {"pingpong": "pingpong_plugin:SPEC"}, {"pingpong_plugin": GAME})
    (site / "pingpong_plugin" / "in").mkdir()
    for split in ("train", "validation", "test"):
        (site / "pingpong_plugin" / "in" / f"{split}.json").write_text(json.dumps(INSTANCES))
    monkeypatch.syspath_prepend(str(site))
    return site


def playpen(*args, path, check=True):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(path), os.environ.get("PYTHONPATH", "")]),
           "COLUMNS": "200"}  # one line per table row
    result = subprocess.run([sys.executable, "-m", "playpen.cli", *map(str, args)], capture_output=True, text=True,
                            env=env, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_an_installed_plugin_game_is_found_imported_on_use_and_played(fresh_registry, pingpong, tmp_path, monkeypatch):
    names = game_names()
    later = tmp_path / "later"
    later.mkdir()
    monkeypatch.syspath_prepend(str(distribution(later, "later-plugin", {"later": "later:SPEC"})))
    assert game_names() == names  # the entry points are read once per process
    assert names[-1] == "pingpong" and names[:-1] == [n for n, r in fresh_registry.registrations.items() if r.builtin]
    assert fresh_registry.registrations["pingpong"].origin == "plugin pingpong-plugin 0.1"
    assert "pingpong_plugin" not in sys.modules  # read from the metadata, not imported
    assert [spec.name for spec in resolve_games(["all"])][-1] == "adventuregame"  # not a clembench game
    assert "pingpong_plugin" not in sys.modules
    spec = get_game("pingpong")
    assert spec.description == "Answer PONG to every PING." and domain_of("pingpong") == "out"
    assert [s.name for s in resolve_games(["pingpong,taboo", "pingpong"])] == ["pingpong", "taboo"]
    assert "pingpong" in available_games()
    rows = list(iter_rows("pingpong", load_instances(spec.instances_file("test"))))
    won, lost = play_scripted(spec, rows[0]), play_scripted(spec, rows[0], "bad")
    assert won.outcome.status is Status.SUCCESS and won.requests == 3
    assert lost.outcome.status is Status.ABORTED and lost.outcome.reason == "the answer to PING is PONG"

    env = make("pingpong", split="test")  # an environment for a learner, like any game's
    env.reset(seed=0)
    rewards = [env.step("PONG")[1] for _ in range(env.master.instance["pings"])]
    assert env.master.outcome.status is Status.SUCCESS and rewards[-1] == 1.0


def test_the_command_lists_runs_and_checks_a_plugin_game(fresh_registry, pingpong, tmp_path):
    listed = playpen("list", "games", path=pingpong).stdout
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in listed.splitlines() if line.startswith("│")]
    assert rows[-1] == ["pingpong", "out", "Player", "Answer PONG to every PING.", "plugin pingpong-plugin 0.1"]
    assert rows[0][0] == "taboo" and rows[0][-1] == "built-in"
    assert [row[0] for row in rows if row[0]] == game_names()
    assert "then the plugins' games" in listed

    playpen("run", "-g", "pingpong", "-m", "scripted", "-r", tmp_path / "results", path=pingpong)
    scores = sorted((tmp_path / "results").rglob("scores.json"))
    assert len(scores) == 2
    assert all(json.loads(p.read_text())["episode scores"]["Success"] == 1 for p in scores)

    checked = playpen("check", "-g", "pingpong", "--episodes", "4", path=pingpong).stdout
    assert checked.startswith("pingpong: 12 episodes") and checked.rstrip().endswith("instance-round-trip")


def test_register_adds_a_game_by_its_entry_point(fresh_registry):
    register("echo", "tests.toygame:SPEC")
    assert fresh_registry.registrations["echo"].origin == "plugin tests"
    assert "echo" not in fresh_registry.specs and "echo" in game_names()
    from tests.toygame import SPEC

    assert get_game("echo") is SPEC and resolve_games(["echo"]) == [SPEC]
    register("echo", "tests.toygame:SPEC")  # the same registration again (a module imported twice) is no clash


def test_a_name_clash_is_an_error_naming_both_sources(fresh_registry, tmp_path, monkeypatch):
    with pytest.raises(PlaypenError) as error:
        register("taboo", "mygames.taboo:SPEC")
    assert str(error.value) == (
        "game 'taboo' is registered twice: by built-in (playpen.games.taboo:GAMES) and by plugin mygames "
        "(mygames.taboo:SPEC); a game name must be unique: rename the plugin's game (or uninstall its package)")

    monkeypatch.syspath_prepend(str(distribution(tmp_path, "wordle-deluxe", {"wordle": "deluxe:SPEC"})))
    for ask in (game_names, lambda: get_game("taboo"), lambda: resolve_games(["all"])):
        with pytest.raises(PlaypenError, match=r"game 'wordle' is registered twice: by built-in "
                                               r"\(playpen.games.wordle:GAMES\) and by plugin wordle-deluxe 0.1 "
                                               r"\(deluxe:SPEC\)"):
            ask()


BROKEN = {
    "broken_import": ("import not_a_module_anywhere\n",
                      "ModuleNotFoundError: No module named 'not_a_module_anywhere'"),
    "broken_attribute": ("", "AttributeError: module 'broken_attribute' has no attribute 'SPEC'"),
    "broken_type": ("SPEC = 'a game'\n", "TypeError: broken_type:SPEC is a str, not a GameSpec"),
    "broken_mapping": ("SPEC = {}\n", "LookupError: broken_mapping:SPEC has no game 'broken_mapping' (it holds none)"),
    "broken_name": (GAME.replace('name="pingpong",', 'name="pong",'),
                    "ValueError: broken_name:SPEC is the spec of game 'pong', not 'broken_name'"),
}


def test_a_plugin_that_does_not_load_fails_alone_in_one_line(fresh_registry, tmp_path, monkeypatch):
    site = distribution(tmp_path, "broken-games", {name: f"{name}:SPEC" for name in BROKEN},
                        {name: source for name, (source, _) in BROKEN.items()})
    monkeypatch.syspath_prepend(str(site))
    for name, (_, why) in BROKEN.items():
        with pytest.raises(PlaypenError) as error:
            get_game(name)
        assert str(error.value) == (f"game '{name}' of plugin broken-games 0.1 ({name}:SPEC) cannot be loaded: {why}; "
                                    "fix or reinstall that package, or uninstall it")
        with pytest.raises(PlaypenError, match="cannot be loaded"):  # again, from what was noted
            get_game(name)
    assert set(available_games()) == set(game_names()) - set(BROKEN)
    assert domain_of("broken_import") == "out" and len(resolve_games(["all"], "3.0")) == 17

    listed = playpen("list", "games", path=site)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr
    assert "taboo" in listed.stdout and "cannot be loaded" in listed.stdout
    run = playpen("run", "-g", "broken_import", "-m", "scripted", "-r", tmp_path / "r", path=site, check=False)
    assert run.returncode == 1 and run.stderr.startswith("error: game 'broken_import' of plugin broken-games 0.1")
    assert len(run.stderr.strip().splitlines()) == 1


def test_an_entry_point_without_a_module_and_attribute_is_refused(fresh_registry):
    with pytest.raises(PlaypenError, match="entry point 'mygames.SPEC' must have the form 'package.module:attribute'"):
        register("mine", "mygames.SPEC")


def test_help_and_list_models_import_no_game_and_a_game_imports_only_its_package():
    code = textwrap.dedent("""
        import sys
        from typer.testing import CliRunner
        from playpen.cli import app
        for args in (["--help"], ["list", "models"]):
            assert CliRunner().invoke(app, args).exit_code == 0
            print(sorted(m for m in sys.modules if m.startswith("playpen.games.")))
        from playpen.games import get_game
        get_game("taboo")
        print(sorted({m.split(".")[2] for m in sys.modules if m.startswith("playpen.games.")}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[]", "[]", "['official', 'registry', 'taboo']"]

"""The clembench version switch: which games ``all`` plays, which rules they follow, which set eval scores."""

import json
import math

import pytest

from playpen.core.errors import PlaypenError
from playpen.core.instances import InstanceRow
from playpen.eval.report import completeness
from playpen.games import BENCHMARKS, benchmark_of, get_game, resolve_games
from playpen.games.adventuregame.master import NAN_WHEN_ABORTED
from playpen.games.imagegame.master import DOUBLE_ROUND_CAP
from playpen.rollout.planner import select_rows

from tests.test_cli import playpen


def test_all_is_v2_by_default_and_v3_adds_its_games():
    v2 = [spec.name for spec in resolve_games(["all"])]
    assert v2 == list(BENCHMARKS["2.0"]) and "clean_up" not in v2
    v3 = [spec.name for spec in resolve_games(["all"], "3.0")]
    assert v3[:14] == v2 and "clean_up" in v3
    assert "clean_up" in [spec.name for spec in resolve_games(["out"], "3.0")]
    assert "clean_up" not in [spec.name for spec in resolve_games(["out"])]
    assert [spec.name for spec in resolve_games(["clean_up"])] == ["clean_up"]  # by name, any version
    with pytest.raises(PlaypenError, match="unknown benchmark version '4.0'"):
        resolve_games(["all"], "4.0")


def test_benchmark_of_names_the_smallest_set_holding_the_games():
    assert benchmark_of(["taboo", "wordle", "ifeval"]) == "2.0"
    assert benchmark_of(["taboo", "clean_up"]) == "3.0"
    assert len(BENCHMARKS["3.0"]) == 17


def test_v3_selects_the_rules_it_changed():
    adventure = select_rows(get_game("adventuregame"), split="validation", per_game=1, benchmark="3.0")[0]
    assert adventure.experiment[NAN_WHEN_ABORTED] is True
    assert NAN_WHEN_ABORTED not in select_rows(get_game("adventuregame"), split="validation", per_game=1)[0].experiment
    image = select_rows(get_game("imagegame"), split="validation", per_game=1, benchmark="3.0")[0]
    master = get_game("imagegame").new_episode(image.experiment, image.instance)
    size = int(image.instance.get("grid_dimension", 5))
    assert master.round_cap == 2 * size * size


def test_adventuregame_aborted_main_score_by_version():
    spec = get_game("adventuregame")
    row: InstanceRow = select_rows(spec, split="validation", per_game=1)[0]
    for flags, nan in (({}, False), (spec.benchmark_flags["3.0"], True)):
        master = spec.new_episode({**row.experiment, **flags}, row.instance)
        master.step("no command")
        assert master.done
        assert math.isnan(master.scores()["episode scores"]["Main Score"]) is nan


def test_run_and_eval_name_the_v3_set(tmp_path):
    results = tmp_path / "results"
    playpen("run", "-g", "all", "-m", "scripted", "--benchmark", "3.0", "--split", "validation", "-N", "1",
            "-r", results)
    runs = [p.name for p in (results / "scripted").iterdir()] if (results / "scripted").is_dir() else []
    assert "clean_up" in runs and "taboo" in runs
    out = playpen("eval", "-r", results, "--no-ci").stdout
    assert "clembench 3.0's game set" in " ".join(out.split())


def test_eval_note_for_a_v2_run():
    class Table:
        model = "m"
        games = {name: None for name in BENCHMARKS["2.0"]}

    _, notes = completeness([Table()], {}, None)
    assert notes == ["m: clemscore over clembench 2.0's game set (14 of its 14 games played)"]
    json.dumps(notes)

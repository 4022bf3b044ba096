"""``playpen eval`` on clembench v3.0 records: per-game % played and quality as in v3.0's ``results.csv``."""

import csv
import json
import math
import shutil

import pytest

from playpen.eval.report import evaluate
from playpen.eval.rescore import rescore
from playpen.eval.verify import InstanceFiles

#: episodes per model of each v3.0 game (clean_up 9 experiments x 3, dond coop_en and semi_en x 20,
#: hot_air_balloon 6 x 6): a model's figures are comparable with results.csv only over all of them
COMPLETE = {"clean_up": 27, "dond": 40, "hot_air_balloon": 36}

CLEAN_UP_EXPERIMENTS = [f"{level}_{n}obj_en" for level in ("0_easy", "1_medium", "2_hard") for n in (3, 5, 7)]
#: gpt-oss-120b-t1.0's complete clean_up set in v3.0 (ansovald/clembench-runs, v3.0/gpt-oss-120b-t1.0/clean_up):
#: the Main Score of its five played episodes; the other 22 were aborted
GPT_OSS_PLAYED = {("0_easy_3obj_en", 0): 96.66666666666667, ("0_easy_3obj_en", 1): 53.78089773873745,
                  ("0_easy_3obj_en", 2): 100.0, ("0_easy_5obj_en", 0): 49.29617854230825,
                  ("2_hard_5obj_en", 0): 10.621020428543321}


def _write_gpt_oss_clean_up(root):
    for experiment in CLEAN_UP_EXPERIMENTS:
        for game_id in range(3):
            main = GPT_OSS_PLAYED.get((experiment, game_id), math.nan)
            scores = {"Aborted": int(math.isnan(main)), "Lose": int(math.isnan(main)),
                      "Success": int(not math.isnan(main)), "Main Score": main}
            folder = root / "gpt-oss-120b-t1.0" / "clean_up" / experiment / f"instance_{game_id:05d}"
            folder.mkdir(parents=True)
            (folder / "scores.json").write_text(json.dumps({"episode scores": scores}))


def test_eval_reproduces_the_v3_per_game_figures(fixtures_dir, tmp_path):
    source = fixtures_dir / "clembench-runs-v3"
    if not (source / "results.csv").is_file():
        pytest.skip("no clembench v3.0 results.csv")
    for child in source.iterdir():
        if child.is_dir():
            shutil.copytree(child, tmp_path / child.name)
    # the fixture's records are scored by our games, not read back
    done, problems = rescore(tmp_path, in_place=True, instances=InstanceFiles.load(fixtures_dir / "clembench-instances"))
    assert done == len(list(source.glob("*/*/*/instance_*/interactions.json"))) and not problems
    _write_gpt_oss_clean_up(tmp_path)
    with (source / "results.csv").open(newline="") as handle:
        expected = {row[""]: row for row in csv.DictReader(handle)}
    compared = []
    for table in evaluate(tmp_path, chart=False):
        for game, figures in table.games.items():
            if figures.episodes != COMPLETE.get(game):
                continue
            row = expected[table.model]
            assert (figures.played, figures.quality, figures.quality_std) == (
                float(row[f"{game}, % Played"]), float(row[f"{game}, Quality Score"]),
                float(row[f"{game}, Quality Score (std)"])), (table.model, game)
            compared.append((table.model, game))
    assert ("gpt-oss-120b-t1.0", "clean_up") in compared

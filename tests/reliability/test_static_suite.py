"""Class 4 of issue 23: the static suite. An instance file of another task or with a bad instruction is refused
before the run (one line, no traceback, no advice to rerun); an instance file's regular expression cannot hang
``run`` or ``verify``; ``verify`` fails when it could check nothing and prints no markup literally."""

import json
import time

import pytest

from playpen.games import get_game
from playpen.testing.server import TestServer

EXAMPLES = {name: get_game(name).examples for name in ("ifeval", "eqbench", "mmlu_pro")}


@pytest.mark.parametrize("game, other, named", [
    ("eqbench", "ifeval", "eqbench experiment 'examples', instance 0: 'target' must score emotions from 0 to 10"),
    ("ifeval", "eqbench", "ifeval experiment 'examples', instance 0: the target's 'Guilty' must hold the "
                          "instruction's arguments"),
])
def test_an_instance_file_of_another_task_is_refused(guarded, game, other, named):
    result = guarded.cli("run", "-g", game, "-m", "scripted", "-i", EXAMPLES[other], "-r", guarded.results)
    assert result.code == 1
    assert named in result.error_line and "is this a clembench" in result.error_line
    assert not list(guarded.results.rglob("*.json")) if guarded.results.exists() else True


@pytest.mark.parametrize("target, named", [
    ({"length_constraints:number_words": {"relation": "about", "num_words": 12}},
     "IFEval instruction 'length_constraints:number_words' does not take the arguments"),
    ({"length_constraints:number_words": {"relation": "at least", "words": 12}},
     "IFEval instruction 'length_constraints:number_words' does not take the arguments"),
    ({"punctuation:no_semicolons": {}}, "unknown IFEval instruction 'punctuation:no_semicolons'"),
])
def test_a_bad_ifeval_instruction_is_refused_before_the_run(guarded, target, named):
    pytest.importorskip("lm_eval")
    data = json.loads(EXAMPLES["ifeval"].read_text())
    data["experiments"][0]["game_instances"][0]["target"] = target
    path = guarded.write("ifeval.json", json.dumps(data))
    result = guarded.cli("run", "-g", "ifeval", "-m", "scripted", "-i", path, "-r", guarded.results)
    assert result.code == 1
    line = result.error_line
    assert named in line and "instance 0" in line
    assert "Traceback" not in line and "run the same command again" not in line
    assert not guarded.results.exists() or not list(guarded.results.rglob("scores.json"))


def _mmlu(guarded, pattern: str):
    data = json.loads(EXAMPLES["mmlu_pro"].read_text())
    data["experiments"][0]["regex_pattern"] = pattern
    data["experiments"][0]["game_instances"] = data["experiments"][0]["game_instances"][:1]
    return guarded.write("mmlu_pro.json", json.dumps(data))


def _served(server) -> str:
    return json.dumps({"backend": "openai", "base_url": server.base_url, "model_id": server.model_id,
                       "max_retries": 0})


HOSTILE_REPLY = "a" * 40 + "!"


def test_a_catastrophic_answer_pattern_cannot_hang_run(guarded):
    path = _mmlu(guarded, "(a+)+$")  # the regex engine matches this one without backtracking: played, aborted
    with TestServer(answer=lambda messages, body: HOSTILE_REPLY) as server:
        result = guarded.cli("run", "-g", "mmlu_pro", "-m", _served(server), "-i", path, "-r", guarded.results)
    assert result.code == 0 and len(guarded.finished()) == 1
    path = _mmlu(guarded, "(a|aa)+$")  # this one still backtracks: bounded by the timeout
    with TestServer(answer=lambda messages, body: HOSTILE_REPLY) as server:
        began = time.monotonic()
        result = guarded.cli("run", "-g", "mmlu_pro", "-m", _served(server), "-i", path, "-r", guarded.results / "b")
        seconds = time.monotonic() - began
    assert seconds < 30  # an unbounded match of this pattern on this reply takes hours
    assert result.code == 1
    line = result.error_line
    assert ("game error: PlaypenError: mmlu_pro experiment 'examples': its regex_pattern '(a|aa)+$' took more than "
            "1 s") in line
    assert "Traceback" not in line
    assert "took more than 1 s" in json.loads(next(guarded.results.rglob("error.json")).read_text())["error"]


def test_a_catastrophic_answer_pattern_cannot_hang_verify_and_nothing_checked_is_an_error(guarded):
    path = _mmlu(guarded, r"answer is \(?([ABCDEFGHIJ])\)?")
    with TestServer(answer=lambda messages, body: HOSTILE_REPLY) as server:
        played = guarded.cli("run", "-g", "mmlu_pro", "-m", _served(server), "-i", path, "-r", guarded.results)
    assert played.code == 0, played.stderr  # aborted: no answer in the expected format
    assert guarded.cli("verify", guarded.results).code == 0
    experiment = next(guarded.results.rglob("experiment.json"))
    record = json.loads(experiment.read_text())
    experiment.write_text(json.dumps({**record, "regex_pattern": "(a|aa)+$"}))
    began = time.monotonic()
    result = guarded.cli("verify", guarded.results)
    assert time.monotonic() - began < 30
    assert result.code == 1
    assert result.stdout.count("error ") == 1 and "[red]" not in result.stdout  # styled, not printed as markup
    line = result.error_line
    assert "nothing in" in line and "could be checked: 1 episodes error" in line and "took more than 1 s" in line


def test_verify_of_a_folder_without_episodes_is_an_error(guarded):
    guarded.results.mkdir()
    result = guarded.cli("verify", guarded.results)
    assert result.code == 1 and "could be checked: no finished episode" in result.error_line

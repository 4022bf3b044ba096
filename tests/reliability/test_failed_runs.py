"""Class 4: a run with errored episodes fails, and eval says what its table leaves out."""

import json
import re

from playpen.testing.server import TestServer


def _served(server) -> str:
    return json.dumps({"backend": "openai", "base_url": server.base_url, "model_id": server.model_id,
                       "model_name": "served", "send_request_context": True, "max_retries": 0})


def test_a_run_with_errored_episodes_exits_non_zero_and_says_how_to_resume(guarded):
    with TestServer(faults=["500", "500"]) as server:
        result = guarded.cli("run", "-g", "taboo", "-m", _served(server), "--split", "validation", "-b", "1",
                             "-r", guarded.results)
    assert result.code == 1
    line = result.error_line
    assert "2 of 12 episodes errored and are not scored" in line and "run the same command again" in line
    assert len(list(guarded.results.rglob("error.json"))) == 2 and len(guarded.finished()) == 10

    evaluation = guarded.cli("eval", "-r", guarded.results)
    assert evaluation.code == 0
    assert "INCOMPLETE" in evaluation.stdout
    assert re.search(r"│ taboo\s+│ in\s+│ 10\s+│ 2\s+│ 100.00", evaluation.stdout)  # 10 scored, 2 left out
    assert "warning: served: 2 episodes left out (2 errored;" in evaluation.stderr
    assert "served: the clemscore covers 1 of 14 games" in evaluation.stdout
    html = (guarded.results / "results.html").read_text()
    assert "2 episodes left out" in html

    strict = guarded.cli("eval", "-r", guarded.results, "--strict")
    assert strict.code == 1 and "incomplete results, nothing written" in strict.error_line

    with TestServer() as server:  # the server is back: the same command plays the two errored episodes
        again = guarded.cli("run", "-g", "taboo", "-m", _served(server), "--split", "validation", "-r", guarded.results)
    assert again.code == 0 and "played 2 episodes, skipped 10 finished" in again.stdout
    complete = guarded.cli("eval", "-r", guarded.results, "--strict")
    assert complete.code == 0 and "INCOMPLETE" not in complete.stdout and "warning" not in complete.stderr


def test_a_non_numeric_aborted_is_flagged_and_does_not_blank_the_clemscore(guarded):
    assert guarded.cli("run", "-g", "taboo", "-m", "scripted", "--split", "validation", "-r", guarded.results).code == 0
    victim = sorted(guarded.results.rglob("scores.json"))[0]
    record = json.loads(victim.read_text())
    record["episode scores"]["Aborted"] = "no"
    victim.write_text(json.dumps(record))
    result = guarded.cli("eval", "-r", guarded.results)
    assert result.code == 0
    assert f"{victim}: 'Aborted' is \"no\", not 0 or 1" in result.stderr
    row = (guarded.results / "results.csv").read_text().splitlines()[1].split(",")
    assert row[0] == "scripted" and row[1] == "100.0"  # clemscore over the 11 usable episodes


def test_eval_counts_unfinished_episodes(guarded):
    assert guarded.cli("run", "-g", "taboo", "-m", "scripted", "--split", "validation", "-r", guarded.results).code == 0
    killed = sorted(guarded.results.rglob("scores.json"))[3]
    killed.unlink()  # as after a kill before the last write
    result = guarded.cli("eval", "-r", guarded.results)
    assert "scripted: 1 episodes left out (1 unfinished; e.g." in result.stderr

"""Class 3 of issue 23: ``compare`` and ``eval`` report what they counted. Episodes pair only when both runs
played the same instance, left-out episodes are counted and named, and score values outside their range are left
out (with a warning), never averaged in."""

import json

import pytest


def _run(sandbox, folder, *args):
    result = sandbox.cli("run", "-g", "taboo", "-m", "scripted", "-N", "3", *args, "-r", sandbox.results / folder)
    assert result.code == 0, result.stderr


def _row(stdout: str, game: str) -> str:
    return next(line for line in stdout.splitlines() if line.strip("│ ").startswith(game))


def test_runs_of_different_splits_are_not_reported_as_paired(guarded):
    _run(guarded, "validation", "--split", "validation")
    _run(guarded, "again", "--split", "validation")
    _run(guarded, "test", "--split", "test")
    same = guarded.cli("compare", guarded.results / "validation", guarded.results / "again", "--resamples", "100")
    other = guarded.cli("compare", guarded.results / "validation", guarded.results / "test", "--resamples", "100")
    assert same.code == other.code == 0
    assert "│ yes" in _row(same.stdout, "taboo")  # the same instances: paired
    assert "│ no" in _row(other.stdout, "taboo")  # the same experiment names, other instances: not paired
    assert not same.stderr and not other.stderr


def test_compare_counts_and_names_unreadable_scores(guarded):
    _run(guarded, "a", "--split", "validation")
    _run(guarded, "b", "--split", "validation")
    victim = sorted((guarded.results / "b").rglob("scores.json"))[0]
    victim.write_text("{truncated")
    result = guarded.cli("compare", guarded.results / "a", guarded.results / "b", "--resamples", "100")
    assert result.code == 0
    assert "INCOMPLETE" in result.stdout
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: {guarded.results / 'b'}: scripted: 1 episodes "
                                                         "left out (1 with unusable scores")
    assert str(victim) in warnings[0]
    assert "│ no" in _row(result.stdout, "taboo")  # 2 against 3 episodes: not paired


@pytest.mark.parametrize("field, value, why", [
    ("Aborted", 2, "'Aborted' is 2, not 0 or 1"),
    ("Aborted", 5, "'Aborted' is 5, not 0 or 1"),
    ("Aborted", -1, "'Aborted' is -1, not 0 or 1"),
    ("Main Score", float("inf"), "'Main Score' is Infinity, not a finite number"),
    ("Main Score", float("-inf"), "'Main Score' is -Infinity, not a finite number"),
])
def test_eval_leaves_out_scores_outside_their_range(guarded, field, value, why):
    _run(guarded, "run", "--split", "validation")
    victim = sorted(guarded.results.rglob("scores.json"))[0]
    record = json.loads(victim.read_text())
    record["episode scores"][field] = value
    victim.write_text(json.dumps(record))
    result = guarded.cli("eval", "-r", guarded.results / "run", "--resamples", "100")
    assert result.code == 0, result.stderr
    assert why in result.stderr and "1 episodes left out" in result.stderr
    table = (guarded.results / "run" / "results.csv").read_text()
    assert "Infinity" not in table and "inf" not in table.lower().replace("info", "")
    played = [line for line in (guarded.results / "run" / "raw.csv").read_text().splitlines() if ",Played," in line]
    assert len(played) == 2 and all(line.endswith((",1", ",0", ",1.0", ",0.0")) for line in played)
    strict = guarded.cli("eval", "-r", guarded.results / "run", "--strict")
    assert strict.code == 1 and why in strict.error_line


@pytest.mark.parametrize("command", [["eval", "-r", "results"], ["compare", "results", "results"]])
def test_a_negative_seed_is_a_usage_error(guarded, command):
    result = guarded.cli(*command, "--seed", "-1")
    assert result.code == 2 and "'--seed'" in result.error_line

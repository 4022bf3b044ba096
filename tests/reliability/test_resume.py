"""Class 3: resuming trusts only records that read as finished episodes of the same instances and settings,
and one results folder has one writer at a time."""

import json
import os
import signal
import subprocess
import time

import pytest

from playpen.testing.server import TestServer
from tests.reliability.conftest import PLAYPEN

RUN = ("run", "-g", "taboo", "-m", "scripted", "--split", "validation", "-N", "3")

DAMAGED = {
    "empty": b"",
    "truncated": b'{"meta": {"game_name": "taboo"}, "episode scores": {"Abor',
    "garbage": b"\x00\xff\xfe garbage",
    "a list": b"[1, 2, 3]",
    "no episode scores": b'{"meta": {}}',
    "scores not an object": b'{"episode scores": [0, 1]}',
}


@pytest.mark.parametrize("damage", DAMAGED)
def test_an_unreadable_scores_file_is_played_again(guarded, damage):
    assert guarded.cli(*RUN, "-r", guarded.results).code == 0
    finished = guarded.finished()
    victim = sorted(guarded.results.rglob("scores.json"))[1]
    victim.write_bytes(DAMAGED[damage])
    assert guarded.cli("eval", "-r", guarded.results).code == 0  # the damaged episode is left out, not a crash
    result = guarded.cli(*RUN, "-r", guarded.results)
    assert result.code == 0, result.stderr
    assert "played 1 episodes, skipped 2 finished" in result.stdout
    assert guarded.finished() == finished  # replayed identically (the scripted model is deterministic)


@pytest.mark.parametrize("change, why", [
    (("--split", "test"), "another instance"),
    (("-T", "0.5"), "other settings"),
    (("-L", "20"), "other settings"),
])
def test_resuming_with_other_instances_or_settings_is_refused(guarded, change, why):
    assert guarded.cli(*RUN, "-r", guarded.results).code == 0
    finished = guarded.finished()
    before = {p: p.stat().st_mtime_ns for p in guarded.results.rglob("*") if p.is_file()}
    result = guarded.cli(*RUN, *change, "-r", guarded.results)
    assert result.code == 1
    line = result.error_line
    assert "3 finished episodes that this run would play differently" in line and why in line
    assert "use another -r folder" in line
    assert guarded.finished() == finished
    assert {p: p.stat().st_mtime_ns for p in guarded.results.rglob("*") if p.is_file() and p.name != ".playpen.lock"} \
        == {p: t for p, t in before.items() if p.name != ".playpen.lock"}


def test_resuming_with_another_instance_file_is_refused(guarded):
    from playpen.games import get_game

    data = json.loads(get_game("taboo").instances_file("validation").read_text())
    data["experiments"][0]["game_instances"][0]["target_word"] = "zebra"
    changed = guarded.write("changed.json", json.dumps(data))
    assert guarded.cli(*RUN, "-r", guarded.results).code == 0
    result = guarded.cli("run", "-g", "taboo", "-m", "scripted", "-i", changed, "-N", "3", "-r", guarded.results)
    assert result.code == 1 and "1 finished episode that" in result.error_line
    assert "0_high_en/episode_0 was played from another instance" in result.error_line


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_runs(guarded):
    with TestServer(latency=0.2, record=False) as server:
        entry = json.dumps({"backend": "openai", "base_url": server.base_url, "model_id": server.model_id,
                            "model_name": "served", "send_request_context": True})
        args = ["run", "-g", "taboo", "-m", entry, "--split", "validation", "-b", "1", "-r", str(guarded.results)]
        first = subprocess.Popen([PLAYPEN, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
        try:
            lock = guarded.results / ".playpen.lock"
            deadline = time.time() + 60
            while not (lock.is_file() and lock.read_text().strip() == str(first.pid)) and time.time() < deadline:
                time.sleep(0.05)
            second = guarded.cli(*args)
            assert second.code == 1
            assert f"another playpen process (pid {first.pid}) is writing to" in second.error_line
        finally:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    # the lock dies with its process: the same command resumes
    with TestServer(record=False) as server:
        entry = json.dumps({"backend": "openai", "base_url": server.base_url, "model_id": server.model_id,
                            "model_name": "served", "send_request_context": True})
        resumed = guarded.cli("run", "-g", "taboo", "-m", entry, "--split", "validation", "-r", guarded.results)
    assert resumed.code == 0, resumed.stderr
    assert len(guarded.finished()) == 12


def test_stale_temporary_files_of_a_killed_run_are_removed(guarded):
    assert guarded.cli(*RUN, "-r", guarded.results).code == 0
    episode = next(guarded.results.rglob("scores.json")).parent
    stale = [episode / ".scores.json.abc123.tmp", episode.parent / ".experiment.json.x1.tmp"]
    for path in stale:
        path.write_text("half")
    assert guarded.cli(*RUN, "-r", guarded.results).code == 0
    assert not any(p.exists() for p in stale)
    eval_stale = guarded.results / ".results.png.x2.tmp"
    eval_stale.write_text("half")
    assert guarded.cli("eval", "-r", guarded.results).code == 0
    assert not eval_stale.exists()

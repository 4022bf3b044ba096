"""Class 6: what eval, score and run write: nothing before a failure, nothing over another tool's files,
whole files only, with the umask's normal mode."""

import json
import os
import shutil
import stat

import pytest


@pytest.fixture
def played(guarded):
    assert guarded.cli("run", "-g", "taboo", "-m", "scripted", "--split", "validation", "-N", "3",
                       "-r", guarded.results).code == 0
    return guarded


def _outputs(folder):
    return {name: (folder / name).read_bytes() for name in ("raw.csv", "results.csv", "results.html", "results.png")
            if (folder / name).exists()}


def test_eval_with_an_unknown_model_writes_nothing(played):
    assert played.cli("eval", "-r", played.results).code == 0
    before = _outputs(played.results)
    result = played.cli("eval", "-r", played.results, "-m", "scriptd")
    assert result.code == 1 and "no scores.json matching -m 'scriptd' found" in result.error_line
    assert _outputs(played.results) == before


def _clembench_run(box):
    """A results folder as clembench leaves it: its records (clem_version 3.2.0) and its own results.csv."""
    for scores in box.results.rglob("scores.json"):
        for name in ("scores.json", "interactions.json"):
            record = json.loads((scores.parent / name).read_text())
            record["meta"]["clem_version"] = "3.2.0"
            (scores.parent / name).write_text(json.dumps(record))
    for name in ("results.csv", "raw.csv"):
        (box.results / name).write_text(f"clembench's own {name}\n")
    box.mark()


def test_eval_on_a_clembench_run_writes_beside_its_files(played):
    _clembench_run(played)
    result = played.cli("eval", "-r", played.results)
    assert result.code == 0 and "wrote ours beside them" in result.stdout
    assert (played.results / "results.csv").read_text() == "clembench's own results.csv\n"
    assert (played.results / "playpen-eval" / "results.csv").read_text().startswith(',"-, clemscore"')
    assert played.cli("eval", "-r", played.results).code == 0  # again: still beside, still untouched
    assert (played.results / "raw.csv").read_text() == "clembench's own raw.csv\n"
    in_place = played.cli("eval", "-r", played.results, "--in-place")
    assert in_place.code == 0 and (played.results / "results.csv").read_text().startswith(',"-, clemscore"')


def test_eval_overwrites_its_own_files_in_place(played):
    assert played.cli("eval", "-r", played.results).code == 0
    assert played.cli("eval", "-r", played.results).code == 0
    assert not (played.results / "playpen-eval").exists()


def test_score_keeps_clembench_scores_unless_in_place(played):
    _clembench_run(played)
    finished = played.finished()
    for scores in played.results.rglob("scores.json"):
        record = json.loads(scores.read_text())
        record["episode scores"]["Main Score"] = 1.0
        scores.write_text(json.dumps(record))
    changed = played.finished()
    result = played.cli("score", "-r", played.results)
    assert result.code == 0 and "3 episodes were recorded by another tool" in result.stderr
    assert "pass --in-place" in result.stderr and played.finished() == changed
    assert played.cli("score", "-r", played.results, "--in-place").code == 0
    assert played.finished() != changed
    assert all(json.loads((played.results / p).read_text())["episode scores"]["Main Score"] == 100
               for p in finished)


def test_transcribe_keeps_clembench_transcripts_unless_in_place(played):
    _clembench_run(played)
    transcripts = sorted(played.results.rglob("transcript.html"))
    for path in transcripts:
        path.write_text("clembench's transcript")
    result = played.cli("transcribe", "-r", played.results)
    assert result.code == 0 and "3 transcripts were written by another tool" in result.stderr
    assert all(p.read_text() == "clembench's transcript" for p in transcripts)
    assert "wrote 3 transcripts" in played.cli("transcribe", "-r", played.results, "--in-place").stdout
    assert all(p.read_text().startswith("<!DOCTYPE html>") for p in transcripts)


def test_written_files_get_the_umask_mode(played):
    old = os.umask(0o027)
    try:
        shutil.rmtree(played.results)
        assert played.cli("run", "-g", "taboo", "-m", "scripted", "--split", "validation", "-N", "1",
                          "-r", played.results).code == 0
        assert played.cli("eval", "-r", played.results).code == 0
    finally:
        os.umask(old)
    files = [p for p in played.results.rglob("*") if p.is_file()]
    assert len(files) >= 10
    # 0o640 = 0o666 less the umask 0o027, what open() gives; mkstemp alone would give 0o600
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o640}


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names open files through /proc")
def test_results_png_is_written_whole(played, monkeypatch):
    import playpen.results.store as store

    assert played.cli("eval", "-r", played.results).code == 0
    before = (played.results / "results.png").read_bytes()
    real_fdopen = os.fdopen

    class DiesHalfWay:
        """A file handle that writes half of what it gets, then the process is 'killed'."""

        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            self.handle.write(data[: len(data) // 2])
            raise KeyboardInterrupt

    def fdopen(fd, *args, **kwargs):
        handle = real_fdopen(fd, *args, **kwargs)
        return DiesHalfWay(handle) if ".results.png." in os.readlink(f"/proc/self/fd/{fd}") else handle

    monkeypatch.setattr(store.os, "fdopen", fdopen)
    (played.results / "scripted" / "taboo" / "0_high_en" / "episode_0" / "scores.json").unlink()  # a new chart
    result = played.cli("eval", "-r", played.results)
    assert result.code == 130 and "interrupted" in result.stderr
    assert (played.results / "results.png").read_bytes() == before  # the old chart, whole
    assert not [p for p in played.results.rglob("*.tmp")]

"""The `playpen` command end to end, as a user runs it (subprocesses)."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PLAYPEN = str(Path(sys.executable).with_name("playpen"))


def playpen(*args, check=True, **kwargs):
    result = subprocess.run([PLAYPEN, *map(str, args)], capture_output=True, text=True, timeout=600, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"playpen {' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}")
    return result


def test_help_is_fast_and_does_not_import_torch():
    start = time.perf_counter()
    playpen("--help")
    assert time.perf_counter() - start < 5  # generous for a loaded CI machine; the benchmark measures it
    heavy = ("torch", "transformers", "openenv", "gradio", "uvicorn", "pettingzoo")
    code = f"import sys, playpen.cli; print([m for m in {heavy!r} if m in sys.modules])"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"


def test_list_games_shows_all_seventeen_and_the_static_tasks_with_domains():
    out = playpen("list", "games").stdout
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in out.splitlines() if line.startswith("│")}
    from playpen.games import game_names

    # the paper's split: its training games are in-domain, the other dialogue games held out
    in_domain = {"taboo", "wordle", "wordle_withclue", "wordle_withcritic", "referencegame", "imagegame", "privateshared"}
    static = {"ifeval", "eqbench", "cladder", "mmlu_pro", "bbh"}
    assert len(game_names()) == 17 + 5
    assert {name: rows.get(name) for name in game_names()} == {
        name: "static" if name in static else "in" if name in in_domain else "out" for name in game_names()}


@pytest.mark.parametrize("args, message", [
    (["run", "-g", "chess", "-m", "scripted"], "unknown game 'chess'"),
    (["run", "-g", "wordle", "-m", "gpt-17"], "gpt-17"),
    (["run", "-g", "wordle", "-m", "scripted", "-i", "/nonexistent.json"], "instance file not found"),
    (["run", "-g", "wordle", "-m", "scripted", "--split", "dev"], "wordle has no split 'dev'"),
    (["run", "-g", "static", "-m", "scripted"], "ships no 'test' instances: pass clembench's instance file with -i"),
    (["eval", "-r", "/nonexistent"], "results folder not found"),
    (["list", "things"], "cannot list 'things'"),
])
def test_bad_input_gets_one_clear_line(tmp_path, args, message):
    result = playpen(*args, "-r" if args[0] == "run" else "", tmp_path, check=False) if args[0] == "run" else \
        playpen(*args, check=False)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreachable_server_fails_clearly(tmp_path):
    entry = json.dumps({"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "model_id": "m", "max_retries": 0})
    result = playpen("run", "-g", "wordle", "-m", entry, "--split", "validation", "-n", "1", "-r", tmp_path, check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "every episode failed" in result.stderr and "127.0.0.1:9" in result.stderr


def test_run_score_eval_transcribe(tmp_path):
    results = tmp_path / "results"
    out = playpen("run", "-g", "wordle,wordle_withclue", "-m", "scripted", "--split", "validation", "-r", results).stdout
    assert "played 12 episodes" in out
    scores = sorted(results.rglob("scores.json"))
    assert len(scores) == 12 and all(p.parts[-5] == "scripted" for p in scores)
    before = {p: json.loads(p.read_text())["episode scores"]["Main Score"] for p in scores}
    assert playpen("run", "-g", "wordle,wordle_withclue", "-m", "scripted", "--split", "validation",
                   "-r", results).stdout.count("skipped 12 finished") == 1
    playpen("score", "-r", results)
    assert {p: json.loads(p.read_text())["episode scores"]["Main Score"] for p in scores} == before
    out = playpen("eval", "-r", results).stdout
    assert "clemscore" in out and (results / "results.csv").is_file() and (results / "results.html").is_file()
    header = (results / "results.csv").read_text().splitlines()[0]
    assert '"wordle, % Played"' in header and '"-, clemscore"' in header
    for transcript in results.rglob("transcript.html"):
        transcript.unlink()
    assert "wrote 12 transcripts" in playpen("transcribe", "-r", results).stdout


def test_two_models_fill_the_roles_in_order(tmp_path):
    playpen("run", "-g", "wordle_withcritic", "-m", "scripted", "-m", "scripted-bad", "--split", "validation",
            "-n", "1", "-r", tmp_path)
    interactions = json.loads(next(tmp_path.rglob("interactions.json")).read_text())
    assert next(tmp_path.iterdir()).name == "scripted--scripted-bad"
    assert interactions["players"]["Player 1"]["model_name"] == "scripted"
    assert interactions["players"]["Player 2"]["model_name"] == "scripted-bad"


def _episode_scores(results: Path) -> dict[str, float]:
    return {str(p.relative_to(results).parent): json.loads(p.read_text())["episode scores"]["Main Score"]
            for p in results.rglob("scores.json")}


def test_resume_after_sigkill_gives_the_same_results(tmp_path):
    from playpen.testing.server import TestServer

    with TestServer(latency=0.03, record=False) as server:
        entry = json.dumps({"backend": "openai", "base_url": server.base_url, "model_id": server.model_id,
                            "model_name": "served", "send_request_context": True})
        args = ["run", "-g", "wordle", "-m", entry, "--split", "test", "-b", "1"]
        reference = tmp_path / "reference"
        playpen(*args, "-r", reference)
        killed = tmp_path / "killed"
        process = subprocess.Popen([PLAYPEN, *args, "-r", str(killed)], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 120
        while len(list(killed.rglob("scores.json"))) < 5 and time.time() < deadline:
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        interrupted = len(list(killed.rglob("scores.json")))
        assert 5 <= interrupted < 30
        out = playpen(*args, "-r", killed).stdout
        assert f"skipped {interrupted} finished" in out or f"resuming: {interrupted}" in out
    assert _episode_scores(killed) == _episode_scores(reference)
    assert len(_episode_scores(reference)) == 30


def test_run_uses_the_entrys_generation_settings_unless_given(tmp_path):
    (tmp_path / "playpen_models.json").write_text(json.dumps(
        {"warm-scripted": {"backend": "scripted", "temperature": 0.7, "max_tokens": 42}, "plain": {"backend": "scripted"}}))

    def gen_args(results, *args):
        playpen("run", "-g", "wordle", "-m", *args, "--split", "validation", "-n", "1", "-r", results, cwd=tmp_path)
        record = json.loads(next((tmp_path / results).rglob("interactions.json")).read_text())
        return record["player_models"]["0"]["gen_args"]

    assert gen_args("entry", "warm-scripted") == {"temperature": 0.7, "max_tokens": 42}
    assert gen_args("given", "warm-scripted", "-L", "64") == {"temperature": 0.7, "max_tokens": 64}
    assert gen_args("defaults", "plain") == {"temperature": 0.0, "max_tokens": 300}


def test_per_game_limit_spreads_over_experiments(tmp_path):
    playpen("run", "-g", "taboo", "-m", "scripted", "--split", "validation", "-N", "4", "-r", tmp_path)
    experiments = sorted(p.parents[1].name for p in tmp_path.rglob("scores.json"))
    assert experiments == ["0_high_en", "0_high_en", "1_medium_en", "2_low_en"]


@pytest.mark.model
def test_embedded_model_plays_through_the_cli(embedded_model_dir, tmp_path):
    playpen("run", "-g", "referencegame,taboo", "-m", "smollm2-135m", "--split", "validation", "-N", "2",
            "-L", "16", "-b", "4", "-r", tmp_path)
    scores = list(tmp_path.rglob("scores.json"))
    assert len(scores) == 4 and all(p.parts[-5] == "smollm2-135m" for p in scores)
    interactions = json.loads(next(tmp_path.rglob("interactions.json")).read_text())
    assert interactions["players"]["Player 1"]["model_name"] == "smollm2-135m"
    replies = [e for r in interactions["turns"] for e in r if e["action"]["type"] == "get message"]
    assert replies and all(isinstance(e["action"]["content"], str) for e in replies)
    assert "clemscore" in playpen("eval", "-r", tmp_path).stdout


def test_eval_writes_intervals_and_compare_tells_a_real_gain_from_none(tmp_path):
    """The competent vs the sloppy scripted follower on the same 90 referencegame test episodes."""
    import csv

    wide = {**os.environ, "COLUMNS": "200"}  # rich wraps tables to the terminal's width
    runs = {}
    for name, follower in (("good", "scripted"), ("sloppy", "scripted-bad")):
        runs[name] = tmp_path / name
        playpen("run", "-g", "referencegame", "-m", "scripted", "-m", follower, "--split", "test", "-r", runs[name])
        out = playpen("eval", "-r", runs[name], "--resamples", "500", env=wide).stdout
        assert "95 % CI" in out and re.search(r"clemscore \d+\.\d\d +│ \[\d+\.\d\d, \d+\.\d\d\]", out)
    with open(runs["sloppy"] / "results_ci.csv", newline="") as handle:
        rows = {(r["scope"], r["game"], r["figure"]): r for r in csv.DictReader(handle)}
    quality = rows[("in", "referencegame", "quality")]  # the sloppy follower answers at random
    assert int(quality["episodes"]) == 90
    assert float(quality["ci95_low"]) < float(quality["estimate"]) < float(quality["ci95_high"])

    gain = playpen("compare", runs["sloppy"], runs["good"], "--resamples", "500", env=wide).stdout
    line = next(line for line in gain.splitlines() if "referencegame" in line)
    assert "yes" in line.split("│")[2] and line.rstrip("│ ").endswith("yes")  # paired, significant
    same = playpen("compare", runs["good"], runs["good"], "--resamples", "500", env=wide).stdout
    line = next(line for line in same.splitlines() if "referencegame" in line)
    assert line.rstrip("│ ").endswith("no")
    missing = playpen("compare", runs["good"], tmp_path / "nowhere", check=False)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    # several seeds: BEFORE... AFTER..., paired by position (each run counted twice here): the mean change
    seeds = playpen("compare", runs["sloppy"], runs["sloppy"], runs["good"], runs["good"], "--resamples", "500",
                    env=wide).stdout
    assert "2 seeds, paired by position" in seeds
    line = next(line for line in seeds.splitlines() if "referencegame" in line)
    assert line.rstrip("│ ").endswith("yes")
    odd = playpen("compare", runs["good"], runs["good"], runs["good"], check=False)
    assert odd.returncode == 1 and "as many of each (one per seed); got 3 folder(s)" in odd.stderr


def test_serve_refuses_a_missing_partner_and_a_foreign_role_in_one_line(tmp_path):
    result = playpen("serve", "-g", "taboo", "--role", "WordGuesser", "-p", "WordGuesser=scripted", "-r", tmp_path,
                     check=False)
    assert result.returncode == 1 and result.stderr.strip().splitlines() == [
        "error: taboo: role WordDescriber needs a partner (--partner scripted, or --partner WordDescriber=<alias>; "
        "see `playpen list models`)"]
    result = playpen("serve", "-g", "taboo", "--role", "Judge", "-p", "scripted", "-r", tmp_path, check=False)
    assert result.returncode == 1 and "no role 'Judge'" in result.stderr and "Traceback" not in result.stderr


def test_serve_answers_on_127_0_0_1_until_interrupted(tmp_path):
    pytest.importorskip("openenv")
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([PLAYPEN, "serve", "-g", "wordle", "--split", "validation", "-r", str(tmp_path),
                               "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180  # a busy 2-core machine starts it in seconds to minutes
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as answer:
                    assert json.load(answer)["status"] == "healthy"
                break
            except OSError:
                if server.poll() is not None or time.monotonic() >= deadline:
                    server.kill()  # reading a live server's stderr would wait for it forever
                    pytest.fail(f"the server never answered: {server.communicate(timeout=30)[1]}")
                time.sleep(0.2)
        with socket.socket() as other:  # bound to the loopback address only
            address = socket.gethostbyname(socket.gethostname())
            if not address.startswith("127."):
                assert other.connect_ex((address, port)) != 0
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    assert "serving wordle: WordGuesser" in out and (tmp_path / ".playpen.lock").exists()

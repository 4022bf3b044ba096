"""Class 5: damaged results files, wrong registry values, invalid options and file-system failures give one
``error:`` line (or a warning naming the file) and a non-zero exit status, never a traceback."""

import json
import os
import resource
import shutil
import signal
import subprocess
import sys

import pytest

from tests.reliability.conftest import PLAYPEN


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A small finished run (taboo, 2 episodes, scripted), made once and copied into every test."""
    folder = tmp_path_factory.mktemp("recorded") / "results"
    subprocess.run([PLAYPEN, "run", "-g", "taboo", "-m", "scripted", "--split", "validation", "-N", "2",
                    "-r", str(folder)], check=True, capture_output=True)
    return folder


def _reshape(text: str, how: str) -> str:
    data = json.loads(text)
    if how == "values are numbers":
        return json.dumps({key: 7 for key in data})
    if how == "values are lists":
        return json.dumps({key: [value] for key, value in data.items()})
    return json.dumps({key: (str(value) if isinstance(value, (dict, list)) else value) for key, value in data.items()})


DAMAGES = {
    "empty": lambda text: b"",
    "truncated": lambda text: text.encode()[: len(text) // 2],
    "not UTF-8": lambda text: b"\xff\xfe" + text.encode("utf-16-le"),
    "nested too deeply": lambda text: b"[" * 200_000,
    "a list": lambda text: b"[]",
    "values are numbers": lambda text: _reshape(text, "values are numbers").encode(),
    "values are lists": lambda text: _reshape(text, "values are lists").encode(),
    "values are strings": lambda text: _reshape(text, "values are strings").encode(),
    "a FIFO": None,
}
FILES = ["scores.json", "interactions.json", "instance.json", "experiment.json"]
COMMANDS = {
    "eval": lambda box: ("eval", "-r", box.results),
    "score": lambda box: ("score", "-r", box.results),
    "transcribe": lambda box: ("transcribe", "-r", box.results),
    "verify": lambda box: ("verify", box.results),
    "data sft": lambda box: ("data", "sft", box.results, "-o", box.work / "sft.jsonl", "--outcome", "success"),
    "data dpo": lambda box: ("data", "dpo", box.results, "-o", box.work / "dpo.jsonl"),
    "replay": lambda box: ("run", "-g", "taboo", "-m", f"replay:{box.results / 'scripted'}", "--split",
                           "validation", "-N", "2", "-r", box.work / "replayed"),
}


def _damage(box, recorded, file: str, damage: str):
    shutil.copytree(recorded, box.results)
    victim = sorted(box.results.rglob(file))[0]
    if damage == "a FIFO":
        victim.unlink()
        os.mkfifo(victim)
    else:
        victim.write_bytes(DAMAGES[damage](victim.read_text()))
    box.mark()
    return victim


@pytest.mark.timeout(120)
@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("file", FILES)
@pytest.mark.parametrize("command", COMMANDS)
def test_damaged_results_files(sandbox, recorded, command, file, damage):
    victim = _damage(sandbox, recorded, file, damage)
    others = {k: v for k, v in sandbox.finished().items() if k != str(victim.relative_to(sandbox.results))}
    result = sandbox.cli(*COMMANDS[command](sandbox))  # asserts that no traceback was printed
    assert result.code in (0, 1), result.stderr
    if result.code == 1:
        assert str(victim) in result.error_line or command == "replay" and "replay" in result.error_line
    elif command == "eval" and file == "scores.json":
        assert f"warning: scripted: 1 episodes left out (1 with unusable scores; e.g. {victim}" in result.stderr
    after = sandbox.finished()
    assert all(after.get(k) == v for k, v in others.items())  # nothing finished was lost
    sandbox.check_outside("work/sft.jsonl", "work/dpo.jsonl", "work/replayed/")  # the commands' own outputs


@pytest.mark.parametrize("entry, message", [
    ({"backend": 5}, "unknown backend '5'"),
    ({"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "max_concurrency": "lots"},
     '"max_concurrency" must be a whole number (got "lots")'),
    ({"backend": "openai"}, "the openai backend needs 'base_url'"),
    ({"backend": "openai", "base_url": 5}, '"base_url" must be a string (got 5)'),
    ({"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "timeout": "soon"}, '"timeout" must be a number'),
    ({"backend": "scripted", "skill": ["competent"]}, '"skill" must be a string'),
    ({"backend": "scripted", "seed": 1.5}, '"seed" must be a whole number'),
    ({"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "bogus": 1}, "unknown setting(s) bogus"),
    ("not an entry", 'needs a "backend"'),
    ({"backend": "scripted", "model_name": 5}, '"model_name" must be a string (got 5)'),
    ({"backend": "scripted", "temperature": "hot"}, '"temperature" must be a number (got "hot")'),
    ({"backend": "huggingface", "path": 5}, '"path" must be a string or a path (got 5)'),
    ({"backend": "replay", "path": 5}, 'a replay entry needs "path"'),
])
def test_wrong_registry_values(guarded, entry, message):
    guarded.registry({"broken": entry})
    result = guarded.cli("run", "-g", "taboo", "-m", "broken", "-r", guarded.results)
    assert result.code == 1 and message in result.error_line
    assert not guarded.results.exists()
    listing = guarded.cli("list", "models")
    assert listing.code in (0, 1) and (listing.code == 0 or message in listing.error_line)


def test_a_damaged_registry_file_names_itself(guarded):
    path = guarded.write("playpen_models.json", "{not json")
    result = guarded.cli("list", "models")
    assert result.code == 1 and str(path) in result.error_line


@pytest.mark.parametrize("args, option", [
    (["run", "-g", "taboo", "-m", "scripted", "-b", "0"], "'--batch-size' / '-b'"),
    (["run", "-g", "taboo", "-m", "scripted", "-b", "-5"], "'--batch-size' / '-b'"),
    (["run", "-g", "taboo", "-m", "scripted", "-N", "-3"], "'--per-game' / '-N'"),
    (["run", "-g", "taboo", "-m", "scripted", "-n", "-1"], "'--per-experiment' / '-n'"),
    (["run", "-g", "taboo", "-m", "scripted", "-L", "0"], "'--max-tokens' / '-L'"),
    (["run", "-g", "taboo", "-m", "scripted", "-T", "-1"], "'--temperature' / '-T'"),
    (["run", "-g", "taboo", "-m", "scripted", "-b", "many"], "'--batch-size' / '-b'"),
    (["data", "sft", "results", "-o", "x.jsonl", "--holdout", "2"], "'--holdout'"),
    (["data", "dpo", "results", "-o", "x.jsonl", "--holdout", "-0.5"], "'--holdout'"),
    (["bench", "rollout", "--requests", "0"], "'--requests'"),
    (["bench", "rollout", "--concurrency", "0"], "'--concurrency'"),
    (["check", "--episodes", "0"], "'--episodes'"),
    (["run", "-g", "taboo"], "Missing option '--model'"),
    (["run", "-g", "taboo", "-m", "scripted", "--frobnicate"], "no such option --frobnicate; accepted: --game, --model"),
])
def test_invalid_options(guarded, args, option):
    result = guarded.cli(*args)
    assert result.code == 2 and option in result.error_line and "--help" in result.error_line
    assert not guarded.results.exists()


@pytest.mark.parametrize("command", [["run", "-g", "taboo", "-m", "scripted", "-N", "1"], ["eval"], ["score"],
                                     ["transcribe"]])
def test_results_option_naming_a_file(guarded, command):
    guarded.results.parent.mkdir(exist_ok=True)
    guarded.results.write_text("I am a file")
    guarded.mark()
    result = guarded.cli(*command, "-r", guarded.results)
    assert result.code == 1 and str(guarded.results) in result.error_line
    assert guarded.results.read_text() == "I am a file"


def test_results_folder_below_a_file(guarded):
    (guarded.work / "plain").write_text("x")
    guarded.mark()
    result = guarded.cli("run", "-g", "taboo", "-m", "scripted", "-N", "1", "-r", guarded.work / "plain" / "results")
    assert result.code == 1 and "Not a directory" in result.error_line


def _limited_file_size(limit: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.parametrize("limit", [0, 3000])
def test_a_full_disk_errors_every_episode_with_one_line(tmp_path, limit):
    # RLIMIT_FSIZE makes every write past `limit` bytes fail (EFBIG), as a full disk fails with ENOSPC
    results = tmp_path / "results"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PLAYPEN_HOME": str(tmp_path / "home")}
    run = subprocess.run([PLAYPEN, "run", "-g", "taboo", "-m", "scripted", "--split", "validation", "-N", "3",
                          "-r", str(results)], capture_output=True, text=True, timeout=300, env=env,
                         preexec_fn=_limited_file_size(limit), cwd=tmp_path)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 1 and len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert "every episode failed" in lines[0] and "File too large" in lines[0]
    assert not list(results.rglob("scores.json"))


def test_eval_on_a_full_disk_is_one_line(tmp_path, recorded):
    results = tmp_path / "results"
    shutil.copytree(recorded, results)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "MPLCONFIGDIR": str(tmp_path / "mpl")}
    run = subprocess.run([PLAYPEN, "eval", "-r", str(results)], capture_output=True, text=True, timeout=300,
                         env=env, preexec_fn=_limited_file_size(2000))
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith("error: File too large (")
    assert sorted(p.name for p in results.iterdir()) == ["scripted"] or not any(
        p.name.endswith(".tmp") for p in results.rglob("*"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_results_folder_is_one_line(guarded):
    guarded.results.mkdir()
    guarded.results.chmod(0o555)
    try:
        result = guarded.cli("run", "-g", "taboo", "-m", "scripted", "-N", "1", "-r", guarded.results)
    finally:
        guarded.results.chmod(0o755)
    assert result.code == 1 and "Permission denied" in result.error_line


def test_main_module_matches_the_command():
    result = subprocess.run([sys.executable, "-m", "playpen.cli", "run", "-g", "taboo", "-m", "scripted", "-b", "0"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.startswith("error: Invalid value for '--batch-size'")


@pytest.mark.parametrize("args, message", [
    (["run", "-g", "taboo", "-m", '{"backend": "scripted", "skill": "nope"}'], "unknown skill 'nope'"),
    (["run", "-g", "taboo", "-m", '{"alias": 5}'], "\"alias\" must be a string"),
    (["run", "-g", "taboo", "-m", "{"], "cannot parse the model entry"),
    (["run", "-g", "taboo", "-m", "replay:/nonexistent"], "results folder not found: /nonexistent"),
    (["run", "-g", "taboo", "-m", "scripted", "-i", "."], "holds no instances for taboo"),
    (["run", "-g", "taboo", "-m", "scripted", "-r", "/dev/null"], "/dev/null is not a folder"),
    (["train", "grpo", "-m", "scripted", "-o", "out", "-c", "bad.json"], "bad.json: not a valid json file"),
    (["train", "grpo", "-m", "scripted", "-o", "out", "--weight", "taboo=abc"], "--weights: 'abc' is not a number"),
    (["generate", "-g", "taboo", "-o", "/proc/playpen"], "(/proc/playpen"),
])
def test_hostile_arguments(guarded, args, message):
    guarded.write("bad.json", "{garbage")
    result = guarded.cli(*args)
    assert result.code == 1 and message in result.error_line

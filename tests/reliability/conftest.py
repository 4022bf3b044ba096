"""Shared pieces of the reliability tests: the CLI run as a user runs it, a sandbox, file snapshots.

Every test drives ``playpen`` through its entry point (``playpen.cli.main``, in this process so that a
hundred cases stay fast; a few tests that need a second process use the installed command) and checks what a
user sees: the exit status, one ``error: ...`` line on stderr, and the files on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PLAYPEN = str(Path(sys.executable).with_name("playpen"))


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def error_line(self) -> str:
        """The one ``error:`` line a failure must print (asserts that there is exactly one stderr line)."""
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), f"expected one error line, got:\n{self.stderr}"
        return lines[0]


class Sandbox:
    """``root/work`` is the working directory, ``root/work/results`` the results folder, ``root/outside`` holds a
    file that no command may touch, ``root/home`` is $PLAYPEN_HOME (no user registry)."""

    def __init__(self, root: Path, capsys):
        self.root = root
        self.work = root / "work"
        self.results = self.work / "results"
        self.outside = root / "outside"
        for folder in (self.work, self.outside, root / "home"):
            folder.mkdir(parents=True, exist_ok=True)
        (self.outside / "keep.txt").write_text("untouched\n")
        self._capsys = capsys
        self.mark()

    def cli(self, *args) -> Outcome:
        from playpen.cli import main

        self._capsys.readouterr()
        saved = sys.argv
        sys.argv = ["playpen", *map(str, args)]
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        finally:
            sys.argv = saved
        captured = self._capsys.readouterr()
        assert "Traceback" not in captured.err and "Traceback" not in captured.out
        return Outcome(code, captured.out, captured.err)

    def outside_snapshot(self) -> dict[str, str]:
        """Every file of the sandbox that is not in the results folder (path -> sha256)."""
        return {str(p.relative_to(self.root)): _sha(p) for p in sorted(self.root.rglob("*"))
                if p.is_file() and self.results not in p.parents}

    def finished(self) -> dict[str, str]:
        """Every finished episode of the results folder (scores.json path -> sha256)."""
        return {str(p.relative_to(self.results)): _sha(p) for p in sorted(self.results.rglob("scores.json")) if p.is_file()}

    def write(self, name: str, text: str | bytes) -> Path:
        """An input file in the working directory (taken into the outside baseline)."""
        path = self.work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        self.mark()
        return path

    def registry(self, entries: dict) -> Path:
        return self.write("playpen_models.json", json.dumps(entries))

    def mark(self) -> None:
        self._baseline = self.outside_snapshot()

    def check_outside(self, *allowed: str) -> None:
        """Nothing outside the results folder changed, except below the ``allowed`` paths (relative to root)."""
        def kept(snapshot):
            return {k: v for k, v in snapshot.items() if not k.startswith(allowed)} if allowed else snapshot

        assert kept(self.outside_snapshot()) == kept(self._baseline), "a file outside the results folder changed"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def sandbox(tmp_path, capsys, monkeypatch) -> Sandbox:
    box = Sandbox(tmp_path, capsys)
    monkeypatch.setenv("PLAYPEN_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(box.work)
    return box


@pytest.fixture
def guarded(sandbox):
    """The sandbox, checked after the test: nothing outside the results folder changed."""
    yield sandbox
    sandbox.check_outside()


#: a small experiment that loads no model: scripted base, no training method (data and base stages only)
EXPERIMENT_RECIPE = """base = "scripted"
games = ["wordle"]
ood_games = ["taboo"]
methods = []
seeds = [0]
eval_per_experiment = 1
ood_per_experiment = 1
"""


@pytest.fixture(scope="session")
def finished_experiment(tmp_path_factory) -> Path:
    """A finished experiment (data + base stages), made once through the command and copied by each test."""
    root = tmp_path_factory.mktemp("experiment")
    (root / "recipe.toml").write_text(EXPERIMENT_RECIPE)
    env = {**os.environ, "PLAYPEN_HOME": str(root / "home")}
    done = subprocess.run([sys.executable, "-m", "playpen.cli", "experiment", "-o", "exp", "-c", "recipe.toml"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return root / "exp"


@pytest.fixture
def experiment(guarded, finished_experiment) -> Path:
    """A copy of the finished experiment in the sandbox's results folder."""
    folder = guarded.results / "exp"
    shutil.copytree(finished_experiment, folder, symlinks=True)
    return folder

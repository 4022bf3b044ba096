import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

PROJECT = Path(__file__).resolve().parents[1]
SHARED = PROJECT.parent / "shared"
FIXTURES = SHARED / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """``../shared/fixtures`` (real clembench data); tests using it skip when it is absent."""
    if not FIXTURES.is_dir():
        pytest.skip("../shared/fixtures is absent (clembench fixtures are only on the developers' machines)")
    return FIXTURES


@pytest.fixture(scope="session")
def clembench_runs(fixtures_dir) -> list[Path]:
    return sorted(p for p in (fixtures_dir / "clembench-runs").iterdir() if p.is_dir())


@pytest.fixture(scope="session")
def clembench_instances(fixtures_dir) -> Path:
    return fixtures_dir / "clembench-instances"


@pytest.fixture(scope="session")
def embedded_model_dir():
    """The converted embedded model (converted once, then cached in $PLAYPEN_CACHE or ~/.cache/playpen)."""
    from playpen.models.embedded import prepare_embedded_model

    return prepare_embedded_model()


@pytest.fixture
def isolated_registry(tmp_path, monkeypatch):
    """No user or working-directory registry files except the ones a test writes."""
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("PLAYPEN_HOME", str(home))
    monkeypatch.chdir(work)
    return home, work

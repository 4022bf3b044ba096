"""The model registry: aliases, user/working-directory files, paths, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from playpen.core.errors import PlaypenError
from playpen.models import registry
from playpen.models.base import GenerationSettings
from playpen.models.human import HumanModel
from playpen.models.openai_compat import OpenAICompatibleModel
from playpen.models.replay import ReplayModel
from playpen.models.scripted import ScriptedModel


@pytest.fixture
def fake_hf(monkeypatch):
    """Replace the HF backend by a recorder (these tests route, they do not load weights)."""
    import playpen.models.huggingface as hf

    calls = []

    class Recorder:
        def __init__(
            self,
            path=None,
            *,
            settings=None,
            name=None,
            base=None,
            dtype=None,
            device=None,
            context_size=None,
            threads=None,
            chat_template=None,
            max_batch_size=None,
            top_p=None,
            seed=None,
            model=None,
            tokenizer=None,
        ):
            calls.append({"path": path, "name": name, "device": device, "context_size": context_size, "base": base})
            self.name, self.settings = name, settings

    monkeypatch.setattr(hf, "HuggingFaceModel", Recorder)
    return calls


def test_packaged_aliases(isolated_registry):
    rows = {row["name"]: row for row in registry.list_models()}
    assert {"smollm2-135m", "scripted", "scripted-bad", "human", "vllm-local"} <= set(rows)
    assert rows["smollm2-135m"]["backend"] == "huggingface" and rows["smollm2-135m"]["source"] == "packaged"
    assert rows["vllm-local"]["base_url"] == "http://127.0.0.1:8000/v1" and rows["vllm-local"]["api_key_env"]
    assert all(row["description"] for row in rows.values())


def test_programmatic_aliases_load(isolated_registry):
    scripted = registry.load_model("scripted")
    assert isinstance(scripted, ScriptedModel) and scripted.skill == "competent" and scripted.name == "scripted"
    assert registry.load_model("scripted-bad").skill == "bad"
    assert isinstance(registry.load_model("human"), HumanModel)
    settings = GenerationSettings(temperature=0.5, max_tokens=7)
    server = registry.load_model("vllm-local", settings)
    assert isinstance(server, OpenAICompatibleModel) and server.name == "vllm-local"
    assert server.settings is settings and server.base_url == "http://127.0.0.1:8000/v1"


def test_user_and_cwd_files_override(isolated_registry, monkeypatch):
    home, work = isolated_registry
    (home / "models.json").write_text(
        json.dumps(
            {
                "vllm-local": {"backend": "openai", "base_url": "http://10.0.0.1:9000/v1", "model_id": "big"},
                "mine": {"backend": "scripted", "skill": "bad"},
                "_comment": "ignored",
            }
        )
    )
    (work / "playpen_models.json").write_text(json.dumps({"mine": {"backend": "scripted", "skill": "competent"}}))
    rows = {row["name"]: row for row in registry.list_models()}
    assert rows["vllm-local"]["base_url"] == "http://10.0.0.1:9000/v1"
    assert rows["vllm-local"]["source"] == str(home / "models.json")
    assert rows["mine"]["source"] == str(work / "playpen_models.json")
    assert "_comment" not in rows
    assert registry.load_model("mine").skill == "competent"  # the working directory wins
    assert registry.load_model("vllm-local").model_id == "big"


def test_xdg_user_file(tmp_path, monkeypatch):
    monkeypatch.delenv("PLAYPEN_HOME", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert registry.user_file() == tmp_path / "playpen" / "models.json"


def test_unknown_alias_lists_the_known_ones(isolated_registry):
    with pytest.raises(PlaypenError) as error:
        registry.load_model("gpt-17")
    assert "unknown model 'gpt-17'" in str(error.value) and "smollm2-135m" in str(error.value)
    with pytest.raises(PlaypenError, match="model folder not found"):
        registry.load_model("./no/such/folder")


def test_bad_entries(isolated_registry):
    home, _ = isolated_registry
    (home / "models.json").write_text(
        json.dumps({"typo": {"backend": "scripted", "skil": "bad"}, "weird": {"backend": "carrier-pigeon"}})
    )
    with pytest.raises(PlaypenError, match="unknown setting.*skil"):
        registry.load_model("typo")
    with pytest.raises(PlaypenError, match="unknown backend"):
        registry.load_model("weird")
    (home / "models.json").write_text(json.dumps({"x": {"path": "/tmp"}}))
    with pytest.raises(PlaypenError, match='needs a "backend"'):
        registry.list_models()
    (home / "models.json").write_text("{not json")
    with pytest.raises(PlaypenError, match="cannot read"):
        registry.list_models()


def test_paths_go_to_the_hf_backend(isolated_registry, tmp_path, fake_hf):
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text("{}")
    adapter = tmp_path / "lora"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    model = registry.load_model(str(checkpoint), device="cpu")
    assert fake_hf[-1]["path"] == str(checkpoint) and fake_hf[-1]["device"] == "cpu" and model.name == "ckpt"
    registry.load_model(str(adapter))
    assert fake_hf[-1]["path"] == str(adapter)
    with pytest.raises(PlaypenError, match="neither a transformers checkpoint"):
        registry.load_model(str(tmp_path))
    registry.load_model("smollm2-135m")  # embedded: no path, the backend prepares the embedded model
    assert fake_hf[-1]["path"] is None and fake_hf[-1]["context_size"] == 8192 and fake_hf[-1]["name"] == "smollm2-135m"


def test_register_model_and_relative_paths(isolated_registry, tmp_path, fake_hf):
    home, work = isolated_registry
    checkpoint = work / "out" / "sft"
    checkpoint.mkdir(parents=True)
    (checkpoint / "config.json").write_text("{}")
    written = registry.register_model(
        "my-sft", {"backend": "huggingface", "path": "out/sft", "trained_from": "smollm2-135m"}
    )
    assert written == home / "models.json"
    stored = json.loads(written.read_text())["my-sft"]
    assert stored["path"] == str(checkpoint.resolve())  # made absolute
    registry.load_model("my-sft")
    assert fake_hf[-1]["path"] == str(checkpoint.resolve()) and fake_hf[-1]["name"] == "my-sft"
    registry.register_model("other", {"backend": "scripted"})
    assert set(json.loads(written.read_text())) == {"my-sft", "other"}  # existing entries kept
    # a relative path in a registry file is relative to that file
    (work / "playpen_models.json").write_text(json.dumps({"rel": {"backend": "huggingface", "path": "out/sft"}}))
    registry.load_model("rel")
    assert fake_hf[-1]["path"] == str(checkpoint)
    with pytest.raises(PlaypenError, match="invalid model alias"):
        registry.register_model("a b", {"backend": "scripted"})
    with pytest.raises(PlaypenError, match="backend"):
        registry.register_model("nob", {"path": "x"})
    explicit = registry.register_model("third", {"backend": "human"}, path=tmp_path / "custom.json")
    assert explicit == tmp_path / "custom.json" and "third" in json.loads(explicit.read_text())


def test_inline_entries_and_replay_prefix(isolated_registry, tmp_path):
    model = registry.load_model('{"backend": "openai", "base_url": "http://127.0.0.1:1/v1", "model_id": "m"}')
    assert isinstance(model, OpenAICompatibleModel) and model.name == "m"
    model = registry.load_model('{"alias": "vllm-local", "base_url": "http://127.0.0.1:2/v1"}')
    assert model.base_url == "http://127.0.0.1:2/v1" and model.api_key_env == "VLLM_API_KEY"
    with pytest.raises(PlaypenError, match="cannot parse"):
        registry.load_model("{oops")
    episode = tmp_path / "run" / "fakegame" / "0_x" / "episode_0"
    episode.mkdir(parents=True)
    (episode / "interactions.json").write_text(
        json.dumps(
            {
                "players": {"Player 1": {"game_role": "A"}},
                "turns": [[{"from": "Player 1", "to": "GM", "action": {"type": "get message", "content": "hello"}}]],
            }
        )
    )
    replay = registry.load_model(f"replay:{tmp_path / 'run'}")
    assert isinstance(replay, ReplayModel) and "fakegame/0_x/episode_0" in replay.replies


def test_listing_models_imports_no_torch(tmp_path):
    code = (
        "import sys; from playpen.models.registry import list_models; rows = list_models(); "
        "assert rows; bad = [m for m in ('torch', 'transformers', 'peft') if m in sys.modules]; "
        "assert not bad, bad; print(len(rows))"
    )
    env = {"PLAYPEN_HOME": str(tmp_path), "PATH": "", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr

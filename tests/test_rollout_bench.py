"""``playpen bench rollout``: Playpen and the baselines against one local server, in a short run."""

import json
import subprocess
import sys

import pytest

from playpen.core.errors import PlaypenError
from playpen.testing.bench import bench_rollout, format_figures


def test_playpen_and_the_bare_loop_take_turns(monkeypatch):
    monkeypatch.setitem(sys.modules, "openai", None)  # as if the openai package were not installed
    figures = bench_rollout("taboo", latency_ms=5, concurrency=4, requests=24, repeats=2)
    assert [r["client"] for r in figures["runs"]] == ["playpen", "raw", "raw", "playpen"]
    assert all(r["errors"] == 0 and r["requests"] >= 24 and r["cpu_ms_per_request"] > 0 for r in figures["runs"])
    assert set(figures["summary"]) == {"playpen", "raw"}
    assert figures["ideal_requests_per_s"] == 800 and figures["requests_per_episode"] >= 1
    assert 0 < figures["playpen_vs_raw"] and 0 < figures["summary"]["raw"]["of_ideal"] <= 1.05
    assert figures["notes"] == ["openai client skipped: the openai package is not installed (pip install openai)"]
    text = "\n".join(format_figures(figures))
    assert "ideal 800 requests/s" in text and "playpen / raw (a bare aiohttp loop, same rounds)" in text
    assert "note: openai client skipped" in text
    json.dumps(figures)  # the CLI's last line


def test_unknown_client_is_a_user_error():
    with pytest.raises(PlaypenError, match="unknown client fast .*choose from playpen, raw, openai"):
        bench_rollout(clients=("raw", "fast"))


def test_command_prints_the_ratio_and_json():
    result = subprocess.run([sys.executable, "-m", "playpen.cli", "bench", "rollout", "--client", "raw",
                             "--concurrency", "2", "--requests", "8", "--repeats", "1", "--latency-ms", "5"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert list(figures["summary"]) == ["raw"] and figures["runs"][0]["requests"] == 8
    assert any(line.startswith("raw ") for line in lines) and "playpen_vs_raw" not in figures

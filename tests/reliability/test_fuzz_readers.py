"""A hypothesis fuzz of every results reader: damaged, truncated and wrongly shaped records give a
``PlaypenError`` (one line at the CLI) or are left out, never another exception; and no undamaged finished
episode changes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playpen.core.errors import PlaypenError
from playpen.core.instances import iter_rows, load_instances
from playpen.games import get_game

COUNTS: Counter = Counter()
FILES = ("scores.json", "interactions.json", "instance.json", "experiment.json")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """Two finished taboo episodes, written by the run planner like `playpen run` writes them."""
    from playpen.models.scripted import ScriptedModel
    from playpen.rollout.planner import run_benchmark

    spec = get_game("taboo")
    rows = list(iter_rows("taboo", load_instances(spec.instances_file("validation"))))[:2]
    folder = tmp_path_factory.mktemp("fuzz") / "results"
    run_benchmark([spec], [ScriptedModel()], folder, lambda _: rows)
    assert len(list(folder.rglob("scores.json"))) == 2
    return folder


def _mutate(data, draw):
    """``data`` with one value somewhere inside replaced by arbitrary JSON, or one key removed."""
    if not isinstance(data, (dict, list)) or not data or draw(st.integers(0, 3)) == 0:
        return draw(json_values)
    key = draw(st.sampled_from(sorted(data) if isinstance(data, dict) else range(len(data))))
    if isinstance(data, dict) and draw(st.integers(0, 4)) == 0:
        return {k: v for k, v in data.items() if k != key}
    copy = dict(data) if isinstance(data, dict) else list(data)
    copy[key] = _mutate(copy[key], draw)
    return copy


@st.composite
def damages(draw):
    file = draw(st.sampled_from(FILES))
    kind = draw(st.sampled_from(["mutated", "replaced", "truncated", "bytes"]))
    return file, kind, draw(st.randoms(use_true_random=False))


def _readers(root: Path, out: Path):
    from playpen.data.datasets import dpo_rows, sft_rows
    from playpen.data.episodes import read_perspectives
    from playpen.eval.report import run_evaluation
    from playpen.eval.rescore import rescore
    from playpen.eval.verify import verify
    from playpen.models.replay import load_results
    from playpen.results.store import ResultsStore
    from playpen.results.store import build_transcripts

    rows = list(iter_rows("taboo", load_instances(get_game("taboo").instances_file("validation"))))[:2]
    return {
        "eval": lambda: run_evaluation(root, chart=False),
        "score": lambda: rescore(root),
        "transcribe": lambda: build_transcripts(root),
        "verify": lambda: verify(root),
        "data sft": lambda: sft_rows(list(read_perspectives([root])), outcomes=["success", "lose", "aborted"]),
        "data dpo": lambda: dpo_rows(list(read_perspectives([root]))),
        "replay": lambda: load_results(root / "scripted"),
        "resume": lambda: [ResultsStore(root, "scripted").state(row, {"instance_sha256": "", "experiment_sha256": "",
                                                                      "settings": {}}) for row in rows],
    }


def _sha(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


#: PLAYPEN_FUZZ_EXAMPLES=4000 for a longer search (the default keeps `make test` fast)
@settings(max_examples=int(os.environ.get("PLAYPEN_FUZZ_EXAMPLES", "400")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(damage=damages(), data=st.data())
def test_readers_never_raise_anything_but_playpen_errors(template, damage, data):
    file, kind, rng = damage
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "results"
        shutil.copytree(template, root)
        episodes = sorted(p.parent for p in root.rglob("scores.json"))
        victim_dir = episodes[0]
        victim = victim_dir.parent / file if file == "experiment.json" else victim_dir / file
        original = victim.read_bytes()
        if kind == "mutated":
            damaged = json.dumps(_mutate(json.loads(original), data.draw), allow_nan=True).encode()
        elif kind == "replaced":
            damaged = json.dumps(data.draw(json_values)).encode()
        elif kind == "truncated":
            damaged = original[: rng.randrange(len(original))]
        else:
            damaged = data.draw(st.binary(max_size=64))
        victim.write_bytes(damaged)
        untouched = episodes[1] / "scores.json"
        shared = file == "experiment.json"  # both episodes sit in one experiment folder
        before = _sha(untouched)
        for name, read in _readers(root, Path(scratch)).items():
            COUNTS["attempts"] += 1
            try:
                read()
            except PlaypenError as error:
                assert "\n" not in str(error).strip(), str(error)
                COUNTS["playpen errors"] += 1
            except Exception:
                COUNTS["tracebacks"] += 1
                raise
        if _sha(untouched) != before and not shared:
            COUNTS["lost"] += 1
        assert _sha(untouched) == before


def test_fuzz_counts(capsys):
    """Runs after the fuzz (file order): the figures the docs report."""
    if not COUNTS["attempts"]:
        pytest.skip("the fuzz did not run in this session")
    with capsys.disabled():
        print(f"\nresults readers fuzz: {COUNTS['attempts']} attempts, {COUNTS['playpen errors']} one-line errors, "
              f"{COUNTS['tracebacks']} tracebacks, {COUNTS['lost']} finished episodes lost")
    assert COUNTS["tracebacks"] == 0 and COUNTS["lost"] == 0

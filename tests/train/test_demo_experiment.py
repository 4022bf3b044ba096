"""``playpen demo`` (the SFT demo: the experiment runner on taboo) with the real embedded model, at a tiny scale:
data from the scripted guesser, a greedy base evaluation, two SFT steps on every core, the same evaluation
again, the report with its transcripts."""

from __future__ import annotations

import json

import pytest

from playpen.demo import demo_recipe, sft_summary_text
from playpen.train.experiment import Experiment

pytestmark = pytest.mark.model


def test_the_sft_demo_runs_the_experiment_end_to_end(embedded_model_dir, tmp_path, isolated_registry, monkeypatch):
    import torch

    from playpen.models.huggingface import available_cpus

    import playpen.train.offline as offline

    threads_in_training = []
    load_trainable = offline.load_trainable

    def loading(*args, **kwargs):  # what the trainer gets, after the base evaluation left torch at one thread
        loaded = load_trainable(*args, **kwargs)
        threads_in_training.append(torch.get_num_threads())
        return loaded

    recipe = demo_recipe(steps=2, ood_games=[])
    recipe.eval_per_experiment = 1
    lines: list[str] = []
    monkeypatch.setattr(offline, "load_trainable", loading)
    report = Experiment(recipe, tmp_path / "demo", printer=lines.append).run()
    assert threads_in_training == [available_cpus()]

    rows = {(r["scope"], r["game"], r["figure"]): r for r in report["rows"]}
    taboo = rows[("in", "taboo", "played")]
    assert taboo["seeds"] == 1 and 0 <= taboo["trained"] <= 100 and taboo["per_seed"].keys() == {0}
    saved = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert saved["base_episodes"] == {"taboo": 3}
    html = (tmp_path / "demo" / "report.html").read_text()
    assert "runs/sft/seed-0/eval/" in html and "transcript.html" in html
    assert any("[3/3] sft seed 0" in line for line in lines)
    summary = sft_summary_text(report)
    assert "taboo" in summary and "% played" in summary and "quality" in summary

"""GRPO's guardrails on hand-made evaluation histories: the best checkpoint by a scope, the early stop when the
statscore falls, and the settings refused before training (no model is loaded)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from playpen.core.errors import PlaypenError
from playpen.eval.policy import append_eval_rows, read_eval_rows
from playpen.train.guardrails import (
    best_step,
    check_guardrails,
    history_from_rows,
    should_stop,
    static_drop,
)

HISTORY = {
    0: {"all": 10.0, "in": 20.0, "out": 0.0, "static": 50.0},
    10: {"all": 30.0, "in": 45.0, "out": 5.0, "static": 48.0},
    20: {"all": 35.0, "in": 52.0, "out": 5.0, "static": 41.0},
    30: {"all": 33.0, "in": 52.0, "out": 2.0, "static": 30.0},
}


@pytest.mark.parametrize("select_by, expected", [
    ("in", (20, 52.0)),          # a tie (steps 20 and 30) goes to the earlier step
    ("out", (10, 5.0)),
    ("static", (0, 50.0)),       # the statscore only fell: the start is best
    ("clemscore", (20, 35.0)),   # "clemscore" reads the scope over all dialogue games
])
def test_the_best_step_by_each_scope(select_by, expected):
    assert best_step(HISTORY, select_by) == expected


def test_a_scope_never_measured_or_unplayed_has_no_best_step():
    assert best_step({0: {"in": 3.0}}, "static") is None
    assert best_step({0: {"in": math.nan}, 5: {"in": 1.0}}, "in") == (5, 1.0)


def test_the_statscore_drop_is_measured_from_before_training():
    assert static_drop(HISTORY) == 20.0
    assert static_drop({0: {"static": 50.0}}) is None          # one measurement: nothing to compare
    assert static_drop({0: {"in": 1.0}, 5: {"in": 2.0}}) is None
    assert static_drop({0: {"static": 40.0}, 5: {"static": 44.0}}) == -4.0  # a rise is a negative drop


@pytest.mark.parametrize("margin, stops", [(None, False), (25.0, False), (20.0, False), (19.9, True), (0.0, True)])
def test_training_stops_only_when_the_drop_exceeds_the_margin(margin, stops):
    assert should_stop(HISTORY, margin) is stops


def test_impossible_guardrail_settings_are_refused_before_training():
    with pytest.raises(PlaypenError, match="select_by must be one of in, out, static, clemscore"):
        check_guardrails("quality", None, evaluates=True, static_games=[])
    with pytest.raises(PlaypenError, match="need the evaluation during training"):
        check_guardrails("in", None, evaluates=False, static_games=[])
    with pytest.raises(PlaypenError, match="needs reference tasks"):
        check_guardrails("static", None, evaluates=True, static_games=[])
    with pytest.raises(PlaypenError, match="needs reference tasks"):
        check_guardrails(None, 5.0, evaluates=True, static_games=[])
    with pytest.raises(PlaypenError, match=">= 0"):
        check_guardrails(None, -1.0, evaluates=True, static_games=["ifeval"])
    check_guardrails("clemscore", 5.0, evaluates=True, static_games=["ifeval"])  # fine
    check_guardrails(None, None, evaluates=False, static_games=[])


def test_the_history_reads_back_from_eval_metrics_csv(tmp_path):
    path = tmp_path / "eval_metrics.csv"
    rows = [{"step": step, "scope": scope, "game": "", "played": 100.0, "quality": value, "clemscore": value,
             "episodes": 2} for step, figures in HISTORY.items() for scope, value in figures.items()]
    rows.append({"step": 0, "scope": "game", "game": "taboo", "played": 50.0, "quality": 1.0, "clemscore": 0.5,
                 "episodes": 4})
    append_eval_rows(path, rows)
    assert history_from_rows(read_eval_rows(path)) == HISTORY


class _Model:
    def __init__(self):
        self.saved = []

    def save_pretrained(self, folder):
        self.saved.append(folder)


def _callback(tmp_path, **settings):
    from playpen.train.callbacks import EvalCallback

    defaults = dict(eval_games=[], eval_static_games=[], eval_steps=10, select_by=None, stop_static_drop=None)
    tokenizer = SimpleNamespace(save_pretrained=lambda folder: None)
    callback = EvalCallback(SimpleNamespace(**{**defaults, **settings}), [], {}, tokenizer, None, tmp_path,
                            printer=None)
    figures = iter(HISTORY.items())

    def evaluate(step, model, state=None):  # stands in for playing the episodes: the next hand-made figures
        expected, scores = next(figures)
        assert step == expected
        callback.history[step] = scores
        callback._keep_if_best(step, model)

    callback.evaluate = evaluate
    return callback


def test_the_callback_keeps_the_best_checkpoint_and_stops_when_the_statscore_falls(tmp_path):
    from transformers import TrainerControl, TrainerState

    callback = _callback(tmp_path, select_by="in", stop_static_drop=15.0)
    model, state, control = _Model(), TrainerState(max_steps=100), TrainerControl()
    callback.on_train_begin(None, state, control, model=model)
    for step in (10, 20):
        state.global_step = step
        callback.on_step_end(None, state, control, model=model)
    # step 10 improved "in" (45 > 20); step 20 too (52) and its statscore fell 9 points: not yet a stop
    assert len(model.saved) == 3 and not control.should_training_stop
    state.global_step = 30
    callback.on_step_end(None, state, control, model=model)
    assert control.should_training_stop  # 50 -> 30: a drop of 20 > 15
    assert len(model.saved) == 3  # step 30 ties step 20 on "in": the earlier checkpoint stays
    import json

    assert json.loads((tmp_path / "best" / "best.json").read_text()) == {"step": 20, "select_by": "in", "value": 52.0}

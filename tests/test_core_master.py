import math

import pytest

from playpen.core import metrics
from playpen.core.check import GameCheckError, check_game, check_scores
from playpen.core.instances import iter_rows
from playpen.core.master import Status, StopReason
from tests.toygame import SPEC, EchoGame, instances

EXPERIMENT = {"name": "three", "rounds": 3}


def new():
    return EchoGame(EXPERIMENT, {"game_id": 7})


def test_first_context_and_turn_order():
    gm = new()
    assert gm.current_role == "Sayer" and gm.current_player == "Player 1"
    assert gm.messages_for() == [{"role": "user", "content": "Say a number with SAY: <n>. Round limit 3."}]
    gm.step("SAY: 4")
    assert gm.current_role == "Echoer"
    assert gm.messages_for("Echoer")[-1]["content"].startswith("The number is 4")
    # the Sayer's own history holds its context and its reply
    assert gm.messages_for("Sayer")[-1] == {"role": "assistant", "content": "SAY: 4"}


def test_win_scores_rounds_and_request_counts():
    gm = new()
    for n in (1, 2, 3):
        gm.step(f"SAY: {n}")
        gm.step(f"ECHO: {n}")
    assert gm.done and gm.outcome.status is Status.SUCCESS
    scores = gm.scores()
    episode = scores[metrics.EPISODE_SCORES_KEY]
    assert episode[metrics.SUCCESS] == 1 and episode[metrics.LOSE] == 0 and episode[metrics.ABORTED] == 0
    assert episode[metrics.MAIN_SCORE] == 100.0
    assert episode[metrics.REQUEST_COUNT] == 6 and episode[metrics.PARSED_REQUEST_COUNT] == 6
    assert episode[metrics.REQUEST_SUCCESS_RATIO] == 1.0
    assert episode["Echoes"] == 3
    assert len(gm.rounds) == 3  # a new round starts when the turn wraps back to the Sayer
    assert scores[metrics.TURN_SCORES_KEY]["1"] == {
        "Correct": 1, metrics.REQUEST_COUNT: 2, metrics.VIOLATED_REQUEST_COUNT: 0, metrics.PARSED_REQUEST_COUNT: 2}
    assert gm.responses == ["SAY: 1", "ECHO: 1", "SAY: 2", "ECHO: 2", "SAY: 3", "ECHO: 3"]


def test_parse_error_aborts_with_nan_main_score():
    gm = new()
    gm.step("SAY: 5")
    gm.step("the number is five")
    assert gm.outcome.status is Status.ABORTED
    episode = gm.scores()[metrics.EPISODE_SCORES_KEY]
    assert episode[metrics.ABORTED] == 1 and episode[metrics.SUCCESS] == 0 and episode[metrics.LOSE] == 0
    assert math.isnan(episode[metrics.MAIN_SCORE])
    assert episode[metrics.VIOLATED_REQUEST_COUNT] == 1 and episode[metrics.PARSED_REQUEST_COUNT] == 1
    assert episode[metrics.REQUEST_SUCCESS_RATIO] == 0.5
    assert gm.rounds[-1][-1]["action"] == {"type": "parse error", "content": "Echoer reply lacks its tag"}


def test_rule_violation_loses():
    gm = new()
    gm.step("SAY: 5")
    gm.step("ECHO: 6")
    assert gm.outcome.status is Status.LOSE and "expected 5" in gm.outcome.reason
    assert gm.scores()[metrics.EPISODE_SCORES_KEY][metrics.MAIN_SCORE] == 0.0


def test_step_after_end_and_scores_before_end_are_errors():
    gm = new()
    with pytest.raises(RuntimeError):
        gm.scores()
    gm.step("nonsense")
    with pytest.raises(RuntimeError):
        gm.step("SAY: 1")
    assert gm.current_role is None and gm.messages_for() == []


def test_non_string_reply_is_treated_as_text():
    gm = new()
    gm.step(None)
    assert gm.outcome.status is Status.ABORTED


def test_request_limit_aborts():
    class Endless(EchoGame):
        max_requests = 4

        def advance(self, role, number):
            super().advance(role, "0" if role == "Echoer" else number)

    gm = Endless({"name": "x", "rounds": 100}, {"game_id": 0})
    while not gm.done:
        gm.step("SAY: 0" if gm.current_role == "Sayer" else "ECHO: 0")
    assert gm.requests == 4 and gm.outcome.status is Status.ABORTED
    assert "request limit" in gm.outcome.reason


def test_copy_is_independent():
    gm = new()
    gm.step("SAY: 1")
    fork = gm.copy()
    fork.step("ECHO: 1")
    gm.step("ECHO: 2")
    assert fork.current_role == "Sayer" and gm.outcome.status is Status.LOSE
    assert len(fork.rounds) == 2 and len(gm.rounds) == 1


def test_check_game_passes_and_catches_a_broken_game():
    rows = list(iter_rows("echo", instances()))
    report = check_game(SPEC, rows=rows, episodes=10)
    assert report.episodes == 30 and sum(report.outcomes.values()) == 30

    class Broken(EchoGame):
        def main_score(self):
            return 250.0

    gm = Broken(EXPERIMENT, {"game_id": 0})
    for n in (1, 2, 3):
        gm.step(f"SAY: {n}")
        gm.step(f"ECHO: {n}")
    with pytest.raises(GameCheckError):
        check_scores(gm)


def test_the_outcome_says_why_and_at_whose_reply_the_episode_stopped():
    class StrictGame(EchoGame):
        def advance(self, role, number):
            if number == "13":
                self.abort("unlucky number")  # an abort by the game's own rules, not a parse error
                return
            super().advance(role, number)

    stops = {}
    for name, replies in {"won": ["SAY: 1", "ECHO: 1", "SAY: 2", "ECHO: 2", "SAY: 3", "ECHO: 3"],
                          "lost": ["SAY: 1", "ECHO: 2"], "parse": ["SAY: 1", "echo 1"], "rules": ["SAY: 13"]}.items():
        gm = StrictGame(EXPERIMENT, {"game_id": 1})
        for reply in replies:
            gm.step(reply)
        stops[name] = (gm.outcome.stop, gm.outcome.role)
    assert stops == {"won": (StopReason.FINISHED, "Echoer"), "lost": (StopReason.FINISHED, "Echoer"),
                     "parse": (StopReason.PARSE_ERROR, "Echoer"), "rules": (StopReason.ABORTED, "Sayer")}
    gm = new()
    gm.step("SAY: 4")
    gm.interrupt(StopReason.CONTEXT_EXCEEDED, "prompt of 9000 tokens")
    assert (gm.outcome.status, gm.outcome.stop, gm.outcome.role) == (Status.ABORTED, StopReason.CONTEXT_EXCEEDED, "Echoer")
    assert gm.rounds[-1][-1]["action"] == {"type": "error", "content": "context exceeded: prompt of 9000 tokens"}
    with pytest.raises(ValueError, match="CONTEXT_EXCEEDED or BACKEND_ERROR"):
        new().interrupt(StopReason.FINISHED, "")

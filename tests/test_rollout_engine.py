import pytest

from playpen.core.instances import iter_rows
from playpen.core.master import Status, StopReason
from playpen.rollout.engine import GC_FACTOR, EpisodeJob, run_episodes
from tests.toygame import SPEC, ToyModel, instances


def jobs(model, n=10, partner=None):
    rows = list(iter_rows("echo", instances(n)))
    return [EpisodeJob(SPEC, row, {"Sayer": model, "Echoer": partner or model}) for row in rows]


def test_lockstep_batching_answers_waiting_episodes_in_one_call():
    model = ToyModel()
    results = run_episodes(jobs(model, 10), batch_size=10)
    assert len(results) == 10 and all(r.master.outcome.status is Status.SUCCESS for r in results)
    # 10 episodes x 6 replies, answered 10 at a time
    assert model.batch_sizes == [10] * 6


def test_batched_and_sequential_play_give_the_same_episodes():
    batched = {r.job.row.key: r.master.rounds for r in run_episodes(jobs(ToyModel(), 8), batch_size=8)}
    sequential = {r.job.row.key: r.master.rounds for r in run_episodes(jobs(ToyModel(), 8), batch_size=1)}
    assert batched == sequential


def test_two_models_each_answer_their_own_role():
    sayer, echoer = ToyModel(), ToyModel("bad")
    results = run_episodes(jobs(sayer, 4, partner=echoer), batch_size=4)
    assert all(r.master.outcome.status is Status.LOSE for r in results)  # the bad echoer is off by one
    assert sayer.batch_sizes == [4] and echoer.batch_sizes == [4]


def test_a_backend_failure_errors_only_its_episode():
    model = ToyModel(fail_episodes={"echo/0_three/episode_2"})
    seen = []
    results = run_episodes(jobs(model, 5), batch_size=5, on_end=seen.append)
    errored = [r for r in results if r.errored]
    assert [r.job.row.key for r in errored] == ["echo/0_three/episode_2"]
    assert "503" in errored[0].error and errored[0].stop is StopReason.BACKEND_ERROR
    assert {r.stop for r in results if not r.errored} == {StopReason.FINISHED}
    assert sum(r.master.outcome.status is Status.SUCCESS for r in results if not r.errored) == 4
    assert len(seen) == 5


def test_context_overflow_aborts_the_episode_with_a_reason():
    model = ToyModel(context_fail_episodes={"echo/0_three/episode_0"})
    result = next(r for r in run_episodes(jobs(model, 2), batch_size=2) if r.job.row.key.endswith("episode_0"))
    assert not result.errored and result.master.outcome.status is Status.ABORTED
    assert "context" in result.master.outcome.reason
    # charged to the player whose turn it was (the Sayer opens), without reading the log
    assert result.stop is result.master.outcome.stop is StopReason.CONTEXT_EXCEEDED
    assert result.master.outcome.role == "Sayer"


def test_max_open_bounds_the_batch():
    model = ToyModel()
    run_episodes(jobs(model, 9), batch_size=4)
    assert max(model.batch_sizes) == 4


def toy_model(schedule):
    model = ToyModel()
    if schedule == "async":  # a server-like model: the engine runs every episode as its own coroutine
        model.batched, model.concurrent = False, True
    return model


@pytest.mark.parametrize("schedule", ["lockstep", "async"])
def test_before_reply_sees_each_turn_and_a_start_state_plays_on_from_a_copy(schedule):
    """The branching hooks: ``before_reply`` sees the state before every reply; a job with ``start`` continues
    from a copy of that state (the state itself is left as it was)."""
    model = toy_model(schedule)
    seen = []
    [full] = run_episodes(jobs(model, 1), before_reply=lambda job, master: seen.append(master.copy()))
    assert [m.current_role for m in seen] == ["Sayer", "Echoer"] * 3
    fork_state = seen[2]  # before the Sayer's second turn
    history = list(fork_state.history_of["Sayer"])
    [row] = list(iter_rows("echo", instances(1)))
    fork_model = toy_model(schedule)
    [forked] = run_episodes([EpisodeJob(SPEC, row, {"Sayer": fork_model, "Echoer": fork_model}, start=fork_state)])
    assert forked.master.outcome.status is Status.SUCCESS and forked.master is not fork_state
    assert forked.master.history_of["Sayer"][:len(history)] == history
    assert forked.master.rounds[0] == full.master.rounds[0]  # the first round is the shared history
    assert len(forked.master.history_of["Sayer"]) == len(full.master.history_of["Sayer"])
    assert fork_state.history_of["Sayer"] == history and not fork_state.done


def test_async_runs_collect_garbage_less_often_and_restore_the_threshold():
    import gc

    default = gc.get_threshold()
    during = []
    for schedule in ("async", "lockstep"):
        model = toy_model(schedule)
        run_episodes(jobs(model, 2), before_reply=lambda job, master: during.append(gc.get_threshold()[0]))
        assert gc.get_threshold() == default
    assert during == [default[0] * GC_FACTOR] * 12 + [default[0]] * 12  # 2 episodes x 6 turns each, per schedule


def test_a_game_master_that_raises_errors_only_its_episode():
    from dataclasses import replace

    from tests.toygame import EchoGame

    class BuggyGame(EchoGame):
        def advance(self, role, number):
            if self.game_id == 1 and role == "Echoer":
                raise KeyError("a bug in the rules")
            super().advance(role, number)

    rows = list(iter_rows("echo", instances(3)))
    model = ToyModel()
    buggy = replace(SPEC, master=BuggyGame)
    results = {r.job.row.key: r for r in run_episodes([EpisodeJob(buggy, row, {"Sayer": model, "Echoer": model})
                                                        for row in rows])}
    broken = results["echo/0_three/episode_1"]
    assert broken.errored and broken.stop is StopReason.GAME_BUG and "a bug in the rules" in broken.error
    assert [r.stop for key, r in sorted(results.items()) if r is not broken] == [StopReason.FINISHED] * 2

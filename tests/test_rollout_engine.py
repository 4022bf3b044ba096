from playpen.core.instances import iter_rows
from playpen.core.master import Status
from playpen.rollout.engine import EpisodeJob, run_episodes
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
    assert "503" in errored[0].error
    assert sum(r.master.outcome.status is Status.SUCCESS for r in results if not r.errored) == 4
    assert len(seen) == 5


def test_context_overflow_aborts_the_episode_with_a_reason():
    model = ToyModel(context_fail_episodes={"echo/0_three/episode_0"})
    result = next(r for r in run_episodes(jobs(model, 2), batch_size=2) if r.job.row.key.endswith("episode_0"))
    assert not result.errored and result.master.outcome.status is Status.ABORTED
    assert "context" in result.master.outcome.reason


def test_max_open_bounds_the_batch():
    model = ToyModel()
    run_episodes(jobs(model, 9), batch_size=4)
    assert max(model.batch_sizes) == 4

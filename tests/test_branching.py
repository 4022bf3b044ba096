from playpen.core.instances import iter_rows
from playpen.core.master import Status
from playpen.envs.rewards import success
from playpen.models.base import GenerationResult, Model
from playpen.rollout.branching import branch_rollouts
from playpen.rollout.engine import EpisodeJob
from tests.toygame import SPEC, ToyModel, instances


class AlternatingEchoer(Model):
    """On its first turn echoes right, wrong, right, ... across calls (branches of different value); later always right."""

    name = "alternating"

    def __init__(self):
        super().__init__()
        self.calls = 0

    def generate(self, requests):
        results = []
        for request in requests:
            number = int(request.messages[-1]["content"].split("The number is ")[1].split(".")[0])
            wrong = len(request.messages) == 1 and self.calls % 2
            results.append(GenerationResult(text=f"ECHO: {number + wrong}"))
            self.calls += 1
        return results


def test_branches_share_history_and_are_ranked_by_final_reward():
    sayer = ToyModel()
    echoer = AlternatingEchoer()
    rows = list(iter_rows("echo", instances(2)))
    jobs = [EpisodeJob(SPEC, row, {"Sayer": sayer, "Echoer": echoer}) for row in rows]
    result = branch_rollouts(jobs, branch_roles={"Echoer"}, factor=4, reward_fn=success, max_points=1)
    assert len(result.points) == 2
    for point in result.points:
        assert point.role == "Echoer" and len(point.children) == 4
        responses = [child.response for child in point.children]
        assert len(set(responses)) == 2  # right and wrong echoes alternate
        ranked = point.ranked()
        assert ranked[0].value > ranked[-1].value
    # every leaf replays the parent's history up to the branching point
    leaves = [leaf for leaf in result.leaves if leaf[0].row.key == rows[0].key]
    assert len(leaves) == 4
    firsts = {tuple(e["action"]["content"] for e in master.rounds[0][:2]) for _, master, _, _ in leaves}
    assert len(firsts) == 1  # same Sayer turn before the fork
    # children are independent: wrong branches lost, the others went on
    statuses = sorted(master.outcome.status.value for _, master, _, _ in leaves)
    assert "lose" in statuses


def test_without_branch_roles_it_is_a_plain_rollout():
    model = ToyModel()
    rows = list(iter_rows("echo", instances(3)))
    jobs = [EpisodeJob(SPEC, row, {"Sayer": model, "Echoer": model}) for row in rows]
    result = branch_rollouts(jobs, branch_roles=set(), factor=3, reward_fn=success)
    assert result.points == [] and len(result.leaves) == 3
    assert all(master.outcome.status is Status.SUCCESS for _, master, _, _ in result.leaves)

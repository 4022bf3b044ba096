"""GRPO's group play (``playpen.envs.groups``) on the toy echo game with scripted players, without torch or TRL:
groups and episode sets, branching (a shared trunk, own replies from the fork on), partner-spoiled episodes
replayed and replaced, flat groups resampled on another instance, the rewards and the abort penalty."""

import random
import re
import subprocess
import sys

import pytest

from playpen.core.errors import PlaypenError
from playpen.core.instances import iter_rows
from playpen.core.master import Status
from playpen.envs.groups import GroupPlay, PlayedEpisode, episode_sets, group_ids, replace_partner_failures
from playpen.models.base import GenerationResult, Model
from tests.toygame import SPEC, ToyModel, instances

ROWS = {row.key: row for row in iter_rows("echo", instances(6))}
KEYS = list(ROWS)
SAYER, ECHOER = "Sayer", "Echoer"


class Queue(Model):
    """Answers each request with the next planned reply; ``plan(index, request)`` builds it."""

    batched = True

    def __init__(self, plan):
        super().__init__()
        self.name = "stub"
        self.plan = plan
        self.count = 0

    def generate(self, requests):
        out = []
        for request in requests:
            out.append(GenerationResult(text=self.plan(self.count, request)))
            self.count += 1
        return out


def echo(request, how):
    """The echoer's reply: the right number, a wrong one (the episode is lost) or no tag (the echoer aborts)."""
    number = int(re.search(r"The number is (\d+)", request.messages[-1]["content"]).group(1))
    return {"right": f"ECHO: {number}", "wrong": f"ECHO: {number + 1}", "untagged": f"{number}"}[how]


def echoer(plan):
    """An echoer that answers the n-th request as ``plan[n]`` says (r: right, w: wrong, x: untagged)."""
    names = {"r": "right", "w": "wrong", "x": "untagged"}
    return Queue(lambda index, request: echo(request, names[plan[index]]))


def play(partner=None, **settings):
    """The echoer learns against ``partner`` (default: the competent scripted sayer)."""
    return GroupPlay([SPEC], ROWS, partner if partner is not None else ToyModel("competent"),
                     roles={"echo": ECHOER}, **settings)


def test_torch_is_not_imported():
    code = "import sys, playpen.envs.groups; sys.exit('torch' in sys.modules or 'trl' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_groups_are_runs_of_equal_keys_and_roles_of_one_instance_share_their_episodes():
    assert group_ids(["a", "a", "b", "b", "a"]) == [0, 0, 1, 1, 2]
    keys = [("echo", "k1", SAYER)] * 2 + [("echo", "k1", ECHOER)] * 2 + [("echo", "k2", ECHOER)] * 3
    sets = episode_sets(keys)
    assert [(s.key, s.size, s.slots) for s in sets] == [("k1", 2, {SAYER: [0, 1], ECHOER: [2, 3]}),
                                                        ("k2", 3, {ECHOER: [4, 5, 6]})]


def test_a_step_plays_every_group_on_its_instance_with_the_games_reward():
    keys = [("echo", KEYS[0], ECHOER)] * 2 + [("echo", KEYS[1], ECHOER)] * 2
    # the four episodes ask at once, turn by turn: 1 wins, 2 is lost at its 2nd echo, 3 wins, 4 at its 3rd
    learner = echoer("rrrr" + "rwrr" + "rrw")
    step = play(reward="quality").play_step(keys, learner, random.Random(0))
    assert step.keys == [("echo", KEYS[0])] * 2 + [("echo", KEYS[1])] * 2
    assert [e.reward for e in step.episodes] == [1.0, pytest.approx(1 / 3), 1.0, pytest.approx(2 / 3)]  # Main Score / 100
    assert all(e.learner_role == ECHOER and not e.replaced for e in step.episodes)
    assert step.resampled == [False] * 4
    assert [e.master.outcome.status for e in step.episodes].count(Status.SUCCESS) == 2


class RandomEchoer(Model):
    """A sampling echoer: right or wrong at random (seeded), so the branches of one episode differ."""

    batched = True

    def __init__(self, seed=0):
        super().__init__()
        self.name = "echoer"
        self.rng = random.Random(seed)

    def generate(self, requests):
        return [GenerationResult(text=echo(r, self.rng.choice(["right", "right", "wrong"]))) for r in requests]


def test_branching_groups_share_the_trunk_up_to_the_fork_and_differ_after_it():
    keys = [("echo", key) for key in KEYS[:4] for _ in range(4)]
    episodes, starts = play(branching=True).play_branching(keys, RandomEchoer(0), random.Random(3))
    forked_later = 0
    for group in range(4):
        members = episodes[4 * group: 4 * group + 4]
        [shared] = {e.shared_replies for e in members}  # one fork point per group
        forked_later += shared > 0
        replies = [e.learner_replies() for e in members]
        assert all(r[:shared] == replies[0][:shared] for r in replies)
        views = [e.master.history_of[ECHOER] for e in members]
        prefix = 1 + 2 * shared  # the first prompt, then (reply, next prompt) pairs
        assert all(v[:prefix] == views[0][:prefix] for v in views)
        assert all(len(r) > shared for r in replies)  # everyone made its own reply at the fork
        assert starts[4 * group] is starts[4 * group + 3]
        # the forks are independent games: the trunk's master was not advanced by them
        assert len({id(e.master) for e in members}) == 4
    assert forked_later, "no group forked after its first turn; the test needs a seed that does"
    # after the fork the branches differ (the sampling echoer is right or wrong on its own)
    assert any(len({tuple(e.learner_replies()) for e in episodes[4 * g: 4 * g + 4]}) > 1 for g in range(4))


def test_episodes_the_partner_spoiled_are_played_again_then_replaced_within_their_group():
    # the sayer breaks its format in the first play of slot 0 and its retry: the slot takes a valid episode of
    # its group; slot 1 is fine
    def sayer(index, request):
        return "no idea" if index in (0, 4) else "SAY: 7"

    partner = Queue(sayer)
    step = play(partner, partner_retries=1).play_step([("echo", KEYS[0], ECHOER)] * 2, echoer("rrr"),
                                                      random.Random(0))
    assert [e.replaced for e in step.episodes] == [True, False]
    assert step.episodes[0].result is step.episodes[1].result and step.episodes[0].reward == 1.0
    assert partner.count == 1 + 3 + 1  # slot 0 spoiled, slot 1's three numbers, slot 0's retry spoiled again


def test_partner_failures_are_replaced_within_the_group_or_by_another_group():
    from playpen.rollout.engine import EpisodeJob, EpisodeResult, run_episodes

    a, b = KEYS[:2]

    def episode(key, sayer_ok, how):
        sayer = ToyModel("competent") if sayer_ok else Queue(lambda i, r: "no idea")
        learner = Queue(lambda i, r: echo(r, how))
        [result] = run_episodes([EpisodeJob(SPEC, ROWS[key], {SAYER: sayer, ECHOER: learner})])
        return PlayedEpisode(result, {Status.SUCCESS: 1.0, Status.LOSE: 0.0}.get(result.master.outcome.status, -0.5),
                             ECHOER)

    spoiled, own_abort, won = episode(a, False, "right"), episode(b, True, "untagged"), episode(b, True, "right")
    assert spoiled.partner_failure and not own_abort.partner_failure and not won.partner_failure
    groups = [a] * 2 + [b] * 2
    out = replace_partner_failures([spoiled, spoiled, own_abort, won], groups)
    # group a has no valid episode: it takes group b's episodes; group b keeps its own (the learner's abort too)
    assert [e.replaced for e in out] == [True, True, False, False]
    assert all(e.result in (own_abort.result, won.result) for e in out[:2]) and out[2:] == [own_abort, won]
    # nothing valid at all: no signal (reward None -> TRL gives advantage 0) instead of blaming the learner
    assert [e.reward for e in replace_partner_failures([spoiled, spoiled], [a] * 2)] == [None, None]
    # nothing valid and an episode that could not be played at all: the partner is broken, and said so
    broken = PlayedEpisode(EpisodeResult(spoiled.result.job, None, error="server said 503"), 0.0, ECHOER)
    with pytest.raises(PlaypenError, match="check the partner model"):
        replace_partner_failures([broken, spoiled], [a] * 2)


def test_the_learners_abort_costs_the_abort_penalty_and_is_not_replaced():
    step = play(reward="main_score", abort_penalty=5.0).play_step([("echo", KEYS[0], ECHOER)] * 2, echoer("xr" + "rr"),
                                                                  random.Random(0))
    rewards = sorted(e.reward for e in step.episodes)
    assert rewards == [-5.0, 1.0] and not any(e.replaced for e in step.episodes)


def test_in_self_play_an_abort_is_charged_to_the_role_that_caused_it():
    def both(index, request):  # the learner plays both roles; the echoer breaks its format at once
        return "SAY: 3" if request.role == SAYER else echo(request, "untagged")

    keys = [("echo", KEYS[0], SAYER)] * 2 + [("echo", KEYS[0], ECHOER)] * 2
    game = GroupPlay([SPEC], ROWS, None, reward="main_score", abort_penalty=1.0)
    learner = Queue(both)
    step = game.play_step(keys, learner, random.Random(0))
    assert learner.count == 2 * 2  # one set of two episodes, viewed by both roles
    assert [e.reward for e in step.episodes] == [0.0, 0.0, -1.0, -1.0]
    assert [e.learner_role for e in step.episodes] == [SAYER, SAYER, ECHOER, ECHOER]


def test_a_flat_group_is_played_again_on_another_instance():
    keys = [("echo", KEYS[0], ECHOER)] * 2
    # first play: both lose at once (flat); the replay: one win, one loss at once
    step = play(reward="main_score", resample_flat_groups=3).play_step(keys, echoer("ww" + "rw" + "rr"),
                                                                       random.Random(2))
    assert [e.reward for e in step.episodes] == [1.0, 0.0]
    assert step.resampled == [True, True]
    [(game, played)] = set(step.keys)
    assert game == "echo" and played in ROWS
    # without resampling the flat group stays (advantage 0)
    step = play(reward="main_score").play_step(keys, echoer("ww"), random.Random(2))
    assert [e.reward for e in step.episodes] == [0.0, 0.0] and step.resampled == [False, False]
    assert step.keys == [("echo", KEYS[0])] * 2

import json

import pytest

from playpen.core.errors import PlaypenError
from playpen.envs import MultiAgentTextEnv, get_reward, make
from tests.toygame import SPEC, ToyModel, instances


@pytest.fixture
def instance_file(tmp_path):
    path = tmp_path / "echo.json"
    path.write_text(json.dumps(instances(4)))
    return str(path)


def echo(messages):
    return "ECHO: " + messages[-1]["content"].split("The number is ")[1].split(".")[0]


def test_learner_plays_against_an_automatic_partner(instance_file):
    env = make(SPEC, role="Echoer", partners={"Sayer": ToyModel()}, instances=instance_file)
    obs, info = env.reset(seed=1)
    assert obs[-1]["role"] == "user" and "The number is" in obs[-1]["content"]
    assert info["role"] == "Echoer" and info["outcome"] == "running" and info["requests"] == 1
    total, steps, terminated = 0.0, 0, False
    while not terminated:
        obs, reward, terminated, truncated, info = env.step(echo(obs))
        total += reward
        steps += 1
    assert steps == 3 and total == 1.0 and info["outcome"] == "success"
    assert info["scores"]["Main Score"] == 100.0 and not truncated


def test_wrong_move_ends_with_zero_reward_and_feedback(instance_file):
    env = make(SPEC, role="Echoer", partners=ToyModel(), instances=instance_file)
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step("ECHO: 100000")
    assert terminated and reward == 0.0 and info["outcome"] == "lose"
    assert info["feedback"][-1]["type"] == "rule violation"
    with pytest.raises(RuntimeError):
        env.step("ECHO: 1")


def test_abort_penalty_and_named_rewards(instance_file):
    env = make(SPEC, role="Echoer", partners=ToyModel(), instances=instance_file, abort_penalty=0.5)
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step("no tag")
    assert terminated and reward == -0.5 and info["outcome"] == "aborted" and not info["aborted_by_partner"]
    with pytest.raises(PlaypenError, match="unknown reward"):
        get_reward("nope")


def test_partner_failure_is_not_blamed_on_the_learner(instance_file):
    env = make(SPEC, role="Echoer", partners=ToyModel(fail_episodes=set()), instances=instance_file)
    broken = ToyModel()
    broken.generate = lambda requests: [_failure()]
    env.partners[("echo", "Sayer")] = broken
    obs, info = env.reset(options={"index": 0})
    assert info["outcome"] == "aborted" and info["aborted_by_partner"] and "503" in info["partner_error"]


def _failure():
    from playpen.models.base import GenerationResult

    return GenerationResult(error="503 from partner", error_kind="backend")


def test_reset_is_reproducible_with_a_seed(instance_file):
    env = make(SPEC, role="Echoer", partners=ToyModel(), instances=instance_file)
    first = [env.reset(seed=s)[1]["game_id"] for s in range(5)]
    second = [env.reset(seed=s)[1]["game_id"] for s in range(5)]
    assert first == second


def test_unknown_role_and_missing_partner_are_clear_errors(instance_file):
    with pytest.raises(PlaypenError, match="no role 'Judge'"):
        make(SPEC, role="Judge", partners=ToyModel(), instances=instance_file)
    with pytest.raises(PlaypenError, match="needs a partner"):
        make(SPEC, role="Echoer", instances=instance_file)


def test_multi_agent_env_turns_and_team_reward(instance_file):
    env = MultiAgentTextEnv(SPEC, instances=instance_file)
    env.reset(seed=3)
    said = None
    while not env.done:
        role = env.agent_selection
        obs, reward, done, info = env.last()
        if role == "Sayer":
            said = "7"
            env.step(f"SAY: {said}")
        else:
            env.step(f"ECHO: {said}")
    assert env.rewards == {"Sayer": 1.0, "Echoer": 1.0} and env.agent_selection is None
    assert env.last()[3]["stop"] == "finished"


def test_self_play_uses_the_same_model_for_the_partner(instance_file):
    model = ToyModel()
    env = make(SPEC, role="Echoer", partners={"Sayer": model}, instances=instance_file)
    env.reset(seed=0)
    assert env.partners[("echo", "Sayer")] is model and model.batch_sizes == [1]


def test_gymnasium_registration_and_episode():
    gymnasium = pytest.importorskip("gymnasium")
    from playpen.envs.gym import register_gymnasium
    from playpen.games import available_games
    from playpen.models.scripted import ScriptedModel

    ids = register_gymnasium()
    assert "playpen/wordle-v0" in ids and len(ids) == len(available_games())
    env = gymnasium.make("playpen/wordle_withcritic-v0", role="ReflectingWordGuesser",
                         partners={"WordCritic": ScriptedModel("competent")}, split="validation")
    observation, info = env.reset(seed=0)
    assert isinstance(observation, str) and info["messages"][-1]["content"] == observation
    _, reward, terminated, truncated, info = env.step("explanation: a guess\nguess: crane")
    assert info["requests"] >= 2 and not truncated
    assert "crane" in env.unwrapped.render()


def test_paper_reward_is_what_each_games_spec_declares():
    from playpen.core.instances import iter_rows, load_instances
    from playpen.core.master import Status
    from playpen.games import get_game
    from playpen.models.registry import load_model
    from playpen.rollout.engine import EpisodeJob, run_episodes

    scripted, paper = load_model("scripted"), get_reward("paper")
    finished = {}
    for game in ("taboo", "wordle", "privateshared"):
        spec = get_game(game)
        rows = list(iter_rows(game, load_instances(spec.instances_file("validation"))))[:3]
        for result in run_episodes([EpisodeJob(spec, row, {r: scripted for r in spec.roles}) for row in rows]):
            finished.setdefault(game, []).append(result.master)
    for master in finished["taboo"]:  # 1/#rounds when guessed
        assert master.outcome.status is Status.SUCCESS
        assert paper(master) == pytest.approx(1 / len(master.rounds))
    assert {paper(m) for m in finished["wordle"]} == {1.0}  # success, not the Main Score
    for master in finished["privateshared"]:  # Main Score / 100
        assert paper(master) == pytest.approx(master.scores()["episode scores"]["Main Score"] / 100)
    [lost] = run_episodes([EpisodeJob(get_game("wordle"), next(iter_rows("wordle", load_instances(
        get_game("wordle").instances_file("validation")))), {"WordGuesser": load_model("scripted-bad")})])
    assert lost.master.outcome.status is not Status.SUCCESS and paper(lost.master) == 0.0


def test_turn_limit_and_context_overflow_truncate_the_episode(instance_file):
    from dataclasses import replace

    from playpen.models.base import GenerationResult
    from tests.toygame import EchoGame

    class ShortGame(EchoGame):
        max_requests = 3  # Sayer, Echoer, Sayer: the limit ends the episode before the second echo

    env = make(replace(SPEC, master=ShortGame), role="Echoer", partners=ToyModel(), instances=instance_file)
    obs, _ = env.reset(options={"index": 0})
    _, _, terminated, truncated, info = env.step(echo(obs))
    assert truncated and not terminated and info["stop"] == "turn_limit" and info["outcome"] == "aborted"

    partner = ToyModel()
    answer = partner.generate
    overflow = GenerationResult(error="prompt of 9000 tokens", error_kind="context")
    partner.generate = lambda requests: [overflow] if len(requests[0].messages) > 1 else answer(requests)
    env = make(SPEC, role="Echoer", partners=partner, instances=instance_file)
    obs, _ = env.reset(options={"index": 0})
    _, _, terminated, truncated, info = env.step(echo(obs))
    assert truncated and not terminated and info["stop"] == "context_exceeded" and info["aborted_by_partner"]
    assert env.master.outcome.role == "Sayer" and "9000 tokens" in env.master.outcome.reason

    env = make(SPEC, role="Echoer", partners=ToyModel(), instances=instance_file)
    obs, _ = env.reset(options={"index": 0})
    _, _, terminated, truncated, info = env.step("ECHO: 100000")  # a rule violation: the game decided
    assert terminated and not truncated and info["stop"] == "finished"
    obs, _ = env.reset(options={"index": 0})
    _, _, terminated, truncated, info = env.step("no tag")
    assert terminated and not truncated and info["stop"] == "parse_error" and env.master.outcome.role == "Echoer"

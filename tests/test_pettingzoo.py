"""The PettingZoo AEC API: PettingZoo's own checker on every game, scripted episodes, truncation, seeding."""

import json
import warnings
from dataclasses import replace

import pytest

pytest.importorskip("pettingzoo")

from pettingzoo.test import api_test  # noqa: E402

from playpen.core.check import HOSTILE_RESPONSES, play_scripted  # noqa: E402
from playpen.core.instances import iter_rows, load_instances  # noqa: E402
from playpen.envs.pettingzoo import env as make_env  # noqa: E402
from playpen.envs.pettingzoo import raw_env  # noqa: E402
from playpen.envs.spaces import ChatText, ReplyText  # noqa: E402
from playpen.games import resolve_games  # noqa: E402
from tests.toygame import SPEC, EchoGame, instances  # noqa: E402

GAMES = [spec.name for spec in resolve_games(["all"])]


@pytest.fixture
def instance_file(tmp_path):
    path = tmp_path / "echo.json"
    path.write_text(json.dumps(instances(4)))
    return str(path)


@pytest.mark.parametrize("game", GAMES)
def test_pettingzoo_api_test_passes_for_every_game(game):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its advice for NumPy observations and player_0 names
        api_test(make_env(game, split="validation"), num_cycles=50)


@pytest.mark.parametrize("game", GAMES)
def test_scripted_players_through_the_aec_loop_score_as_the_game_does(game):
    spec = resolve_games([game])[0]
    row = next(iter_rows(game, load_instances(spec.instances_file("validation"))))
    expected = play_scripted(spec, row)
    env = raw_env(game, split="validation", reward="quality")
    env.reset(options={"instance": row})
    policies = {role: spec.scripted(role, "competent", row.experiment, row.instance, 0) for role in spec.roles}
    seen_rewards = {}
    for agent in env.agent_iter():
        observation, reward, terminated, truncated, info = env.last()
        seen_rewards[agent] = reward
        if terminated or truncated:
            env.step(None)
            continue
        assert observation["messages"] == tuple(env.game.master.messages_for(agent))
        env.step(policies[agent](list(observation["messages"])))
    assert env.game.master.scores() == expected.scores()
    quality = expected.scores()["episode scores"]["Main Score"]
    aborted = expected.outcome.status.value == "aborted"
    assert set(seen_rewards) == set(spec.roles)
    assert all(r == (0.0 if aborted else quality / 100) for r in seen_rewards.values())
    assert env.agents == [] and info["outcome"] == expected.outcome.status.value


def test_every_role_gets_the_reward_and_ends_together(instance_file):
    env = raw_env(SPEC, instances=instance_file)
    env.reset(options={"index": 0})
    assert env.agent_selection == "Sayer" and env.possible_agents == ["Sayer", "Echoer"]
    env.step("SAY: 7")
    observation, reward, terminated, truncated, _ = env.last()
    assert env.agent_selection == "Echoer" and reward == 0.0 and not terminated
    assert "The number is 7" in observation["messages"][-1]["content"]
    env.step("ECHO: 8")  # a rule violation: the game decided, so terminated
    assert env.terminations == {"Sayer": True, "Echoer": True} and not any(env.truncations.values())
    assert env.rewards == {"Sayer": 0.0, "Echoer": 0.0} and env.infos["Sayer"]["outcome"] == "lose"
    assert env.infos["Echoer"]["feedback"][-1]["type"] == "rule violation"
    env.step(None)
    env.step(None)
    assert env.agents == []


def test_a_won_episode_rewards_every_role(instance_file):
    env = raw_env(SPEC, instances=instance_file)
    env.reset(options={"index": 1})
    totals = {}
    for agent in env.agent_iter():
        observation, reward, terminated, truncated, info = env.last()
        totals[agent] = totals.get(agent, 0.0) + reward
        if terminated or truncated:
            env.step(None)
        elif agent == "Sayer":
            env.step("SAY: 5")
        else:
            env.step("ECHO: 5")
    assert totals == {"Sayer": 1.0, "Echoer": 1.0} and info["scores"]["Main Score"] == 100.0


def test_a_turn_limit_truncates_every_role(instance_file):
    class ShortGame(EchoGame):
        max_requests = 3

    env = raw_env(replace(SPEC, master=ShortGame), instances=instance_file, abort_penalty=1.0)
    env.reset(options={"index": 0})
    for reply in ("SAY: 1", "ECHO: 1", "SAY: 2"):
        env.step(reply)
    assert env.truncations == {"Sayer": True, "Echoer": True} and not any(env.terminations.values())
    assert env.rewards == {"Sayer": -1.0, "Echoer": -1.0} and env.infos["Sayer"]["stop"] == "turn_limit"


def test_an_action_that_is_not_text_is_refused(instance_file):
    env = raw_env(SPEC, instances=instance_file)
    env.reset(seed=0)
    with pytest.raises(TypeError, match="reply text"):
        env.step(3)
    env.step("SAY: 1")
    env.step("ECHO: 2")  # over: each role must now step None
    with pytest.raises(ValueError, match="only valid action is None"):
        env.step("ECHO: 2")


def test_seeded_resets_choose_the_same_instances_and_samples():
    first, second = make_env("wordle", split="validation"), make_env("wordle", split="validation")
    for seed in range(4):
        first.reset(seed=seed)
        second.reset(seed=seed)
        assert first.unwrapped.game.master.game_id == second.unwrapped.game.master.game_id
        assert first.action_space(first.possible_agents[0]).sample() == second.action_space(second.possible_agents[0]).sample()


def test_reply_space_samples_hostile_text_and_holds_any_unicode():
    space = ReplyText()
    space.seed(3)
    samples = {space.sample() for _ in range(200)}
    assert samples & set(HOSTILE_RESPONSES) and all(space.contains(s) for s in samples)
    taboo = make_env("taboo", split="validation")
    markers = taboo.action_space(taboo.possible_agents[0]).markers
    assert markers == resolve_games(["taboo"])[0].protocol_markers and "CLUE: apple\nCLUE: pear" in markers
    space = ReplyText(markers)
    space.seed(3)
    assert {space.sample() for _ in range(200)} & set(markers)
    assert ChatText().contains("😀 漢字 \x00 tab\t") and not ChatText(4).contains("12345")
    assert not ChatText().contains(b"bytes")

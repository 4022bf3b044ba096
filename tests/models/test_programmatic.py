"""Scripted, replay and human backends, and message merging."""

from __future__ import annotations

import io
import json

import pytest

from playpen.core.errors import PlaypenError
from playpen.models.base import GenerationRequest
from playpen.models.human import HumanModel
from playpen.core.messages import last_user_message, merge_messages
from playpen.models.replay import ReplayModel, load_results, read_replies
from playpen.models.scripted import ScriptedModel


def request(
    role: str, episode: str = "fakegame/0_x/episode_0", turns: int = 1, game: str = "fakegame", **kw
) -> GenerationRequest:
    messages = []
    for i in range(turns):
        messages.append({"role": "user", "content": f"turn {i}"})
        if i < turns - 1:
            messages.append({"role": "assistant", "content": f"reply {i}"})
    return GenerationRequest(messages=messages, game=game, role=role, episode=episode, **kw)


# ---------------------------------------------------------------------- messages
def test_merge_messages():
    messages = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "a"},
        {"role": "user", "content": "b"},
        {"role": "assistant", "content": "c"},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "d"},
    ]
    original = json.dumps(messages)
    assert merge_messages(messages) == [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "a\n\nb"},
        {"role": "assistant", "content": "c\n\n"},
        {"role": "user", "content": "d"},
    ]
    assert json.dumps(messages) == original  # input untouched
    assert merge_messages([]) == []
    assert last_user_message(messages) == "d" and last_user_message([]) == ""


# ---------------------------------------------------------------------- scripted
def test_scripted_builds_one_policy_per_episode_and_role(fake_game):
    model = ScriptedModel(skill="bad", seed=7)
    results = model.generate(
        [
            request("Asker", instance={"target": "pear"}),
            request("Answerer"),
            request("Asker", turns=2, instance={"target": "pear"}),
            request("Asker", episode="fakegame/0_x/episode_1", instance={"target": "fig"}),
        ]
    )
    assert [r.text for r in results] == ["bad Asker pear 1", "bad Answerer ? 1", "bad Asker pear 2", "bad Asker fig 1"]
    assert fake_game.built == [("Asker", "bad", 7), ("Answerer", "bad", 7), ("Asker", "bad", 7)]
    assert model.name == "scripted-bad" and ScriptedModel().name == "scripted"
    model.forget("fakegame/0_x/episode_0")
    model.generate([request("Asker")])
    assert len(fake_game.built) == 4


def test_scripted_errors_are_results(fake_game):
    results = ScriptedModel().generate(
        [request("Broken"), request("Asker", game="nogame"), request("Asker", game=""), request("Asker")]
    )
    assert [r.error_kind for r in results] == ["backend", "backend", "backend", None]
    assert "no policy" in results[0].error and "nogame" in results[1].error
    with pytest.raises(ValueError, match="unknown skill 'genius'.*literal"):
        ScriptedModel(skill="genius")


def test_a_game_without_the_skill_refuses_it_per_episode():
    literal = ScriptedModel(skill="literal")
    taboo, reference = request("WordGuesser", game="taboo"), request("Instruction Giver", game="referencegame")
    refused, _ = literal.generate([taboo, reference])
    assert refused.error_kind == "backend"
    assert "taboo has no scripted 'literal' player (its skills: competent, bad, independent)" in refused.error


# ---------------------------------------------------------------------- replay
def test_replay_from_a_dict():
    model = ReplayModel({"g/e/ep0": {"A": ["a1", "a2"], "B": ["b1"]}})
    texts = [
        r.text if not r.error else r.error
        for r in model.generate(
            [request("A", "g/e/ep0", game=""), request("B", "g/e/ep0", game=""), request("A", "g/e/ep0", game="")]
        )
    ]
    assert texts == ["a1", "b1", "a2"]
    out, unknown_role, unknown_episode = model.generate(
        [request("A", "g/e/ep0", game=""), request("C", "g/e/ep0", game=""), request("A", "g/e/nope", game="")]
    )
    assert out.error_kind == "backend" and "ran out" in out.error
    assert "no replies for role 'C'" in unknown_role.error
    assert "no recorded episode" in unknown_episode.error
    model.reset()
    assert model.generate([request("A", "g/e/ep0", game="")])[0].text == "a1"


def _interactions(players: dict, replies: list[tuple[str, str]]) -> dict:
    events = []
    for player, text in replies:
        events.append({"from": "GM", "to": player, "action": {"type": "send message", "content": "go"}})
        events.append({"from": player, "to": "GM", "action": {"type": "get message", "content": text}})
        events.append({"from": "GM", "to": "GM", "action": {"type": "parse", "content": text}})
    return {
        "meta": {"game_name": "fakegame"},
        "players": {"GM": {"game_role": "Game Master"}, **players},
        "turns": [events[:6], events[6:]],
    }


def _write(root, key: str, interactions: dict) -> None:
    folder = root.joinpath(*key.split("/"))
    folder.mkdir(parents=True)
    (folder / "interactions.json").write_text(json.dumps(interactions))


def test_replay_from_a_results_folder(tmp_path, fake_game):
    run = tmp_path / "modelA--modelB"
    players = {
        "Player 1": {"game_role": "Asker", "model_name": "a"},
        "Player 2": {"game_role": "Answerer", "model_name": "b"},
    }
    _write(
        run,
        "fakegame/0_x/episode_0",
        _interactions(players, [("Player 1", "q1"), ("Player 2", "a1"), ("Player 1", "q2")]),
    )
    # two players with the same clembench role name (as in matchit_ascii)
    same = {"Player 1": {"game_role": "Matcher"}, "Player 2": {"game_role": "Matcher"}}
    fake_game.roles = ("Matcher A", "Matcher B")
    _write(run, "fakegame/0_x/episode_1", _interactions(same, [("Player 1", "m1"), ("Player 2", "n1")]))

    model = ReplayModel.from_results(run)
    assert model.name == "replay-modelA--modelB"
    texts = [r.text for r in model.generate([request("Asker"), request("Answerer"), request("Asker")])]
    assert texts == ["q1", "a1", "q2"]
    ep1 = "fakegame/0_x/episode_1"
    assert [r.text for r in model.generate([request("Matcher B", ep1), request("Matcher A", ep1)])] == ["n1", "m1"]
    assert "Matcher" not in read_replies(_interactions(same, [("Player 1", "m1")]))


def test_replay_folder_errors(tmp_path):
    with pytest.raises(PlaypenError, match="not found"):
        load_results(tmp_path / "missing")
    with pytest.raises(PlaypenError, match="no interactions.json"):
        load_results(tmp_path)
    players = {"Player 1": {"game_role": "Asker"}}
    _write(tmp_path / "run1", "fakegame/0_x/episode_0", _interactions(players, [("Player 1", "x")]))
    _write(tmp_path / "run2", "fakegame/0_x/episode_0", _interactions(players, [("Player 1", "y")]))
    with pytest.raises(PlaypenError, match="one run"):
        load_results(tmp_path)


def test_replay_reads_clembench_records(clembench_runs):
    run = next(p for p in clembench_runs[0].iterdir() if p.is_dir())
    episodes = load_results(run)
    key = next(k for k in episodes if k.startswith("taboo/"))
    replies = episodes[key]
    assert replies["WordDescriber"] and replies["WordDescriber"] is replies["Player 1"]
    model = ReplayModel(episodes)
    result = model.generate([GenerationRequest(messages=[], game="taboo", role="WordDescriber", episode=key)])[0]
    assert result.error is None and result.text == replies["WordDescriber"][0]


# ---------------------------------------------------------------------- human
def test_human_reads_multi_line_replies():
    from rich.console import Console

    lines = iter(["first line", "second line", "", "", "", "again", ""])
    output = io.StringIO()
    model = HumanModel(console=Console(file=output, width=80), input_fn=lambda prompt: next(lines))
    first = GenerationRequest(
        messages=[{"role": "user", "content": "Describe the word."}], game="taboo", role="WordDescriber", episode="e0"
    )
    [result] = model.generate([first])
    assert result.text == "first line\nsecond line"
    second = GenerationRequest(
        messages=[
            *first.messages,
            {"role": "assistant", "content": result.text},
            {"role": "user", "content": "Try again."},
        ],
        game="taboo",
        role="WordDescriber",
        episode="e0",
    )
    [empty] = model.generate([second])  # Enter on an empty first line, twice: an empty reply
    assert empty.text == "" and empty.error is None
    shown = output.getvalue()
    assert shown.count("Describe the word.") == 1 and "Try again." in shown  # only new messages shown again
    [again] = model.generate([second])
    assert again.text == "again"
    assert not model.batched


def test_human_end_of_input_is_an_error_result():
    from rich.console import Console

    def closed(prompt: str) -> str:
        raise EOFError

    model = HumanModel(console=Console(file=io.StringIO()), input_fn=closed)
    [result] = model.generate([GenerationRequest(messages=[{"role": "user", "content": "hi"}])])
    assert result.error_kind == "backend" and "EOFError" in result.error

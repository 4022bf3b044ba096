import json
from pathlib import Path

from playpen.data.datasets import dpo_rows, holdout_split, read_rows, sft_rows, write_rows
from playpen.data.episodes import Perspective, read_perspectives
from tests.test_results_and_eval import play_into
from tests.toygame import ToyModel


def perspective(outcome, messages, model="m", game_id=0, role="Echoer"):
    return Perspective("echo", "three", game_id, Path("."), "Player 2", role, model, outcome, 0.0, tuple(messages))


U = lambda text: {"role": "user", "content": text}  # noqa: E731
A = lambda text: {"role": "assistant", "content": text}  # noqa: E731


def test_perspectives_from_our_results(tmp_path):
    play_into(tmp_path, ToyModel(), n=2)
    play_into(tmp_path, ToyModel("bad"), n=2)
    perspectives = list(read_perspectives([tmp_path]))
    assert len(perspectives) == 8  # 2 episodes x 2 players x 2 models
    sayer = next(p for p in perspectives if p.role == "Sayer" and p.outcome == "success")
    assert sayer.messages[0]["role"] == "user" and sayer.messages[1]["content"].startswith("SAY:")
    assert all(a["role"] != b["role"] for a, b in zip(sayer.messages, sayer.messages[1:]))
    assert {p.outcome for p in perspectives} == {"success", "lose"}


def test_sft_rows_episode_and_turn_level(tmp_path):
    play_into(tmp_path, ToyModel(), n=3)
    perspectives = list(read_perspectives([tmp_path]))
    rows = sft_rows(perspectives)
    assert len(rows) == 6 and {r["role"] for r in rows} == {"Sayer", "Echoer"}
    assert set(rows[0]) == {"messages", "game", "experiment", "game_id", "role", "model", "outcome", "main_score", "split"}
    turns = sft_rows(perspectives, turn_level=True, dedup=False)
    assert len(turns) == 6 * 3  # three assistant turns per player
    for row in turns:
        assert row["messages"][-1]["role"] == "assistant"
    # identical prefixes (the Echoers' first turns start alike once the numbers repeat) are kept only once
    unique = {json.dumps(row["messages"]) for row in turns}
    assert len(sft_rows(perspectives, turn_level=True)) == len(unique)
    assert sft_rows(perspectives, outcomes=("lose",)) == []


def test_holdout_is_by_instance_without_leakage(tmp_path):
    play_into(tmp_path, ToyModel(), n=40)
    rows = sft_rows(read_perspectives([tmp_path]), holdout=0.3)
    splits = {}
    for row in rows:
        splits.setdefault(row["game_id"], set()).add(row["split"])
    assert all(len(s) == 1 for s in splits.values())
    assert {"train", "validation"} == {s for v in splits.values() for s in v}
    assert holdout_split(("a", "b", "1"), 0.0) == "train"


def test_dpo_pairs_episode_and_turn_level():
    win = perspective("success", [U("n=1"), A("ECHO: 1"), U("n=2"), A("ECHO: 2")], model="good")
    lose = perspective("lose", [U("n=1"), A("ECHO: 1"), U("n=2"), A("ECHO: 9")], model="bad")
    aborted = perspective("aborted", [U("n=1"), A("hello")], model="worse")
    other_instance = perspective("lose", [U("n=5"), A("ECHO: 6")], game_id=1)
    episode = dpo_rows([win, lose, aborted, other_instance])
    assert len(episode) == 2
    assert episode[0]["prompt"] == [U("n=1")] and episode[0]["chosen"] == [A("ECHO: 1"), U("n=2"), A("ECHO: 2")]
    assert {r["rejected_outcome"] for r in episode} == {"lose", "aborted"}
    turn = dpo_rows([win, lose, aborted], level="turn")
    by_turn = {r["branch_turn"]: r for r in turn}
    assert by_turn[1]["prompt"] == [U("n=1"), A("ECHO: 1"), U("n=2")]
    assert by_turn[1]["chosen"] == [A("ECHO: 2")] and by_turn[1]["rejected"] == [A("ECHO: 9")]
    assert by_turn[0]["rejected"] == [A("hello")]
    assert len(dpo_rows([win, lose, aborted], level="turn", first_turn_cap=0)) == 1
    assert len(dpo_rows([win, lose, aborted], negatives_per_positive=1)) == 1


def test_rows_round_trip_jsonl_and_parquet(tmp_path):
    rows = [{"messages": [U("a"), A("b")], "game": "echo", "split": "train"}]
    for name in ("d.jsonl", "d.parquet"):
        assert read_rows(write_rows(rows, tmp_path / name)) == rows


def test_datasets_from_clembench_transcripts(clembench_runs):
    perspectives = list(read_perspectives(clembench_runs))
    games = {p.game for p in perspectives}
    assert len(games) == 14
    sft = sft_rows(perspectives)
    assert sft and all(r["outcome"] == "success" for r in sft)
    for row in sft:
        roles = [m["role"] for m in row["messages"]]
        assert roles[0] == "user" and all(a != b for a, b in zip(roles, roles[1:]))
    pairs = dpo_rows(perspectives, level="turn")
    for pair in pairs:
        assert pair["chosen"] != pair["rejected"] and pair["prompt"][-1]["role"] == "user"
    json.dumps(pairs)

"""``playpen serve``: a real OpenEnv server on 127.0.0.1 (an ephemeral port), driven by OpenEnv's client and by
plain HTTP; every game's episode scores as ``playpen run``'s; hostile requests are refused 4xx, never a crash."""

import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("openenv")
httpx = pytest.importorskip("httpx")

from websockets.sync.client import connect  # noqa: E402

from playpen.envs.openenv import PlaypenAction, PlaypenClient  # noqa: E402
from playpen.envs.server import (  # noqa: E402
    Episodes, Matches, NoRoom, Recorder, Served, create_app, running, served_rows)
from playpen.games import resolve_games  # noqa: E402
from playpen.models.scripted import ScriptedModel  # noqa: E402
from playpen.results.records import episodes, read_json  # noqa: E402
from playpen.rollout.planner import run_benchmark, select_rows  # noqa: E402

SPECS = resolve_games(["all"])
ROWS = {spec.name: select_rows(spec, split="validation") for spec in SPECS}
TIMEOUT = 30  # seconds per request: a hung server fails the test instead of hanging it
LIMIT = 64 << 10  # bytes: the body limit of the test server


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return tmp_path_factory.mktemp("served")


@pytest.fixture(scope="module")
def server(results):
    served = Served(SPECS, served_rows(SPECS, ROWS), {spec.name: spec.learner_role() for spec in SPECS},
                    ScriptedModel(), recorder=Recorder(results, "learner"), episodes=Episodes(limit=8))
    with running(create_app(served, max_sessions=96, max_body=LIMIT), max_body=LIMIT) as url:
        yield url


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server, timeout=TIMEOUT) as client:
        yield client


def learner_policy(spec, row):
    return spec.scripted(spec.learner_role(), "competent", row.experiment, row.instance, 0)


@pytest.mark.parametrize("spec", SPECS, ids=[spec.name for spec in SPECS])
def test_a_served_episode_scores_as_playpen_run_does(spec, server, tmp_path):
    row = ROWS[spec.name][0]
    policy = learner_policy(spec, row)
    with PlaypenClient(base_url=server, message_timeout_s=TIMEOUT).sync() as env:
        result = env.reset(game=spec.name, index=0)
        assert env.state().instance == row.key and result.observation.role == spec.learner_role()
        while not result.done:
            result = env.step(PlaypenAction(text=policy(result.observation.messages)))
        recorded = Path(result.observation.info["recorded"])
    run_benchmark([spec], [ScriptedModel()], tmp_path, lambda s: [row])
    played = read_json(next(tmp_path.glob(f"scripted/{row.key}")) / "scores.json")
    served = read_json(recorded / "scores.json")
    assert json.dumps(served["episode scores"]) == json.dumps(played["episode scores"])
    assert json.dumps(served["turn scores"]) == json.dumps(played["turn scores"])
    assert result.observation.info["scores"] == served["episode scores"]
    assert served["meta"]["played_from"]["settings"][spec.learner_role()]["model"] == "learner"


def test_served_episodes_are_read_by_eval_score_and_data(server, results, http):
    from playpen.data.episodes import read_perspectives
    from playpen.eval.report import run_evaluation
    from playpen.eval.rescore import rescore

    for index in range(2):  # the same instance twice: two episode folders
        body = http.post("/reset", json={"game": "wordle", "index": 0, "episode_id": f"twice-{index}"}).json()
        while not body["done"]:
            body = http.post("/step", json={"action": {"text": "guess: crane"}, "episode_id": f"twice-{index}"}).json()
    folders = sorted(p.name for p in (results / "learner" / "wordle").glob("*/episode_*"))
    assert "episode_0" in folders and "episode_0_2" in folders
    evaluation = run_evaluation(results, games={"wordle"})
    assert evaluation.tables and evaluation.tables[0].games["wordle"].episodes >= 2
    rescored, problems = rescore(results, {"wordle"})
    assert rescored >= 2 and problems == []
    views = [p for p in read_perspectives([results]) if p.game == "wordle"]
    assert len(views) >= 2 and all(p.messages for p in views)
    assert sum(1 for e in episodes(results, {"wordle"}) if e.run == "learner") >= 2


def test_a_seed_picks_the_same_instance_in_every_session(server):
    keys = []
    for _ in range(2):
        with PlaypenClient(base_url=server, message_timeout_s=TIMEOUT).sync() as env:
            env.reset(seed=11)
            keys.append(env.state().instance)
            env.reset(seed=12)
            keys.append(env.state().instance)
    assert keys[0] == keys[2] and keys[1] == keys[3]


def test_an_episode_over_plain_http_by_episode_id(http):
    first = http.post("/reset", json={"game": "taboo", "index": 1, "episode_id": "plain"})
    assert first.status_code == 200 and first.json()["observation"]["role"] == "WordGuesser"
    assert first.json()["observation"]["messages"][-1]["role"] == "user" and not first.json()["done"]
    step = http.post("/step", json={"action": {"text": "no protocol here"}, "episode_id": "plain"})
    assert step.status_code == 200 and step.json()["done"] and step.json()["observation"]["info"]["stop"] == "parse_error"
    again = http.post("/step", json={"action": {"text": "GUESS: x"}, "episode_id": "plain"})
    assert again.status_code == 404 and "no running episode 'plain'" in again.json()["detail"]


@pytest.mark.parametrize("body, status, detail", [
    (b"{not json", 422, "JSON"),
    (b'{"action": {"wrong": 1}}', 422, "text"),
    (b'{"action": {"text": 5}}', 422, "string"),
    (b'[1, 2]', 422, ""),
    (b'{"action": {"text": "GUESS: x"}}', 409, "no running episode in this session"),
    (b'{"action": {"text": "GUESS: x"}, "episode_id": "never-started"}', 404, "never-started"),
])
def test_hostile_steps_are_refused_4xx(http, body, status, detail):
    answer = http.post("/step", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == status and detail in answer.text


@pytest.mark.parametrize("body, status, detail", [
    (b"\xff\xfe garbage", 422, ""),
    (b'{"game": "chess"}', 400, "unknown game 'chess'"),
    (b'{"game": ["taboo"]}', 400, "unknown game"),
    (b'{"game": "taboo", "index": "first"}', 400, "must be an integer"),
    (b'{"seed": -1}', 422, "greater than or equal to 0"),
])
def test_hostile_resets_are_refused_4xx(http, body, status, detail):
    answer = http.post("/reset", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == status and detail in answer.text


def test_huge_bodies_are_refused_413_announced_or_streamed(http):
    huge = b'{"action": {"text": "' + b"A" * (2 * LIMIT) + b'"}}'
    assert http.post("/step", content=huge, headers={"content-type": "application/json"}).status_code == 413

    def chunks():  # no Content-Length: the limit is counted as the body streams in
        for start in range(0, len(huge), 8192):
            yield huge[start:start + 8192]

    assert http.post("/step", content=chunks(), headers={"content-type": "application/json"}).status_code == 413
    with socket.create_connection((http.base_url.host, http.base_url.port), timeout=TIMEOUT) as raw:
        raw.sendall(b"POST /reset HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 99999999999\r\n\r\n{}")
        assert raw.recv(64).startswith(b"HTTP/1.1 413")  # refused on the announced length, without reading it
    with connect(str(http.base_url.copy_with(scheme="ws").join("/ws")), open_timeout=TIMEOUT) as ws:
        ws.send(json.dumps({"type": "step", "data": {"text": "A" * (2 * LIMIT)}}))
        with pytest.raises(Exception):  # the server closes a connection whose message is over the limit
            ws.recv(timeout=TIMEOUT)
    assert http.get("/health").status_code == 200


def test_malformed_websocket_messages_and_an_unknown_session(server, http):
    url = server.replace("http", "ws") + "/ws"
    with connect(url, open_timeout=TIMEOUT) as ws:
        ws.send("{not json")
        assert json.loads(ws.recv(timeout=TIMEOUT))["data"]["code"] == "INVALID_JSON"
        ws.send(json.dumps({"type": "step", "data": {"text": "GUESS: x"}}))
        assert "reset first" in json.loads(ws.recv(timeout=TIMEOUT))["data"]["message"]
        ws.send(json.dumps({"type": "reset", "data": {"game": "wordle", "index": 0}}))
        assert json.loads(ws.recv(timeout=TIMEOUT))["type"] == "observation"  # the session survived
    with connect(url + "?session_id=unknown", open_timeout=TIMEOUT) as ws:
        assert "Unknown session_id" in json.loads(ws.recv(timeout=TIMEOUT))["data"]["message"]
    assert http.get("/health").status_code == 200


def test_concurrent_resets_and_steps_of_one_named_episode(http):
    barrier = threading.Barrier(16)

    def reset(_):
        barrier.wait(timeout=TIMEOUT)
        return http.post("/reset", json={"game": "taboo", "index": 2, "episode_id": "contested"}).status_code

    with ThreadPoolExecutor(16) as pool:
        assert set(pool.map(reset, range(16))) == {200}

    def step(_):
        barrier.wait(timeout=TIMEOUT)
        return http.post("/step", json={"action": {"text": "GUESS: x"}, "episode_id": "contested"}).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(step, range(16)))
    assert codes.count(200) >= 1 and set(codes) <= {200, 404, 409}  # one steps it; the others are told why
    assert http.get("/health").status_code == 200


def test_many_websocket_sessions_reset_at_once(server):
    def session(index):
        with PlaypenClient(base_url=server, message_timeout_s=TIMEOUT).sync() as env:
            result = env.reset(seed=index)
            return env.state().instance, result.observation.role

    with ThreadPoolExecutor(48) as pool:
        seen = list(pool.map(session, range(48)))
    assert len(seen) == 48 and len({key for key, _ in seen}) > 1


def test_named_episodes_are_bounded(http):
    codes = [http.post("/reset", json={"game": "wordle", "index": 0, "episode_id": f"fill-{i}"}).status_code
             for i in range(12)]
    assert 503 in codes and set(codes) <= {200, 503}
    refused = http.post("/reset", json={"game": "wordle", "episode_id": "one-more"})
    assert refused.status_code == 503 and "named episodes" in refused.json()["detail"]
    for i in range(12):  # finish them, freeing the slots for the other tests
        http.post("/step", json={"action": {"text": "x"}, "episode_id": f"fill-{i}"})


def test_episodes_table_expires_idle_entries():
    table = Episodes(limit=1, idle_s=0.0)
    table.put("a", object())
    table.put("b", object())  # "a" was idle longer than 0 s: dropped, so there is room
    assert len(table) == 1
    full = Episodes(limit=1, idle_s=60)
    full.put("x", object())
    full.put("x", object())  # a reset of a held id takes no more room
    with pytest.raises(NoRoom, match="holds 1 named episodes"):
        full.put("y", object())


@pytest.fixture(scope="module")
def selfplay(tmp_path_factory):
    """No partner models: two clients play taboo's two roles against each other (a ``match``)."""
    specs = resolve_games(["taboo", "wordle"])
    results = tmp_path_factory.mktemp("selfplay")
    served = Served(specs, served_rows(specs, {s.name: ROWS[s.name] for s in specs}),
                    {s.name: s.learner_role() for s in specs}, None, recorder=Recorder(results, "learner"),
                    matches=Matches(wait_s=20))
    with running(create_app(served, max_sessions=16)) as url:
        yield url, results


def test_two_clients_play_every_role_of_a_match(selfplay, tmp_path):
    url, results = selfplay
    spec = resolve_games(["taboo"])[0]
    row = ROWS["taboo"][3]

    def play(role):
        policy = spec.scripted(role, "competent", row.experiment, row.instance, 0)
        with PlaypenClient(base_url=url, message_timeout_s=TIMEOUT).sync() as env:
            result = env.reset(match="m1", role=role, game="taboo", index=3)
            assert env.state().instance == row.key and result.observation.role == role
            while not result.done:
                result = env.step(PlaypenAction(text=policy(result.observation.messages)))
            return result

    with ThreadPoolExecutor(2) as pool:
        describer, guesser = pool.map(play, spec.roles)
    assert describer.reward == guesser.reward and describer.observation.info["recorded"] == \
        guesser.observation.info["recorded"]
    run_benchmark([spec], [ScriptedModel()], tmp_path, lambda s: [row])
    played = read_json(next(tmp_path.glob(f"scripted/{row.key}")) / "scores.json")
    served = read_json(Path(describer.observation.info["recorded"]) / "scores.json")
    assert json.dumps(served["episode scores"]) == json.dumps(played["episode scores"])
    assert Path(describer.observation.info["recorded"]).parts[-4] == "learner"  # one model in every role


def test_a_match_refuses_a_foreign_role_a_missing_match_and_a_lone_client(selfplay):
    url, _ = selfplay
    with httpx.Client(base_url=url, timeout=TIMEOUT) as http:
        answer = http.post("/reset", json={"game": "taboo"})
        assert answer.status_code == 400 and "match=" in answer.json()["detail"]
        answer = http.post("/reset", json={"game": "taboo", "match": "bad-role", "role": "Judge"})
        assert answer.status_code == 400 and "WordDescriber, WordGuesser" in answer.json()["detail"]
    with PlaypenClient(base_url=url, message_timeout_s=TIMEOUT).sync() as env:
        with pytest.raises(RuntimeError, match="no client took WordDescriber within 20 s"):
            env.reset(match="lonely", role="WordGuesser", game="taboo")
    with PlaypenClient(base_url=url, message_timeout_s=TIMEOUT).sync() as env:  # one role: starts at once
        assert not env.reset(match="solo", role="WordGuesser", game="wordle").done


def test_a_client_that_leaves_ends_the_match_for_the_other(selfplay):
    url, _ = selfplay
    first = PlaypenClient(base_url=url, message_timeout_s=TIMEOUT).sync()
    first.connect()
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(first.reset, match="left", role="WordGuesser", game="taboo", index=0)
        with PlaypenClient(base_url=url, message_timeout_s=TIMEOUT).sync() as second:
            second.reset(match="left", role="WordDescriber", game="taboo", index=0)
        # the describer went away before giving its clue: the guesser's wait ends with the reason
        with pytest.raises(RuntimeError, match="the client playing WordDescriber left"):
            waiting.result(timeout=TIMEOUT)
    first.close()

"""Classes 1 and 7: what a server sends back (lone surrogates) and what its address holds (credentials)."""

import json

from playpen.testing.server import ScriptedAnswer, TestServer


def _served(server, **extra) -> str:
    return json.dumps({"backend": "openai", "base_url": server.base_url, "model_id": server.model_id,
                       "model_name": "served", "send_request_context": True, "max_retries": 0, **extra})


def test_a_reply_with_a_lone_surrogate_is_recorded_and_sent_back_encodable(guarded):
    scripted = ScriptedAnswer()
    with TestServer(answer=lambda messages, body: scripted(messages, body) + " \ud800") as server:
        result = guarded.cli("run", "-g", "taboo", "--split", "validation", "-N", "3", "-m", _served(server),
                             "-r", guarded.results)
        later_requests = [r for r in server.requests if len(r["body"]["messages"]) > 2]
    assert result.code == 0, result.stderr
    assert "played 3 episodes" in result.stdout and "0 errored" in result.stdout
    interactions = [json.loads(p.read_text(encoding="utf-8")) for p in guarded.results.rglob("interactions.json")]
    replies = [e["action"]["content"] for i in interactions for r in i["turns"] for e in r
               if e["action"]["type"] == "get message"]
    assert len(interactions) == 3 and replies and all(reply.endswith(" \ufffd") for reply in replies)
    assert len(guarded.finished()) == 3 and not list(guarded.results.rglob("error.json"))
    # the replies went back to the server in the next requests' history, as valid UTF-8 JSON
    assert later_requests and any("\ufffd" in m["content"] for r in later_requests for m in r["body"]["messages"])


def test_a_lone_surrogate_in_an_instance_file_reaches_the_server_encodable(guarded):
    from playpen.games import get_game

    data = json.loads(get_game("taboo").instances_file("validation").read_text())
    experiment = data["experiments"][0]
    instance = {**experiment["game_instances"][0]}
    instance["related_word"] = [w + "\ud800" for w in instance["related_word"]]
    path = guarded.write("instances.json", json.dumps({"experiments": [{**experiment, "game_instances": [instance]}]}))
    with TestServer(answer=lambda messages, body: "CLUE: a striped animal") as server:
        entry = json.dumps({"backend": "openai", "base_url": server.base_url, "model_id": server.model_id})
        result = guarded.cli("run", "-g", "taboo", "-i", path, "-m", entry, "-r", guarded.results)
        prompts = [m["content"] for r in server.requests for m in r["body"]["messages"]]
    assert result.code == 0, result.stderr
    assert any("\ufffd" in prompt for prompt in prompts) and len(guarded.finished()) == 1
    recorded = json.loads(next(guarded.results.rglob("instance.json")).read_text(encoding="utf-8"))
    assert recorded == instance  # the record keeps the instance as it was (its JSON escape)


def test_one_episode_that_cannot_be_written_is_errored_and_the_run_goes_on(guarded):
    blocker = guarded.results / "scripted" / "taboo" / "0_high_en" / "episode_1" / "transcript.html"
    blocker.mkdir(parents=True)  # a folder where the transcript file must go
    result = guarded.cli("run", "-g", "taboo", "-m", "scripted", "--split", "validation", "-n", "3",
                         "-r", guarded.results)
    assert result.code == 1
    line = result.error_line
    assert "1 of 9 episodes errored" in line and "run the same command again" in line
    assert "cannot write the episode's records" in line and "episode_1" in line
    assert len(guarded.finished()) == 8
    assert json.loads((blocker.parent / "error.json").read_text())["error"].startswith("cannot write")


def test_credentials_in_base_url_are_never_recorded(guarded):
    with TestServer(faults=["500"]) as server:
        host = server.base_url.split("//", 1)[1]
        entry = _served(server, base_url=f"http://alice:s3cret@{host}")
        result = guarded.cli("run", "-g", "taboo", "--split", "validation", "-N", "3", "-m", entry,
                             "-r", guarded.results)
    assert result.code == 1 and "1 of 3 episodes errored" in result.stderr  # the first episode met the 500s
    written = {p: p.read_text(encoding="utf-8") for p in guarded.results.rglob("*") if p.is_file()}
    assert any(p.name == "error.json" for p in written) and any(p.name == "experiment.json" for p in written)
    for path, text in written.items():
        assert "s3cret" not in text and "alice" not in text, path
    assert "s3cret" not in result.stdout + result.stderr
    recorded = json.loads(next(guarded.results.rglob("scores.json")).read_text())["player_models"]["0"]
    assert recorded["base_url"] == f"http://{host}"


def test_verify_given_as_a_string_is_a_one_line_error(guarded):
    guarded.registry({"strict-tls": {"backend": "openai", "base_url": "https://127.0.0.1:9/v1", "verify": "false"}})
    result = guarded.cli("run", "-g", "taboo", "-m", "strict-tls", "-r", guarded.results)
    assert result.code == 1
    assert "model 'strict-tls'" in result.error_line and '"verify" must be true or false' in result.error_line
    assert not guarded.results.exists()


def test_redaction_strips_userinfo_and_query_strings():
    from playpen.results.store import redact

    record = {"base_url": "https://bob:pw@example.org:8443/v1?key=abc&x=1",
              "error": "POST https://bob:pw@example.org/v1/chat (see https://example.org/doc?token=t)",
              "list": ["http://u@h/p?q=1"], "kept": "no url here: a@b?c"}
    assert redact(record) == {"base_url": "https://example.org:8443/v1",
                              "error": "POST https://example.org/v1/chat (see https://example.org/doc)",
                              "list": ["http://h/p"], "kept": "no url here: a@b?c"}

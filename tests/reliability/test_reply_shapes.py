"""Class 1 of issue 23: answers that are not replies, and settings that would make a run hang or crash."""

import json

import pytest

from playpen.testing.server import TestServer


def _served(server, **extra) -> str:
    return json.dumps({"backend": "openai", "base_url": server.base_url, "model_id": server.model_id,
                       "model_name": "served", "send_request_context": True, "max_retries": 0, **extra})


@pytest.mark.parametrize("fault, reason", [("null", "no content"), ("refusal", "the model refused: I cannot help"),
                                           ("tool_call", "the answer is a tool call")])
def test_an_answer_without_text_is_a_backend_error_not_a_played_turn(guarded, fault, reason):
    with TestServer(faults=[fault]) as server:
        result = guarded.cli("run", "-g", "taboo", "--split", "validation", "-N", "3", "-m", _served(server),
                             "-r", guarded.results)
    assert result.code == 1
    line = result.error_line
    assert "1 of 3 episodes errored" in line and "run the same command again" in line
    assert len(guarded.finished()) == 2  # the other episodes are played and kept
    error = json.loads(next(guarded.results.rglob("error.json")).read_text())["error"]
    assert "malformed answer" in error and reason in error
    # the errored episode is played on the rerun, the finished ones are kept as they were
    kept = guarded.finished()
    with TestServer() as server:
        again = guarded.cli("run", "-g", "taboo", "--split", "validation", "-N", "3", "-m", _served(server),
                            "-r", guarded.results)
    assert again.code == 0, again.stderr
    assert len(guarded.finished()) == 3 and all(guarded.finished()[k] == v for k, v in kept.items())


def test_a_valid_reply_next_to_odd_fields_is_played(guarded):
    with TestServer(faults=["odd_fields"] * 40) as server:
        result = guarded.cli("run", "-g", "taboo", "--split", "validation", "-N", "2", "-m", _served(server),
                             "-r", guarded.results)
    assert result.code == 0, result.stderr
    assert "played 2 episodes" in result.stdout and "0 errored" in result.stdout
    assert len(guarded.finished()) == 2


@pytest.mark.parametrize("setting, named", [
    ({"timeout": 0}, '"timeout" must be a number of seconds above 0'),
    ({"timeout": -5}, '"timeout" must be a number of seconds above 0'),
    ({"connect_timeout": 0}, '"connect_timeout" must be a number of seconds above 0'),
    ({"max_retries": -1}, '"max_retries" must be a whole number of at least 0'),
    ({"max_concurrency": 0}, '"max_concurrency" must be a whole number of at least 1'),
    ({"backoff": -1}, '"backoff" must be a number of seconds of at least 0'),
    ({"headers": {"X-Trace": 1}}, '"headers" must map names to strings'),
    ({"headers": ["X-Trace"]}, '"headers" must be an object'),
])
def test_settings_that_would_hang_or_crash_a_run_are_refused_before_it(guarded, setting, named):
    entry = {"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "model_id": "m", **setting}
    result = guarded.cli("run", "-g", "taboo", "-m", json.dumps(entry), "-r", guarded.results)
    assert result.code == 1
    assert named in result.error_line
    assert not guarded.results.exists() or not list(guarded.results.rglob("*.json"))

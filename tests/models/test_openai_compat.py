"""The OpenAI-compatible backend against our real local test server (no mocks)."""

from __future__ import annotations

import asyncio
import gc
import shutil
import socket
import subprocess
import sys
import threading
import time
import warnings

import pytest

from playpen.core.errors import PlaypenError
from playpen.games import get_game
from playpen.models.base import GenerationRequest, GenerationSettings
from playpen.models.openai_compat import OpenAICompatibleModel
from playpen.testing.server import echo_answer
from playpen.rollout.planner import select_rows
from playpen.rollout.engine import EpisodeJob, run_episodes


def ask(text: str, **kw) -> GenerationRequest:
    return GenerationRequest(messages=[{"role": "user", "content": text}], **kw)


def client(server, **options) -> OpenAICompatibleModel:
    options.setdefault("backoff", 0.01)
    options.setdefault("timeout", 5.0)
    return OpenAICompatibleModel(server.base_url, server.model_id, **options)


def test_answers_and_records_the_request(serve):
    server = serve(answer=echo_answer)
    model = client(server, settings=GenerationSettings(temperature=0.7, max_tokens=50), name="echo")
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "one"},
        {"role": "user", "content": "two"},
    ]
    [result] = model.generate([GenerationRequest(messages=messages)])
    assert result.error is None and result.error_kind is None
    assert result.text == "one\n\ntwo"  # consecutive user messages were merged
    body = server.requests[0]["body"]
    assert body["model"] == server.model_id and body["temperature"] == 0.7 and body["max_tokens"] == 50
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "playpen" not in body  # no request context unless asked for
    assert result.prompt == body
    assert result.raw["choices"][0]["message"]["content"] == "one\n\ntwo"
    assert result.usage["prompt_tokens"] == 4  # words, as the test server counts
    assert model.info()["base_url"] == server.base_url
    model.close()


def test_batch_keeps_order_sync_and_async(serve):
    server = serve(answer=echo_answer, latency=0.02, jitter=0.05)
    model = client(server)
    requests = [ask(f"message {i}") for i in range(12)]
    assert [r.text for r in model.generate(requests)] == [f"message {i}" for i in range(12)]
    assert [r.text for r in asyncio.run(model.agenerate(requests))] == [f"message {i}" for i in range(12)]
    assert model.generate([]) == [] and asyncio.run(model.agenerate([])) == []
    model.close()


def test_async_requests_run_concurrently_within_the_limit(serve):
    server = serve(answer=echo_answer, latency=0.3)
    model = client(server, max_concurrency=4)
    started = time.perf_counter()
    results = asyncio.run(model.agenerate([ask(str(i)) for i in range(12)]))
    elapsed = time.perf_counter() - started
    assert all(r.error is None for r in results)
    assert server.max_in_flight == 4  # concurrent, within the limit
    assert elapsed > 0.85  # at least 3 waves of 0.3 s
    assert model.concurrent and not model.batched


def test_sync_generate_is_concurrent_too(serve):
    server = serve(answer=echo_answer, latency=0.3)
    model = client(server, max_concurrency=8)
    results = model.generate([ask(str(i)) for i in range(8)])
    assert all(r.error is None for r in results)
    assert server.max_in_flight >= 4  # sequential requests would never overlap
    model.close()


def test_async_works_across_event_loops(serve):
    server = serve(answer=echo_answer)
    model = client(server)
    for i in range(3):  # a fresh loop each time: the client of a closed loop must not be reused
        assert asyncio.run(model.agenerate([ask(f"loop {i}")]))[0].text == f"loop {i}"


def test_retries_recover_from_injected_faults(serve):
    faults = ["500", "garbage", "drop", "429", "incomplete", "503"]
    server = serve(answer=echo_answer, faults=faults)
    model = client(server, max_retries=len(faults))
    [result] = model.generate([ask("finally")])
    assert result.error is None and result.text == "finally"
    assert server.count == len(faults) + 1


def test_async_retries_recover(serve):
    server = serve(answer=echo_answer, faults=["500", "garbage", "drop"])
    model = client(server, max_retries=3)
    [result] = asyncio.run(model.agenerate([ask("async")]))
    assert result.error is None and result.text == "async"
    assert server.count == 4


def test_timeout_is_retried(serve):
    server = serve(answer=echo_answer, faults=["slow"], slow_seconds=3.0)
    model = client(server, timeout=0.3, max_retries=1)
    started = time.perf_counter()
    [result] = model.generate([ask("late")])
    assert result.error is None and result.text == "late"
    assert time.perf_counter() - started < 2.8  # did not wait for the 3 s answer


def test_error_result_after_retries(serve):
    server = serve(answer=echo_answer, faults=["500"] * 3)
    model = client(server, max_retries=2)
    [result] = model.generate([ask("doomed")])
    assert result.error_kind == "backend"
    assert "failed after 3 attempts" in result.error and "HTTP 500" in result.error
    assert server.base_url in result.error  # says what to check
    assert server.count == 3


def test_timeouts_exhausted_give_an_error(serve):
    server = serve(answer=echo_answer, faults=["slow", "slow"], slow_seconds=3.0)
    [result] = asyncio.run(client(server, timeout=0.2, max_retries=1).agenerate([ask("x")]))
    assert result.error_kind == "backend" and "timeout" in result.error


def test_unreachable_server(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model = OpenAICompatibleModel(f"http://127.0.0.1:{port}/v1", "m", max_retries=1, backoff=0.01)
    [result] = model.generate([ask("anyone?")])
    assert result.error_kind == "backend" and "cannot connect" in result.error
    [result] = asyncio.run(model.agenerate([ask("anyone?")]))
    assert result.error_kind == "backend" and "cannot connect" in result.error


def test_api_key_from_environment(serve, monkeypatch):
    server = serve(answer=echo_answer, api_key="sekret")
    monkeypatch.setenv("PLAYPEN_TEST_KEY", "sekret")
    model = client(server, api_key_env="PLAYPEN_TEST_KEY")
    assert model.generate([ask("hi")])[0].text == "hi"
    assert server.requests[-1]["headers"]["Authorization"] == "Bearer sekret"
    assert "sekret" not in repr(model.generate([ask("hi")])[0].prompt)  # the key is not recorded

    monkeypatch.delenv("PLAYPEN_TEST_KEY")
    before = server.count
    [result] = client(server, api_key_env="PLAYPEN_TEST_KEY").generate([ask("hi")])
    assert result.error_kind == "backend" and "401" in result.error and "PLAYPEN_TEST_KEY" in result.error
    assert server.count == before + 1  # 401 is not retried


def test_context_errors(serve):
    server = serve(answer=echo_answer, context_size=40)
    model = client(server, settings=GenerationSettings(max_tokens=10))
    short, long = ask("short question"), ask("word " * 100)
    results = model.generate([short, long, short])
    assert [r.error_kind for r in results] == [None, "context", None]
    assert "maximum context length" in results[1].error
    assert server.count == 3  # a context error is not retried
    results = asyncio.run(model.agenerate([long, short]))
    assert [r.error_kind for r in results] == ["context", None]


def test_context_size_is_read_from_the_server(serve):
    # vLLM 0.32 answers a request that does not fit: max_tokens cut to what the context has left, the reply
    # ending there with finish_reason "length"; the backend reads max_model_len and refuses it as before
    server = serve(answer=echo_answer, context_size=40, context_overflow="shorten")
    model = client(server, settings=GenerationSettings(max_tokens=10))
    short, long = ask("short question"), ask("word " * 35)
    results = model.generate([short, long])
    assert model.context_size == 40 and model.info()["context_size"] == 40
    assert [r.error_kind for r in results] == [None, "context"]
    assert results[0].text == "short question"
    assert results[1].error == "context exceeded: 35 prompt tokens + max_tokens 10 > context size 40 of playpen-test"
    assert results[1].text == "" and results[1].raw["choices"][0]["finish_reason"] == "length"
    assert results[1].raw["choices"][0]["message"]["content"] == "word word word word word"  # kept in raw
    assert server.count == 2  # not retried
    [alone] = model.generate([ask("word " * 45)])  # a prompt that alone exceeds the context: HTTP 400
    assert alone.error_kind == "context" and "even without any output tokens" in alone.error


def test_a_reply_cut_by_the_context_is_never_a_short_reply(serve):
    # the entry's context_size (larger than the server's) wins over max_model_len; the cut shows anyway
    server = serve(answer=echo_answer, context_size=40, context_overflow="shorten")
    model = client(server, settings=GenerationSettings(max_tokens=10), context_size=1000)
    [result] = model.generate([ask("word " * 35)])
    assert model.context_size == 1000
    assert result.error_kind == "context" and result.error == (
        "context exceeded: the server cut the reply after 5 of max_tokens 10 tokens (finish_reason 'length' "
        "with 35 prompt tokens: its context is full)")


def test_a_reply_cut_at_max_tokens_is_an_answer(serve):
    server = serve(answer=echo_answer, context_size=400, context_overflow="shorten")
    model = client(server, settings=GenerationSettings(max_tokens=10))
    [result] = model.generate([ask(" ".join(f"w{i}" for i in range(20)))])
    assert result.error is None and result.text == " ".join(f"w{i}" for i in range(10))
    assert result.raw["choices"][0]["finish_reason"] == "length"


def test_the_model_listing_is_optional_with_a_model_id(serve):
    server = serve(answer=echo_answer)  # lists no max_model_len
    model = client(server)
    assert model.generate([ask("x")])[0].text == "x" and model.context_size is None
    missing = OpenAICompatibleModel(server.base_url.replace("/v1", "/nope"), None, backoff=0.01, max_retries=0)
    [result] = missing.generate([ask("x")])
    assert result.error_kind == "backend" and "cannot list models" in result.error and server.count == 1


def test_not_found_is_not_retried(serve):
    server = serve(answer=echo_answer)
    model = OpenAICompatibleModel(server.base_url.replace("/v1", "/nope"), "m", backoff=0.01)
    [result] = model.generate([ask("x")])
    assert result.error_kind == "backend" and "404" in result.error and "base_url" in result.error
    assert server.count == 0


def test_model_id_from_the_server(serve):
    server = serve(answer=echo_answer, model_id="served-model")
    model = OpenAICompatibleModel(server.base_url, None, backoff=0.01)
    assert model.generate([ask("x")])[0].text == "x"
    assert model.model_id == "served-model"
    assert server.requests[0]["body"]["model"] == "served-model"


def test_extra_body_and_tokens_field(serve):
    server = serve(answer=echo_answer)
    model = client(server, extra_body={"top_p": 0.5}, max_tokens_field="max_completion_tokens")
    model.generate([ask("x")])
    body = server.requests[0]["body"]
    assert body["top_p"] == 0.5 and "max_completion_tokens" in body and "max_tokens" not in body


def test_missing_ca_bundle_is_a_user_error(tmp_path):
    with pytest.raises(PlaypenError, match="CA bundle"):
        OpenAICompatibleModel("https://example.invalid/v1", "m", ca_bundle=tmp_path / "missing.pem")


def test_scripted_answers_through_the_server(serve, fake_game):
    server = serve()  # default answer: the game's scripted player
    model = client(server, send_request_context=True)
    request = ask(
        "your turn", game="fakegame", role="Asker", episode="fakegame/0_x/episode_0", instance={"target": "apple"}
    )
    assert model.generate([request])[0].text == "competent Asker apple 1"
    assert server.requests[0]["body"]["playpen"]["episode"] == "fakegame/0_x/episode_0"
    # without the context the default answer echoes
    assert client(server).generate([ask("echo me")])[0].text == "echo me"


# ---------------------------------------------------------------------- transport
def test_connections_are_reused_across_calls(serve):
    server = serve(answer=echo_answer)
    model = client(server, max_concurrency=4)

    async def one_at_a_time():
        for i in range(10):
            assert (await model.agenerate([ask(f"a{i}")]))[0].text == f"a{i}"
        await model.agenerate([ask(f"b{i}") for i in range(8)])

    asyncio.run(one_at_a_time())
    assert server.count == 18 and server.connections <= 4  # one keep-alive pool, at most 4 connections
    before = server.connections
    for i in range(5):
        assert model.generate([ask(f"sync {i}")])[0].text == f"sync {i}"
    assert server.connections == before + 1  # the sync path keeps its own connection across calls
    model.close()


def test_async_requests_need_no_worker_threads(serve):
    # 0.3 s per answer: even on a starved CPU the 16 requests overlap in the server
    server = serve(answer=echo_answer, latency=0.3)
    model = client(server, max_concurrency=16)

    def client_threads():  # the test server's threads (one per connection) live in this process too
        return {t.name for t in threading.enumerate() if "process_request_thread" not in t.name}

    async def main():
        threads = client_threads()
        results = await model.agenerate([ask(str(i)) for i in range(16)])
        return results, threads, client_threads()

    results, before, after = asyncio.run(main())
    assert [r.text for r in results] == [str(i) for i in range(16)]
    assert after == before  # requests ran on the caller's event loop
    assert server.max_in_flight >= 8


def test_sync_generate_inside_a_running_event_loop(serve):
    server = serve(answer=echo_answer)
    model = client(server)

    async def caller():  # e.g. a notebook cell: generate() must not try to run this loop again
        return model.generate([ask("from a coroutine")])

    assert asyncio.run(caller())[0].text == "from a coroutine"
    model.close()
    assert model.generate([ask("after close")])[0].text == "after close"  # close() is not the end
    model.close()


def test_no_session_is_left_open(serve):
    server = serve(answer=echo_answer)
    spec = get_game("taboo")
    rows = select_rows(spec, split="validation", per_game=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = client(server, send_request_context=True)
        run_episodes([EpisodeJob(spec, row, {role: model for role in spec.roles}) for row in rows], batch_size=2)
        asyncio.run(model.agenerate([ask("asyncio.run")]))
        model.generate([ask("sync")])
        model.close()
        del model
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_proxy_from_the_environment(serve, monkeypatch):
    server = serve(answer=echo_answer)
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                 "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        nobody = sock.getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{nobody}")
    [result] = client(server, max_retries=0).generate([ask("via proxy")])
    assert result.error_kind == "backend" and "cannot connect" in result.error and server.count == 0
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert client(server).generate([ask("direct")])[0].text == "direct"


@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for 127.0.0.1 (made with the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return str(cert), str(key)


def test_tls_certificates_are_verified(serve, certificate):
    server = serve(answer=echo_answer, tls=certificate)
    assert server.base_url.startswith("https://")
    [result] = client(server, max_retries=0).generate([ask("unknown CA")])
    assert result.error_kind == "backend" and "certificate" in result.error and "ca_bundle" in result.error
    assert client(server, ca_bundle=certificate[0]).generate([ask("private CA")])[0].text == "private CA"
    assert client(server, verify=False).generate([ask("unverified")])[0].text == "unverified"


def test_aiohttp_is_imported_on_first_use_only():
    code = ("import sys, playpen.cli, playpen.models.openai_compat as m; "
            "m.OpenAICompatibleModel('http://127.0.0.1:9/v1', 'x'); print('aiohttp' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"

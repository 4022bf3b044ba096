"""The test server on its own: routes, errors, and the command line."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from playpen.testing.server import TestServer, echo_answer


def test_routes_and_errors(serve):
    server = serve(answer=lambda messages, body: "one two three four", model_id="m1")
    with httpx.Client(base_url=server.base_url, timeout=5) as http:
        assert http.get("/models").json()["data"][0]["id"] == "m1"
        answer = http.post("/chat/completions", json={"messages": [{"role": "user", "content": "x"}], "max_tokens": 2})
        data = answer.json()
        assert data["choices"][0]["message"]["content"] == "one two" and data["choices"][0]["finish_reason"] == "length"
        assert http.post("/chat/completions", content=b"nope").status_code == 400
        assert http.post("/chat/completions", json={"messages": "x"}).status_code == 400
        assert http.get("/nothing").status_code == 404
    failing = serve(answer=lambda messages, body: 1 / 0)
    assert httpx.post(f"{failing.base_url}/chat/completions", json={"messages": []}).status_code == 500
    with pytest.raises(ValueError, match="unknown fault"):
        TestServer(echo_answer, faults=["explode"])


def test_command_line():
    process = subprocess.Popen(
        [sys.executable, "-m", "playpen.testing.server", "--port", "0", "--answer", "echo"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("serving playpen-test at http://127.0.0.1:")
        base_url = line.split(" at ")[1].split()[0]
        reply = httpx.post(
            f"{base_url}/chat/completions", json={"messages": [{"role": "user", "content": "ping"}]}, timeout=5
        )
        assert reply.json()["choices"][0]["message"]["content"] == "ping"
    finally:
        process.terminate()
        process.wait(timeout=10)

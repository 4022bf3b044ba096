"""A small OpenAI-compatible server for tests and benchmarks (stdlib only: ``http.server``, one thread per
connection).

Serves ``POST /v1/chat/completions`` and ``GET /v1/models`` on 127.0.0.1 (a free port by default), with

* a pluggable answer function ``answer(messages, body) -> str``: :func:`echo_answer` (the last user message),
  or :class:`ScriptedAnswer` (default) which plays the game's scripted player when the request carries
  playpen's request context (``send_request_context`` in the backend) and echoes otherwise;
* configurable latency (``latency`` seconds per request, plus up to ``jitter`` seconds);
* fault injection: ``faults=["500", "garbage", ...]`` makes the n-th chat request fail with the n-th fault
  (``"500"``, ``"503"``, ``"429"``, ``"garbage"`` (200 with invalid JSON), ``"incomplete"`` (200, JSON without
  choices), ``"slow"`` (sleeps ``slow_seconds`` first), ``"drop"`` (closes the connection without answering),
  ``"null"`` / ``"refusal"`` / ``"tool_call"`` (200 whose message has no text: ``content`` null, a refusal, only
  a tool call), ``"odd_fields"`` (a valid reply next to fields of unexpected types: ``usage`` a list),
  ``None`` = no fault);
* a context check: with ``context_size`` set (listed as ``max_model_len`` by ``GET /v1/models``, as vLLM does),
  prompt tokens (whitespace-separated words of all messages) + max_tokens above it give, with
  ``context_overflow="error"``, older vLLM's HTTP 400 "maximum context length" error; with ``"shorten"``, vLLM
  0.32's answer: max_tokens is cut to what the context has left and the reply ends there with
  ``finish_reason: "length"`` (HTTP 400 only for a prompt that alone exceeds the context);
* token ids and logprobs as vLLM reports them, when asked (``return_token_ids``: ``prompt_token_ids`` and
  ``choices[0].token_ids``; ``logprobs``: ``choices[0].logprobs.content``), from a stand-in tokenizer of one
  token per UTF-8 byte (:func:`prompt_tokens`, :func:`reply_tokens`) under a uniform distribution;
* an optional ``api_key`` (``Authorization: Bearer <key>`` required, else 401);
* optional TLS: ``tls=(certfile, keyfile)`` serves ``https://``.

Every chat request (body and headers) is kept in ``server.requests`` (``record=False`` keeps only ``count``);
``server.max_in_flight`` is the highest number of requests handled at the same time, ``server.connections``
the number of TCP connections accepted (keep-alive reuse shows as fewer connections than requests).

    with TestServer(answer=echo_answer, faults=["500"]) as server:
        model = OpenAICompatibleModel(server.base_url, server.model_id)

Command line: ``python -m playpen.testing.server --port 8000 [--answer echo] [--latency 0.1]``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Sequence

from playpen.core.messages import last_user_message

Answer = Callable[[list[dict[str, str]], dict[str, Any]], str]
FAULTS = ("500", "502", "503", "429", "garbage", "incomplete", "slow", "drop", "null", "refusal", "tool_call",
          "odd_fields")
#: 200 answers whose message holds no text (what the client must take for a failed request, not an empty reply)
TEXTLESS = {"null": {"role": "assistant", "content": None},
            "refusal": {"role": "assistant", "content": None, "refusal": "I cannot help with that."},
            "tool_call": {"role": "assistant", "tool_calls": [{"id": "call_0", "type": "function",
                                                               "function": {"name": "guess", "arguments": "{}"}}]}}
#: what a server does with a request whose prompt + max_tokens exceed its context (see the module docstring)
CONTEXT_OVERFLOW = ("error", "shorten")

#: the stand-in tokenizer's ids: 0-255 are UTF-8 bytes, END_OF_TURN closes a message (a reply that stopped)
END_OF_TURN = 256
#: the logprob reported for every token: the stand-in model is uniform over its 257 ids
UNIFORM_LOGPROB = -math.log(END_OF_TURN + 1)


def reply_tokens(text: str, stopped: bool = True) -> list[int]:
    """A reply's token ids: its bytes, then END_OF_TURN if it stopped (not when cut at ``max_tokens``). A lone
    surrogate (which a hostile answer may hold) becomes its three surrogate-escape bytes instead of an error."""
    return list(text.encode("utf-8", "surrogatepass")) + ([END_OF_TURN] if stopped else [])


def prompt_tokens(messages: list[dict[str, Any]]) -> list[int]:
    """The prompt's token ids: every message as ``role: `` and its content, closed by END_OF_TURN, then
    ``assistant: ``. Prefix-preserving: a conversation's next prompt starts with this prompt plus the reply."""
    ids: list[int] = []
    for message in messages:
        ids += list(f"{message.get('role')}: ".encode("utf-8")) + reply_tokens(str(message.get("content") or ""))
    return ids + list(b"assistant: ")


def decode_tokens(ids: list[int]) -> str:
    """The text of stand-in token ids (END_OF_TURN left out)."""
    return bytes(i for i in ids if i != END_OF_TURN).decode("utf-8", errors="replace")


def echo_answer(messages: list[dict[str, str]], body: dict[str, Any]) -> str:
    """The content of the last user message."""
    return last_user_message(messages)


class ScriptedAnswer:
    """The game's scripted player (needs the ``playpen`` request context); echoes without it."""

    def __init__(self, skill: str = "competent", seed: int = 0, fallback: Answer = echo_answer):
        from playpen.models.scripted import ScriptedModel

        self.model = ScriptedModel(skill=skill, seed=seed)
        self.fallback = fallback
        self._lock = threading.Lock()

    def __call__(self, messages: list[dict[str, str]], body: dict[str, Any]) -> str:
        context = body.get("playpen")
        if not isinstance(context, dict) or not context.get("game"):
            return self.fallback(messages, body)
        from playpen.models.base import GenerationRequest

        request = GenerationRequest(
            messages=messages,
            game=context["game"],
            role=context.get("role", ""),
            episode=context.get("episode", ""),
            experiment=context.get("experiment") or {},
            instance=context.get("instance") or {},
        )
        with self._lock:  # policies may keep per-episode state
            result = self.model.generate([request])[0]
        if result.error:
            raise RuntimeError(result.error)
        return result.text


class TestServer:
    """An OpenAI-compatible server in a background thread. Use as a context manager or start()/stop()."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        answer: Answer | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model_id: str = "playpen-test",
        latency: float = 0.0,
        jitter: float = 0.0,
        faults: Sequence[str | None] = (),
        slow_seconds: float = 5.0,
        context_size: int | None = None,
        context_overflow: str = "error",
        api_key: str | None = None,
        seed: int = 0,
        record: bool = True,
        tls: tuple[str, str] | None = None,
    ):
        for fault in faults:
            if fault is not None and fault not in FAULTS:
                raise ValueError(f"unknown fault {fault!r} (use one of {', '.join(FAULTS)})")
        if context_overflow not in CONTEXT_OVERFLOW:
            raise ValueError(f"unknown context_overflow {context_overflow!r} (use one of {', '.join(CONTEXT_OVERFLOW)})")
        self.answer: Answer = answer if answer is not None else ScriptedAnswer()
        self.host, self.port = host, port
        self.model_id = model_id
        self.latency, self.jitter = latency, jitter
        self.faults = list(faults)
        self.slow_seconds = slow_seconds
        self.context_size = context_size
        self.context_overflow = context_overflow
        self.api_key = api_key
        self.tls = tls
        #: keep every request's body and headers in ``requests`` (turn off for long benchmarks)
        self.record = record
        self.requests: list[dict[str, Any]] = []
        self.count = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.connections = 0
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}/v1"

    def start(self) -> "TestServer":
        server = _Server((self.host, self.port), _handler(self))
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"playpen-testserver-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def serve_forever(self) -> None:
        if self._server is None:
            self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> "TestServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ behaviour
    def _next_fault(self, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, str | None]:
        with self._lock:
            index = self.count
            self.count += 1
            if self.record:
                self.requests.append({"body": body, "headers": headers})
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            fault = self.faults[index] if index < len(self.faults) else None
            delay = self.latency + (self._random.random() * self.jitter if self.jitter else 0.0)
        if delay:
            time.sleep(delay)
        return index, fault

    def _done(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def completion(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """(status, JSON) for a chat request without faults."""
        messages = body.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            return 400, _error("'messages' must be a list of {role, content} objects", "BadRequestError")
        max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 256)
        prompt_words = sum(len(str(m.get("content") or "").split()) for m in messages)
        if self.context_size is not None and prompt_words + max_tokens > self.context_size:
            if self.context_overflow == "error":
                return 400, _error(
                    f"This model's maximum context length is {self.context_size} tokens. However, you requested "
                    f"{prompt_words + max_tokens} tokens ({prompt_words} in the messages, {max_tokens} in the "
                    "completion). Please reduce the length of the messages or completion.",
                    "BadRequestError",
                )
            if prompt_words >= self.context_size:
                return 400, _error(
                    f"This model's maximum context length is {self.context_size} tokens. However, your prompt "
                    f"contains {prompt_words} input tokens, which exceeds this limit even without any output "
                    "tokens. Please reduce the length of the input prompt.",
                    "BadRequestError",
                )
            max_tokens = self.context_size - prompt_words
        try:
            text = self.answer(messages, body)
        except Exception as error:
            return 500, _error(f"answer function failed: {type(error).__name__}: {error}", "InternalServerError")
        words = text.split(" ")
        finish = "stop"
        if len(words) > max_tokens:
            text, finish = " ".join(words[:max_tokens]), "length"
        completion_tokens = len(text.split())
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
        answer: dict[str, Any] = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:16]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.model_id,
            "choices": [choice],
            "usage": {
                "prompt_tokens": prompt_words,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_words + completion_tokens,
            },
        }
        tokens = reply_tokens(text, stopped=finish == "stop") if body.get("return_token_ids") or body.get("logprobs") else []
        if body.get("return_token_ids"):
            answer["prompt_token_ids"] = prompt_tokens(messages)
            choice["token_ids"] = tokens
        if body.get("logprobs"):
            choice["logprobs"] = {"content": [
                {"token": f"token_id:{t}", "logprob": UNIFORM_LOGPROB, "bytes": [t] if t < 256 else [],
                 "top_logprobs": []} for t in tokens]}
        return 200, answer


class _Server(ThreadingHTTPServer):
    # the default listen backlog (5) drops connections when many clients connect at once; a dropped SYN
    # costs a one-second retransmission, which would dominate every concurrency measurement
    request_queue_size = 1024
    daemon_threads = True


def _error(message: str, kind: str, code: int = 400) -> dict[str, Any]:
    return {
        "object": "error",
        "message": message,
        "type": kind,
        "code": code,
        "error": {"message": message, "type": kind, "code": code},
    }


def _handler(server: TestServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "playpen-testserver"
        # headers and body go out in two writes: without TCP_NODELAY, Nagle + delayed ACK add ~40 ms per reply
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def setup(self) -> None:  # once per connection
            super().setup()
            with server._lock:
                server.connections += 1

        def _send(self, status: int, payload: Any, extra: dict[str, str] | None = None) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            if server.api_key is None or self.headers.get("Authorization") == f"Bearer {server.api_key}":
                return True
            self._send(401, _error("invalid or missing API key", "AuthenticationError", 401))
            return False

        def do_GET(self) -> None:
            if self.path.rstrip("/") not in ("/v1/models", "/models"):
                self._send(404, _error(f"no route {self.path}", "NotFoundError", 404))
                return
            if self._authorised():
                self._send(
                    200,
                    {
                        "object": "list",
                        "data": [{"id": server.model_id, "object": "model", "created": 0, "owned_by": "playpen",
                                  **({"max_model_len": server.context_size} if server.context_size else {})}],
                    },
                )

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                self._send(404, _error(f"no route {self.path}", "NotFoundError", 404))
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._send(400, _error("request body is not JSON", "BadRequestError"))
                return
            index, fault = server._next_fault(body, dict(self.headers.items()))
            try:
                if not self._authorised():
                    return
                if fault == "drop":
                    self.close_connection = True
                    return
                if fault == "slow":
                    time.sleep(server.slow_seconds)
                elif fault in ("500", "502", "503"):
                    self._send(int(fault), _error("injected server error", "InternalServerError", int(fault)))
                    return
                elif fault == "429":
                    self._send(429, _error("injected rate limit", "RateLimitError", 429), {"Retry-After": "0"})
                    return
                elif fault == "garbage":
                    self._send(200, b"{this is not JSON")
                    return
                elif fault == "incomplete":
                    self._send(200, {"id": "x", "object": "chat.completion", "choices": []})
                    return
                status, payload = server.completion(body)
                if fault in TEXTLESS and status == 200:
                    payload["choices"][0]["message"] = TEXTLESS[fault]
                elif fault == "odd_fields" and status == 200:
                    payload.update(usage=[1, 2, 3], prompt_token_ids="none")
                self._send(status, payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout)
            finally:
                server._done()

    return Handler


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m playpen.testing.server",
        description="A small OpenAI-compatible server for tests and benchmarks.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 = a free port")
    parser.add_argument("--model-id", default="playpen-test")
    parser.add_argument(
        "--answer",
        choices=("scripted", "scripted-bad", "echo"),
        default="scripted",
        help="scripted: the game's scripted player (needs send_request_context), echo otherwise",
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    parser.add_argument("--jitter", type=float, default=0.0, help="up to this many extra seconds, at random")
    parser.add_argument("--context-size", type=int, default=None)
    parser.add_argument("--context-overflow", choices=CONTEXT_OVERFLOW, default="error",
                        help="prompt + max_tokens above the context: HTTP 400 (older vLLM) or a reply cut short "
                             "(vLLM 0.32)")
    parser.add_argument("--api-key-env", default=None, help="require the key in this environment variable")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        choices=FAULTS,
        help="fail the n-th request this way (repeatable, in order)",
    )
    args = parser.parse_args(argv)
    answer: Answer = (
        echo_answer
        if args.answer == "echo"
        else ScriptedAnswer(skill="bad" if args.answer == "scripted-bad" else "competent")
    )
    api_key = None
    if args.api_key_env:
        import os

        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            parser.error(f"${args.api_key_env} is not set")
    server = TestServer(
        answer,
        host=args.host,
        port=args.port,
        model_id=args.model_id,
        latency=args.latency,
        jitter=args.jitter,
        faults=args.fault,
        context_size=args.context_size,
        context_overflow=args.context_overflow,
        api_key=api_key,
        record=False,
    )
    server.start()
    print(f"serving {server.model_id} at {server.base_url} (Ctrl-C to stop)", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

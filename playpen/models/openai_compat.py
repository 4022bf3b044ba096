"""OpenAI-compatible HTTP backend (``POST {base_url}/chat/completions``): vLLM, llama.cpp server, SGLang,
Ollama, hosted APIs.

* The API key is read from the environment variable named by ``api_key_env`` (never stored in files) and
  sent as ``Authorization: Bearer ...``.
* Timeouts, 429, 5xx, connection errors and malformed answers are retried with exponential backoff (plus
  jitter; ``Retry-After`` is honoured, capped at ``max_backoff``). After the last attempt the request gets a
  result with ``error`` set that says what failed and what to check: nothing is raised.
* Context limits: an HTTP 400/413 that talks about the context length gives ``error_kind="context"`` (not
  retried). The context size is ``context_size`` when the registry entry sets it, else the served model's
  ``max_model_len`` from ``GET /models`` (vLLM lists it; read once, at the first request). A request whose
  prompt tokens + ``max_tokens`` exceed it is a ``context`` error, as the local backend's rule and older vLLM's
  HTTP 400 have it; vLLM 0.32 instead answers such a request, shortening ``max_tokens`` to what is left of the
  context, so a reply with ``finish_reason: "length"`` and fewer tokens than ``max_tokens`` is one cut by the
  context and gets ``error_kind="context"`` too (the cut reply stays in ``raw``): never a silent short reply.
* TLS certificates are verified; ``ca_bundle`` names a PEM file for private CAs.
* Token ids: ``prompt_token_ids`` (top level) and ``choices[0].token_ids`` as vLLM returns them with
  ``return_token_ids``, logprobs from ``choices[0].logprobs.content`` (the OpenAI format), are read into the
  result when present; ``return_tokens=True`` asks for them.
* Transport: one ``aiohttp`` session (a keep-alive connection pool) per event loop, used directly by
  ``agenerate`` on the caller's loop, so a request costs no thread hop; at most ``max_concurrency`` requests
  of one loop are in flight. Sync ``generate`` runs the same coroutines on a private loop in a daemon thread.
  A request's body is built and encoded once; retries resend the same bytes. On a 2-core machine a request
  costs ~0.35 ms of client CPU with the engine and game masters included, a bare aiohttp loop 0.2-0.25 ms
  (``playpen bench rollout``); worker threads with one blocking httpx client each (the previous design)
  cost 1.0-1.5 ms.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import re
import ssl
import threading
import urllib.request
import weakref
from collections.abc import AsyncGenerator, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, TypeVar
from urllib.parse import urlsplit

from playpen.core.errors import PlaypenError
from playpen.models.base import GenerationRequest, GenerationResult, GenerationSettings, Model
from playpen.core.messages import merge_messages

if TYPE_CHECKING:  # aiohttp is imported on first use: `playpen --help` does not pay for it
    import aiohttp

T = TypeVar("T")

#: what servers say when a conversation is too long (vLLM, llama.cpp, OpenAI, SGLang, TGI, Ollama)
CONTEXT_PATTERN = re.compile(
    r"context[ _-]?(length|size|window)|maximum context|context_length_exceeded|exceeds? the (available )?context"
    r"|prompt is too long|too many tokens|input is too long|maximum (input )?length|max_model_len",
    re.IGNORECASE,
)
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


@dataclass
class _Attempt:
    """The outcome of one HTTP attempt: a final result, or a reason to try again."""

    result: GenerationResult | None = None
    retry: str | None = None
    wait: float | None = None  # Retry-After


@dataclass
class _Reply:
    """What came back for one attempt (read in full before the connection goes back to the pool)."""

    status: int
    content: bytes
    reason: str = ""
    retry_after: str | None = None

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


@dataclass
class _LoopClient:
    """One event loop's session and in-flight limit. ``guard`` is a parked async generator: the loop's
    ``shutdown_asyncgens()`` (``asyncio.run`` and the rollout engine call it) closes the session with it."""

    session: aiohttp.ClientSession
    slots: asyncio.Semaphore
    guard: AsyncGenerator[None, None]
    #: the ``GET /models`` of the first requests on this loop
    listing: asyncio.Future[str | None] | None = None


async def _close_with_loop(session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
    """Parked after its first step; closing it (by the loop, or ``close()``) closes the session."""
    try:
        yield
    finally:
        await session.close()


class _PrivateLoop:
    """An event loop on a daemon thread, where sync callers' requests run."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="playpen-http", daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def stop(self) -> None:
        self.run(self.loop.shutdown_asyncgens())  # closes the session opened on this loop
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


class OpenAICompatibleModel(Model):
    """A model served behind ``/v1/chat/completions``."""

    batched = False
    concurrent = True

    def __init__(
        self,
        base_url: str,
        model_id: str | None = None,
        *,
        settings: GenerationSettings | None = None,
        name: str | None = None,
        api_key_env: str | None = None,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        max_retries: int = 4,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        max_concurrency: int = 32,
        verify: bool = True,
        ca_bundle: str | Path | None = None,
        headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        max_tokens_field: str = "max_tokens",
        send_request_context: bool = False,
        return_tokens: bool = False,
        context_size: int | None = None,
    ):
        super().__init__(settings)
        if not base_url:
            raise PlaypenError("an OpenAI-compatible model needs a base_url, e.g. http://127.0.0.1:8000/v1")
        self.base_url = base_url.rstrip("/")
        self.model_id = model_id
        self.name = name or model_id or "openai-compatible"
        self.api_key_env = api_key_env
        self.timeout = _positive("timeout", timeout)
        self.connect_timeout = _positive("connect_timeout", connect_timeout)
        for key, value, least in (("max_retries", max_retries, 0), ("max_concurrency", max_concurrency, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f'"{key}" must be a whole number of at least {least} (got {value!r})')
        self.max_retries = max_retries
        self.max_concurrency = max_concurrency
        for key, value in (("backoff", backoff), ("max_backoff", max_backoff)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise ValueError(f'"{key}" must be a number of seconds of at least 0 (got {value!r})')
        self.backoff = backoff
        self.max_backoff = max_backoff
        if headers is not None and not isinstance(headers, Mapping):
            raise ValueError(f'"headers" must be an object of names and strings (got {headers!r})')
        for key, value in (headers or {}).items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ValueError(f'"headers" must map names to strings (got {key!r}: {value!r})')
        if extra_body is not None and not isinstance(extra_body, Mapping):
            raise ValueError(f'"extra_body" must be an object (got {extra_body!r})')
        self.extra_body = dict(extra_body or {})
        self.max_tokens_field = max_tokens_field
        #: add a ``playpen`` field (game, role, episode, experiment, instance) to each body; only for our test
        #: server's scripted answerer, real servers may reject unknown fields
        self.send_request_context = send_request_context
        #: ask for the prompt's and the reply's token ids and the reply's logprobs (vLLM's ``return_token_ids``,
        #: OpenAI's ``logprobs``); off by default, since other servers may reject the unknown field
        self.return_tokens = return_tokens
        #: prompt + max_tokens above it is a context error (None: the server's max_model_len, if it lists one)
        self.context_size = context_size
        self._listed = False  # GET /models has been asked (model id, max_model_len)
        self._headers = {"Content-Type": "application/json", **dict(headers or {})}
        if api_key_env:
            key = os.environ.get(api_key_env)
            if key:
                self._headers["Authorization"] = f"Bearer {key}"
        # aiohttp: True = verify with the system's CAs, False = no verification, or a context of our own
        self._ssl: bool | ssl.SSLContext = bool(verify)
        if ca_bundle:
            bundle = Path(ca_bundle).expanduser()
            if not bundle.is_file():
                raise PlaypenError(f"CA bundle not found: {bundle}")
            self._ssl = ssl.create_default_context(cafile=str(bundle))
        # proxies from the environment ($HTTPS_PROXY, $NO_PROXY, ...), looked up once rather than per request
        self._proxy = _environment_proxy(self.url)
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClient] = weakref.WeakKeyDictionary()
        self._private: _PrivateLoop | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ request / response
    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def body(self, request: GenerationRequest) -> dict[str, Any]:
        """The JSON body sent for ``request`` (also kept as the result's ``prompt``)."""
        body: dict[str, Any] = {
            "model": self.model_id or "",
            "messages": [{"role": m["role"], "content": m["content"]} for m in merge_messages(request.messages)],
            "temperature": float(self.settings.temperature),
            self.max_tokens_field: int(self.settings.max_tokens),
        }
        if self.return_tokens:
            body.update(return_token_ids=True, logprobs=True)
        body.update(self.extra_body)
        if self.send_request_context:
            experiment, instance = request.experiment or {}, request.instance or {}
            if "game_instances" in experiment or not isinstance(experiment, dict):  # rows come without them
                experiment = {k: v for k, v in experiment.items() if k != "game_instances"}
            # shared, not copied: the body is encoded at once, and every copy kept in a result is one more
            # object for the garbage collector to walk until the run ends
            body["playpen"] = {"game": request.game, "role": request.role, "episode": request.episode,
                               "experiment": experiment, "instance": instance if isinstance(instance, dict) else dict(instance)}
        return body

    def _key_hint(self) -> str:
        if self.api_key_env:
            state = "is set" if "Authorization" in self._headers else "is NOT set"
            return f"check the API key in ${self.api_key_env} (it {state})"
        return 'the server wants an API key: add "api_key_env" to the model\'s registry entry'

    def _interpret(self, reply: _Reply, body: dict[str, Any]) -> _Attempt:
        status = reply.status
        if status >= 400:
            detail = _error_detail(reply)
            if status in (400, 413, 422) and CONTEXT_PATTERN.search(detail):
                return _Attempt(
                    GenerationResult(
                        prompt=body,
                        raw=_json_or_text(reply),
                        error_kind="context",
                        error=f"context exceeded (HTTP {status}): {detail}",
                    )
                )
            if status in RETRY_STATUS or status >= 500:
                return _Attempt(retry=f"HTTP {status}: {detail}", wait=_retry_after(reply))
            hint = {
                401: self._key_hint(),
                403: self._key_hint(),
                404: f"check the base_url ({self.base_url}) and the model id ('{self.model_id}')",
            }.get(status, "check the request settings in the model's registry entry")
            return _Attempt(
                GenerationResult(
                    prompt=body,
                    raw=_json_or_text(reply),
                    error_kind="backend",
                    error=f"POST {self.url} -> HTTP {status}: {detail}; {hint}",
                )
            )
        try:
            data = reply.json()
            choice = data["choices"][0]
            content = _reply_content(choice["message"])
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
            snippet = reply.text[:200].replace("\n", " ")
            return _Attempt(retry=f"malformed answer ({type(error).__name__}: {error}): {snippet!r}")
        usage = data.get("usage")
        usage = {k: v for k, v in usage.items() if isinstance(v, int)} if isinstance(usage, dict) else {}
        overflow = self._context_overflow(usage, body, choice.get("finish_reason"))
        if overflow is not None:
            return _Attempt(GenerationResult(prompt=body, raw=data, usage=usage, error_kind="context",
                                             error=f"context exceeded: {overflow}"))
        token_ids = _ints(choice.get("token_ids"))
        return _Attempt(GenerationResult(text=content.strip(), prompt=body, raw=data, usage=usage,
                                         prompt_token_ids=_ints(data.get("prompt_token_ids")),
                                         token_ids=token_ids, logprobs=_logprobs(choice, token_ids)))

    def _context_overflow(self, usage: Mapping[str, int], body: dict[str, Any], finish_reason: Any) -> str | None:
        """Why an answered request did not fit the context (None: it did). See the module's docstring."""
        max_tokens = int(body[self.max_tokens_field])
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if self.context_size is not None and prompt is not None and prompt + max_tokens > self.context_size:
            return (f"{prompt} prompt tokens + max_tokens {max_tokens} > context size {self.context_size} of "
                    f"{self.model_id}")
        if finish_reason == "length" and completion is not None and completion < max_tokens:
            return (f"the server cut the reply after {completion} of max_tokens {max_tokens} tokens "
                    f"(finish_reason 'length' with {prompt} prompt tokens: its context is full)")
        return None

    def _delay(self, attempt: int, wait: float | None) -> float:
        if wait is not None:
            return min(max(wait, 0.0), self.max_backoff)
        return min(self.backoff * (2**attempt), self.max_backoff) * (0.5 + random.random() / 2)

    def _failure(self, body: dict[str, Any], reason: str) -> GenerationResult:
        tries = self.max_retries + 1
        return GenerationResult(
            prompt=body,
            error_kind="backend",
            error=(
                f"POST {self.url} failed after {tries} attempt{'s' if tries > 1 else ''}: {reason}; check that "
                f"the server at {self.base_url} is up and serves model '{self.model_id}' (timeout, retries: "
                "max_retries / timeout in the registry entry)"
            ),
        )

    # ------------------------------------------------------------------ transport
    async def _client(self) -> _LoopClient:
        """The running loop's session (made on first use: aiohttp sessions belong to one loop)."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.session.closed:
            import aiohttp

            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_concurrency, ssl=self._ssl),
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout, sock_connect=self.connect_timeout),
                proxy=self._proxy,
            )
            guard = _close_with_loop(session)
            await guard.__anext__()
            client = _LoopClient(session, asyncio.Semaphore(self.max_concurrency), guard)
            with self._lock:
                self._clients[loop] = client
        return client

    async def _send(self, client: _LoopClient, method: str, url: str, payload: bytes | None = None) -> _Reply:
        async with client.slots, client.session.request(method, url, data=payload) as response:
            return _Reply(response.status, await response.read(), response.reason or "",
                          response.headers.get("Retry-After"))

    async def _post(self, client: _LoopClient, request: GenerationRequest) -> GenerationResult:
        import aiohttp

        body = self.body(request)
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")
        reason, outcome = "", _Attempt()
        for attempt in range(self.max_retries + 1):
            if attempt:
                await asyncio.sleep(self._delay(attempt - 1, outcome.wait))
            try:
                outcome = self._interpret(await self._send(client, "POST", self.url, payload), body)
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:  # refused/dropped connections, timeouts
                outcome = _Attempt(retry=self._describe(error))
            if outcome.result is not None:
                return outcome.result
            reason = outcome.retry or reason
        return self._failure(body, reason)

    async def _list_models(self, client: _LoopClient) -> str | None:
        """Ask ``GET /models`` once: the model id when none is set (the first model listed), and the served model's
        ``max_model_len`` when no ``context_size`` is set. Without a model id a failure is returned as the reason
        (and the next call asks again); with one, the listing is optional (not every server has it) and a failure
        is ignored."""
        import aiohttp

        try:
            reply = await self._send(client, "GET", f"{self.base_url}/models")
            if reply.status >= 400:
                raise PlaypenError(f"HTTP {reply.status}: {_error_detail(reply)}")
            listed = [m for m in reply.json().get("data") or [] if isinstance(m, dict) and "id" in m]
            if not listed:
                raise PlaypenError("the server lists no models")
        except (aiohttp.ClientError, asyncio.TimeoutError, PlaypenError, ValueError, TypeError,
                AttributeError) as error:
            if self.model_id is None:
                client.listing = None
                return f"cannot list models at {self.base_url}/models: {self._describe(error)}"
            self._listed = True
            return None
        served = next((m for m in listed if m["id"] == self.model_id), listed[0])
        if self.model_id is None:
            self.model_id = str(served["id"])
        limit = served.get("max_model_len")
        if self.context_size is None and isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
            self.context_size = limit
        self._listed = True
        return None

    async def agenerate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        if not requests:
            return []
        client = await self._client()
        if not self._listed:  # every request of the first calls waits for the one listing
            if client.listing is None:
                client.listing = asyncio.ensure_future(self._list_models(client))
            reason = await asyncio.shield(client.listing)
            if reason is not None:
                return [self._failure(self.body(r), reason) for r in requests]
        if len(requests) == 1:  # the engine's usual call: no gather, no extra task
            return [await self._post(client, requests[0])]
        return list(await asyncio.gather(*(self._post(client, r) for r in requests)))

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        if not requests:
            return []
        with self._lock:
            if self._private is None:
                self._private = _PrivateLoop()
            private = self._private
        return private.run(self.agenerate(requests))

    def _describe(self, error: BaseException) -> str:
        import aiohttp

        kinds: list[tuple[type[BaseException], str]] = [
            (aiohttp.ClientConnectorCertificateError,
             "TLS certificate not verified (a private CA: set \"ca_bundle\" in the registry entry)"),
            (aiohttp.ConnectionTimeoutError, "connect timeout"),
            (aiohttp.SocketTimeoutError, "read timeout (the server took too long)"),
            (aiohttp.ClientConnectorError, "cannot connect"),
            (aiohttp.ServerDisconnectedError, "connection dropped"),
            (aiohttp.ClientPayloadError, "incomplete answer"),
            (asyncio.TimeoutError, f"timeout (no answer within {self.timeout:g} s)"),
        ]
        for cls, kind in kinds:
            if isinstance(error, cls):
                text = str(error)
                return f"{kind}: {text}" if text else kind
        return f"{type(error).__name__}: {error}"

    # ------------------------------------------------------------------ misc
    def info(self) -> dict[str, Any]:
        info = super().info()
        info.update({"backend": "openai", "base_url": self.base_url, "model_id": self.model_id,
                     "context_size": self.context_size})
        return info

    def close(self) -> None:
        """Close every session: the private loop's, and those of other loops that can still run code (a loop
        that is already closed had its session closed by ``shutdown_asyncgens``)."""
        with self._lock:
            private, self._private = self._private, None
            clients, self._clients = list(self._clients.items()), weakref.WeakKeyDictionary()
        for loop, client in clients:
            if (private is not None and loop is private.loop) or loop.is_closed():
                continue
            if loop.is_running():
                if _running_loop() is not loop:
                    asyncio.run_coroutine_threadsafe(client.guard.aclose(), loop).result(timeout=30)
                # else: called from a coroutine on that loop; dropping the guard makes the loop close it
            else:
                loop.run_until_complete(client.guard.aclose())
        if private is not None:
            private.stop()


# ---------------------------------------------------------------------- helpers
def _reply_content(message: Any) -> str:
    """The text of an answer's message. A message without text (``content`` null or missing, a refusal, only a
    tool call) is no reply: a ``ValueError`` that makes the request a backend failure, never an empty turn."""
    if not isinstance(message, dict):
        raise TypeError(f"message is {type(message).__name__}, not an object")
    content = message.get("content")
    if isinstance(content, str):
        return content
    if message.get("refusal"):
        raise ValueError(f"the model refused: {str(message['refusal'])[:120]}")
    if message.get("tool_calls") or message.get("function_call"):
        raise ValueError("the answer is a tool call, not text")
    raise ValueError("no content" if content is None else f"content is {type(content).__name__}, not text")


def _positive(name: str, value: Any) -> float:
    """A setting that must be a number above zero (a timeout of 0 would wait forever)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f'"{name}" must be a number of seconds above 0 (got {value!r})')
    return float(value)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _environment_proxy(url: str) -> str | None:
    host = urlsplit(url).hostname or ""
    if urllib.request.proxy_bypass(host):
        return None
    return urllib.request.getproxies().get(urlsplit(url).scheme)


def _ints(value: Any) -> list[int] | None:
    """A list of token ids as a server sent it, or None (absent or not a list of integers)."""
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return value
    return None


def _logprobs(choice: Mapping[str, Any], token_ids: list[int] | None) -> list[float] | None:
    """The sampled tokens' logprobs of an OpenAI chat choice (``logprobs.content[i].logprob``); None when absent,
    malformed, or not one per token id."""
    logprobs = choice.get("logprobs")
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(content, list):
        return None
    values = [entry.get("logprob") if isinstance(entry, dict) else None for entry in content]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return None
    if token_ids is not None and len(values) != len(token_ids):
        return None
    return [float(v) for v in values]


def _json_or_text(reply: _Reply) -> Any:
    try:
        return reply.json()
    except ValueError:
        return reply.text[:2000]


def _error_detail(reply: _Reply) -> str:
    data = _json_or_text(reply)
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail") or json.dumps(error)[:500]
            code = error.get("code") or error.get("type")
            return f"{message} ({code})" if code and str(code) not in str(message) else str(message)
        if isinstance(error, str):
            return error
        return json.dumps(data)[:500]
    return str(data)[:500].strip() or reply.reason


def _retry_after(reply: _Reply) -> float | None:
    try:
        return float(reply.retry_after) if reply.retry_after is not None else None
    except ValueError:
        return None

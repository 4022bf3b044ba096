"""OpenAI-compatible HTTP backend (``POST {base_url}/chat/completions``): vLLM, llama.cpp server, SGLang,
Ollama, hosted APIs.

* The API key is read from the environment variable named by ``api_key_env`` (never stored in files) and
  sent as ``Authorization: Bearer ...``.
* Timeouts, 429, 5xx, connection errors and malformed answers are retried with exponential backoff (plus
  jitter; ``Retry-After`` is honoured, capped at ``max_backoff``). After the last attempt the request gets a
  result with ``error`` set that says what failed and what to check: nothing is raised.
* An HTTP 400/413 that talks about the context length gives ``error_kind="context"`` (not retried).
* TLS certificates are verified; ``ca_bundle`` names a PEM file for private CAs.
* Requests run on a pool of ``max_concurrency`` worker threads, each with its own ``httpx.Client`` (one
  keep-alive connection per worker); ``agenerate`` awaits them without blocking the event loop. Measured
  here, httpx's own async client slowed to 1.2–2 s per wave of 64 keep-alive requests (50 ms server
  latency), while the worker threads took 0.1–0.3 s.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import httpx

from playpen.core.errors import PlaypenError
from playpen.models.base import GenerationRequest, GenerationResult, GenerationSettings, Model
from playpen.models.messages import merge_messages

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
    ):
        super().__init__(settings)
        if not base_url:
            raise PlaypenError("an OpenAI-compatible model needs a base_url, e.g. http://127.0.0.1:8000/v1")
        self.base_url = base_url.rstrip("/")
        self.model_id = model_id
        self.name = name or model_id or "openai-compatible"
        self.api_key_env = api_key_env
        self.timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self.max_retries = max(0, int(max_retries))
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_concurrency = max(1, int(max_concurrency))
        self.extra_body = dict(extra_body or {})
        self.max_tokens_field = max_tokens_field
        #: add a ``playpen`` field (game, role, episode, experiment, instance) to each body; only for our test
        #: server's scripted answerer, real servers may reject unknown fields
        self.send_request_context = send_request_context
        self._headers = {"Content-Type": "application/json", **dict(headers or {})}
        if api_key_env:
            key = os.environ.get(api_key_env)
            if key:
                self._headers["Authorization"] = f"Bearer {key}"
        self._verify: bool | ssl.SSLContext = verify
        if ca_bundle:
            bundle = Path(ca_bundle).expanduser()
            if not bundle.is_file():
                raise PlaypenError(f"CA bundle not found: {bundle}")
            self._verify = ssl.create_default_context(cafile=str(bundle))
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------ request / response
    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model_id or "",
            "messages": [{"role": m["role"], "content": m["content"]} for m in merge_messages(request.messages)],
            "temperature": float(self.settings.temperature),
            self.max_tokens_field: int(self.settings.max_tokens),
        }
        body.update(self.extra_body)
        if self.send_request_context:
            body["playpen"] = json.loads(
                json.dumps(
                    {
                        "game": request.game,
                        "role": request.role,
                        "episode": request.episode,
                        "experiment": {k: v for k, v in (request.experiment or {}).items() if k != "game_instances"},
                        "instance": dict(request.instance or {}),
                    },
                    default=str,
                )
            )
        return body

    def _key_hint(self) -> str:
        if self.api_key_env:
            state = "is set" if "Authorization" in self._headers else "is NOT set"
            return f"check the API key in ${self.api_key_env} (it {state})"
        return 'the server wants an API key: add "api_key_env" to the model\'s registry entry'

    def _interpret(self, response: httpx.Response, body: dict[str, Any]) -> _Attempt:
        status = response.status_code
        if status >= 400:
            detail = _error_detail(response)
            if status in (400, 413, 422) and CONTEXT_PATTERN.search(detail):
                return _Attempt(
                    GenerationResult(
                        prompt=body,
                        raw=_json_or_text(response),
                        error_kind="context",
                        error=f"context exceeded (HTTP {status}): {detail}",
                    )
                )
            if status in RETRY_STATUS or status >= 500:
                return _Attempt(retry=f"HTTP {status}: {detail}", wait=_retry_after(response))
            hint = {
                401: self._key_hint(),
                403: self._key_hint(),
                404: f"check the base_url ({self.base_url}) and the model id ('{self.model_id}')",
            }.get(status, "check the request settings in the model's registry entry")
            return _Attempt(
                GenerationResult(
                    prompt=body,
                    raw=_json_or_text(response),
                    error_kind="backend",
                    error=f"POST {self.url} -> HTTP {status}: {detail}; {hint}",
                )
            )
        try:
            data = response.json()
            choice = data["choices"][0]
            content = choice["message"].get("content") or ""
            if not isinstance(content, str):
                raise TypeError(f"content is {type(content).__name__}")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
            snippet = response.text[:200].replace("\n", " ")
            return _Attempt(retry=f"malformed answer ({type(error).__name__}: {error}): {snippet!r}")
        usage = {k: v for k, v in (data.get("usage") or {}).items() if isinstance(v, int)}
        return _Attempt(GenerationResult(text=content.strip(), prompt=body, raw=data, usage=usage))

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
    def _client(self) -> httpx.Client:
        """The calling thread's client (httpx clients are thread-safe, but one per worker avoids contention
        on a shared connection pool)."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(timeout=self.timeout, verify=self._verify, headers=self._headers,
                                  limits=httpx.Limits(max_connections=2, max_keepalive_connections=1))
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def _workers(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="playpen-http")
            return self._pool

    def _resolve_model_id(self) -> None:
        if self.model_id is None:
            self.model_id = _first_model_id(self._client().get(f"{self.base_url}/models"))

    def _post(self, request: GenerationRequest) -> GenerationResult:
        client = self._client()
        body = self._body(request)
        reason, outcome = "", _Attempt()
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self._delay(attempt - 1, outcome.wait))
            try:
                outcome = self._interpret(client.post(self.url, json=body), body)
            except httpx.HTTPError as error:  # timeouts, refused/dropped connections, protocol errors
                outcome = _Attempt(retry=_describe(error))
            if outcome.result is not None:
                return outcome.result
            reason = outcome.retry or reason
        return self._failure(body, reason)

    def _model_id_failures(self, requests: list[GenerationRequest]) -> list[GenerationResult] | None:
        try:
            self._resolve_model_id()
        except Exception as error:
            return [self._failure(self._body(r), f"cannot list models at {self.base_url}/models: {_describe(error)}")
                    for r in requests]
        return None

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        if not requests:
            return []
        failures = self._model_id_failures(requests)
        if failures is not None:
            return failures
        if len(requests) == 1:
            return [self._post(requests[0])]
        return list(self._workers().map(self._post, requests))

    async def agenerate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        if not requests:
            return []
        loop = asyncio.get_running_loop()
        pool = self._workers()
        if self.model_id is None:
            failures = await loop.run_in_executor(pool, self._model_id_failures, requests)
            if failures is not None:
                return failures
        return list(await asyncio.gather(*(loop.run_in_executor(pool, self._post, r) for r in requests)))

    # ------------------------------------------------------------------ misc
    def info(self) -> dict[str, Any]:
        info = super().info()
        info.update({"backend": "openai", "base_url": self.base_url, "model_id": self.model_id})
        return info

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            clients, self._clients = self._clients, []
        if pool is not None:
            pool.shutdown(wait=True)
        for client in clients:
            client.close()
        self._local = threading.local()


# ---------------------------------------------------------------------- helpers
def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:2000]


def _error_detail(response: httpx.Response) -> str:
    data = _json_or_text(response)
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail") or json.dumps(error)[:500]
            code = error.get("code") or error.get("type")
            return f"{message} ({code})" if code and str(code) not in str(message) else str(message)
        if isinstance(error, str):
            return error
        return json.dumps(data)[:500]
    return str(data)[:500].strip() or response.reason_phrase


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _describe(error: BaseException) -> str:
    kind = {
        httpx.ConnectError: "cannot connect",
        httpx.ConnectTimeout: "connect timeout",
        httpx.ReadTimeout: "read timeout (the server took too long)",
        httpx.WriteTimeout: "write timeout",
        httpx.PoolTimeout: "connection pool timeout",
        httpx.RemoteProtocolError: "connection dropped",
    }
    for cls in type(error).__mro__:
        if cls in kind:
            text = str(error)
            return f"{kind[cls]}: {text}" if text else kind[cls]
    return f"{type(error).__name__}: {error}"


def _first_model_id(response: httpx.Response) -> str:
    response.raise_for_status()
    data = response.json().get("data") or []
    if not data:
        raise PlaypenError("the server lists no models")
    return str(data[0]["id"])

"""``openai:`` backends: any OpenAI-compatible HTTP server (vLLM, Ollama, OpenAI, llama.cpp...).

Spec: ``openai:http://127.0.0.1:8000/v1#model-name`` (the model name follows ``#``; without it
the ``model`` option is required). Requests run concurrently on an httpx async client inside a
private event-loop thread, so the synchronous ``generate``/``score`` work from plain code, other
threads and code already running an event loop.

Reliability: at most ``concurrency`` requests in flight, at most ``rpm`` request starts per
minute (spaced evenly), and retries with exponential backoff and jitter on HTTP 408/429/5xx,
timeouts, connection errors and malformed answers (``Retry-After`` is honoured). The API key is
read from the environment variable ``api_key_env`` only and never appears in ``model_id``,
``repr``, logs or errors.

Reward models: protocol ``score`` (ARES's own, ``POST {url}/score`` with
``{"model", "conversations", "responses"}`` -> ``{"scores"}``) or ``vllm-pooling`` (vLLM's
``POST /pooling`` with ``{"model", "messages"}``, one pair per request; the score is the last
number of the pooled output).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from ares_rlhf.backends.base import (
    ChatModel,
    RewardModel,
    SamplingParams,
    register_chat,
    register_reward,
)
from ares_rlhf.errors import BackendError
from ares_rlhf.records import Message

logger = logging.getLogger(__name__)

T = TypeVar("T")
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
REWARD_PROTOCOLS = ("score", "vllm-pooling")


class MalformedResponse(Exception):
    """A 2xx answer whose body is not the JSON shape expected (retried like a server error)."""


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def parse_spec_target(target: str, model: str | None = None) -> tuple[str, str]:
    """``URL#model`` -> ``(base_url, model)``; the ``model`` option fills a missing ``#model``."""
    url, _, fragment = target.partition("#")
    name = fragment or model
    if not url.startswith(("http://", "https://")):
        raise BackendError(
            f"openai backend: {url!r} is not an http(s) URL; write openai:http://HOST:PORT/v1#MODEL"
        )
    if not name:
        raise BackendError(
            f"openai backend: no model name in {redact_url(url)!r}; "
            "write openai:URL#MODEL or set the 'model' option"
        )
    return url.rstrip("/"), name


def redact_url(url: str) -> str:
    """The URL without any ``user:password@`` part."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _LoopThread:
    """A private asyncio loop in a daemon thread; ``run`` blocks the caller until a coroutine ends."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name=self._name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        loop = self.loop
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError("cannot block the backend's own event loop")
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result()

    def close(self, final: Callable[[], Awaitable[None]] | None = None) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None:
            return
        if final is not None:
            try:
                asyncio.run_coroutine_threadsafe(final(), loop).result(timeout=10)
            except Exception as exc:  # noqa: BLE001 - closing must not raise
                logger.debug("closing the HTTP client failed: %s", exc)
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=10)
        loop.close()


def _shared_ssl_context() -> Any:
    """A default TLS context with certifi's CA bundle (as httpx builds it), made once."""
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        import ssl

        try:
            import certifi

            _SSL_CONTEXT = ssl.create_default_context(cafile=certifi.where())
        except ImportError:  # pragma: no cover - certifi comes with httpx
            _SSL_CONTEXT = ssl.create_default_context()
    return _SSL_CONTEXT


_SSL_CONTEXT: Any = None


class _RateLimiter:
    """Spaces request starts at least ``60 / rpm`` seconds apart (no bursts)."""

    def __init__(self, rpm: float | None) -> None:
        self.interval = 60.0 / rpm if rpm else 0.0
        self._next = 0.0

    async def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


class OpenAIHTTPClient:
    """JSON POSTs to one server with a concurrency cap, a rate limit and retries."""

    def __init__(
        self,
        base_url: str,
        *,
        concurrency: int = 8,
        rpm: float | None = None,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff_s: float = 0.5,
        backoff_max_s: float = 30.0,
        max_retry_after_s: float = 120.0,
        api_key_env: str | None = "OPENAI_API_KEY",
        headers: dict[str, str] | None = None,
        seed: int | None = None,
    ) -> None:
        if concurrency < 1:
            raise BackendError(f"openai backend: concurrency must be >= 1, got {concurrency}")
        if rpm is not None and rpm <= 0:
            raise BackendError(f"openai backend: rpm must be > 0, got {rpm}")
        if max_retries < 0 or timeout <= 0:
            raise BackendError("openai backend: max_retries must be >= 0 and timeout > 0")
        self.base_url = base_url.rstrip("/")
        self.display_url = redact_url(self.base_url)
        self.concurrency = int(concurrency)
        self.rpm = rpm
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self.backoff_max_s = float(backoff_max_s)
        self.max_retry_after_s = float(max_retry_after_s)
        self.api_key_env = api_key_env
        self._api_key = os.environ.get(api_key_env) if api_key_env else None
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        if self._api_key:
            self._headers["Authorization"] = f"Bearer {self._api_key}"
        self._random = random.Random(seed)
        self._runner = _LoopThread(f"ares-http-{self.display_url}")
        self._clients: list[Any] = []
        self._free: asyncio.Queue | None = None
        self._limiter = _RateLimiter(rpm)
        self.retries = 0
        """Retries made so far (all requests together)."""

    def __repr__(self) -> str:
        return (
            f"OpenAIHTTPClient(url={self.display_url!r}, concurrency={self.concurrency}, "
            f"rpm={self.rpm}, api_key={'set' if self._api_key else 'unset'})"
        )

    def scrub(self, text: str) -> str:
        """``text`` with the API key replaced (for anything shown to users)."""
        return text.replace(self._api_key, "***") if self._api_key else text

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coroutine)

    async def _slots(self) -> asyncio.Queue:
        """``concurrency`` single-connection clients; holding one is holding a request slot.

        One pooled client with many connections rescans all of them for every request
        (httpcore), which costs milliseconds per request at concurrency 32.
        """
        if self._free is None:
            import httpx

            limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            verify = _shared_ssl_context()  # loading CA certificates once, not per client
            self._clients = [
                httpx.AsyncClient(
                    timeout=httpx.Timeout(self.timeout),
                    limits=limits,
                    headers=self._headers,
                    verify=verify,
                )
                for _ in range(self.concurrency)
            ]
            self._free = asyncio.Queue()
            for client in self._clients:
                self._free.put_nowait(client)
        return self._free

    def url_for(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    async def post_json(self, url: str, payload: dict[str, Any], parse: Callable[[Any], T]) -> T:
        """POST ``payload``; ``parse(json)`` returns the result or raises ``MalformedResponse``."""
        import httpx

        free = await self._slots()
        shown = self.scrub(redact_url(url))
        attempts = self.max_retries + 1
        last_reason = ""
        for attempt in range(1, attempts + 1):
            retry_after: float | None = None
            try:
                client = await free.get()
                try:
                    await self._limiter.wait()
                    try:
                        response = await client.post(url, json=payload)
                    except httpx.TimeoutException as exc:
                        raise _Retryable(f"timeout after {self.timeout:g}s") from exc
                    except httpx.TransportError as exc:
                        raise _Retryable(f"connection error ({type(exc).__name__})") from exc
                    status = response.status_code
                    if status in RETRYABLE_STATUS or status >= 500:
                        after = parse_retry_after(response.headers.get("Retry-After"))
                        raise _Retryable(f"HTTP {status}", after)
                    if status >= 400:
                        raise BackendError(self._client_error(shown, status, response.text))
                    try:
                        data = json.loads(response.content)  # skips charset sniffing
                    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
                        raise _Retryable("malformed JSON in a 2xx answer") from exc
                    try:
                        return parse(data)
                    except (MalformedResponse, KeyError, IndexError, TypeError, ValueError) as exc:
                        raise _Retryable(
                            f"malformed answer ({self.scrub(str(exc))[:120]})"
                        ) from exc
                finally:
                    free.put_nowait(client)
            except _Retryable as failure:
                last_reason, retry_after = failure.reason, failure.retry_after
            if attempt == attempts:
                break
            self.retries += 1
            delay = self._delay(attempt, retry_after)
            logger.warning(
                "POST %s: %s (attempt %d/%d), retrying in %.2fs",
                shown,
                last_reason,
                attempt,
                attempts,
                delay,
            )
            await asyncio.sleep(delay)
        raise BackendError(
            f"openai backend: POST {shown} failed after {attempts} attempt"
            f"{'s' if attempts > 1 else ''}; last error: {last_reason}"
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after_s) * (1.0 + 0.1 * self._random.random())
        ceiling = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
        return ceiling / 2 + self._random.uniform(0, ceiling / 2)  # "equal jitter"

    def _client_error(self, shown: str, status: int, body: str) -> str:
        excerpt = self.scrub(" ".join(body.split()))[:200]
        hint = ""
        if status in (401, 403):
            hint = (
                f" (check the API key in ${self.api_key_env})"
                if self._api_key
                else f" (no API key: set ${self.api_key_env})"
            )
        elif status == 404:
            hint = " (check the URL: it usually ends in /v1, and the model name after #)"
        return f"openai backend: POST {shown} answered HTTP {status}{hint}: {excerpt}"

    async def gather(self, coroutines: Sequence[Coroutine[Any, Any, T]]) -> list[T]:
        """Run all; on the first error cancel the rest and raise it."""
        tasks = [asyncio.ensure_future(c) for c in coroutines]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    def close(self) -> None:
        async def close_client() -> None:
            for client in self._clients:
                await client.aclose()
            self._clients, self._free = [], None

        self._runner.close(close_client)


def _chat_content(body: Any) -> str:
    choice = body["choices"][0]
    message = choice["message"]
    content = message.get("content")
    if content is None:
        content = message.get("refusal") or ""
    if not isinstance(content, str):
        raise MalformedResponse("message content is not a string")
    return content


class OpenAIChatModel(ChatModel):
    """Chat completions from an OpenAI-compatible server, many requests at once."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        extra_body: dict[str, Any] | None = None,
        max_tokens_field: str = "max_tokens",
        **client_options: Any,
    ) -> None:
        self.client = OpenAIHTTPClient(base_url, **client_options)
        self.model = model
        self.model_id = f"openai:{self.client.display_url}#{model}"
        self.extra_body = dict(extra_body or {})
        self.max_tokens_field = max_tokens_field

    def __repr__(self) -> str:
        return f"OpenAIChatModel({self.model_id!r}, {self.client!r})"

    def payload(self, conversation: Sequence[Message], params: SamplingParams) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in conversation],
            self.max_tokens_field: params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.seed is not None:
            body["seed"] = params.seed
        body.update(self.extra_body)
        return body

    def generate(
        self,
        conversations: Sequence[list[Message]],
        params: SamplingParams | None = None,
    ) -> list[str]:
        params = params or SamplingParams()
        if not conversations:
            return []
        url = self.client.url_for("chat/completions")
        payloads = [self.payload(c, params) for c in conversations]

        async def run_all() -> list[str]:
            return await self.client.gather(
                [self.client.post_json(url, p, _chat_content) for p in payloads]
            )

        return self.client.run(run_all())

    def close(self) -> None:
        self.client.close()


class OpenAIRewardModel(RewardModel):
    """Scores from an HTTP reward server (``score`` protocol or vLLM ``/pooling``)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        protocol: str = "score",
        endpoint: str | None = None,
        batch_size: int = 32,
        extra_body: dict[str, Any] | None = None,
        **client_options: Any,
    ) -> None:
        if protocol not in REWARD_PROTOCOLS:
            raise BackendError(
                f"openai reward backend: protocol {protocol!r} is not one of "
                f"{', '.join(REWARD_PROTOCOLS)}"
            )
        self.client = OpenAIHTTPClient(base_url, **client_options)
        self.model = model
        self.protocol = protocol
        self.batch_size = max(1, int(batch_size))
        self.extra_body = dict(extra_body or {})
        self.model_id = f"openai:{self.client.display_url}#{model}"
        if endpoint:
            self.endpoint = endpoint if "://" in endpoint else self.client.url_for(endpoint)
        elif protocol == "score":
            self.endpoint = self.client.url_for("score")
        else:  # vLLM serves /pooling at the server root, beside /v1
            root = self.client.base_url.removesuffix("/v1")
            self.endpoint = f"{root}/pooling"

    def __repr__(self) -> str:
        return f"OpenAIRewardModel({self.model_id!r}, protocol={self.protocol!r}, {self.client!r})"

    def score(
        self,
        conversations: Sequence[list[Message]],
        responses: Sequence[str],
    ) -> list[float]:
        self.check_pairs(conversations, responses)
        if not responses:
            return []
        if self.protocol == "score":
            requests = [
                self._score_request(
                    list(conversations[i : i + self.batch_size]),
                    list(responses[i : i + self.batch_size]),
                )
                for i in range(0, len(responses), self.batch_size)
            ]
        else:
            requests = [
                self._pooling_request(c, r) for c, r in zip(conversations, responses, strict=True)
            ]

        async def run_all() -> list[list[float]]:
            return await self.client.gather(requests)

        return [value for chunk in self.client.run(run_all()) for value in chunk]

    async def _score_request(
        self, conversations: list[list[Message]], responses: list[str]
    ) -> list[float]:
        body = {
            "model": self.model,
            "conversations": [[dict(m) for m in c] for c in conversations],
            "responses": responses,
            **self.extra_body,
        }

        def parse(answer: Any) -> list[float]:
            scores = answer["scores"]
            if not isinstance(scores, list) or len(scores) != len(responses):
                raise MalformedResponse(f"expected {len(responses)} scores")
            return [_number(value) for value in scores]

        return await self.client.post_json(self.endpoint, body, parse)

    async def _pooling_request(self, conversation: list[Message], response: str) -> list[float]:
        messages = [*(dict(m) for m in conversation), {"role": "assistant", "content": response}]
        body = {"model": self.model, "messages": messages, **self.extra_body}

        def parse(answer: Any) -> list[float]:
            return [_last_number(answer["data"][0]["data"])]

        return await self.client.post_json(self.endpoint, body, parse)

    def close(self) -> None:
        self.client.close()


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedResponse(f"score {value!r} is not a number")
    return float(value)


def _last_number(value: Any) -> float:
    """The last number of a (possibly nested) pooled output: a sequence score or the final token's."""
    while isinstance(value, list):
        if not value:
            raise MalformedResponse("empty pooled output")
        value = value[-1]
    return _number(value)


_CLIENT_OPTIONS = (
    "concurrency",
    "rpm",
    "timeout",
    "max_retries",
    "backoff_s",
    "backoff_max_s",
    "max_retry_after_s",
    "api_key_env",
    "headers",
    "seed",
)
_IGNORED_COMMON = ("device", "dtype", "device_map", "chat_format", "max_length")


def _split_options(options: dict[str, Any], own: tuple[str, ...]) -> dict[str, Any]:
    known = set(_CLIENT_OPTIONS) | set(own) | set(_IGNORED_COMMON) | {"model"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise BackendError(
            f"openai backend: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known - set(_IGNORED_COMMON)))}"
        )
    return {
        k: v
        for k, v in options.items()
        if v is not None and k not in _IGNORED_COMMON and k != "model"
    }


@register_chat("openai")
def _chat(target: str, **options: Any) -> ChatModel:
    base_url, model = parse_spec_target(target, options.get("model"))
    return OpenAIChatModel(
        base_url, model, **_split_options(options, ("extra_body", "max_tokens_field"))
    )


@register_reward("openai")
def _reward(target: str, **options: Any) -> RewardModel:
    base_url, model = parse_spec_target(target, options.get("model"))
    own = ("protocol", "endpoint", "batch_size", "extra_body")
    return OpenAIRewardModel(base_url, model, **_split_options(options, own))

"""A small OpenAI-compatible fake server for tests and benchmarks (stdlib only, 127.0.0.1).

Endpoints: ``POST /v1/chat/completions``, ``POST /v1/score`` or ``/score`` (the ARES score
protocol), ``POST /pooling`` (vLLM's pooling shape), ``GET /v1/models``, ``GET /stats``
(request counters, for a server run in another process). Behaviour is set with
:class:`FakeBehavior`: fixed latency, and failure modes ``slow``, ``429`` (with Retry-After),
``500``, ``malformed`` (invalid JSON), ``hang`` (never answers, until the server stops) —
for every request or only the first ``fail_first`` ones. :class:`FakeStats` counts requests,
the most requests in flight at once, their start times and the Authorization headers seen.

    with FakeOpenAIServer(FakeBehavior(latency_s=0.05)) as server:
        model = create_chat_model(f"openai:{server.url}#fake")

Run standalone (e.g. for a benchmark in a separate process)::

    python -m ares_rlhf.testing.fake_openai --port 8011 --latency 0.05
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAILURES = ("none", "slow", "429", "500", "malformed", "hang")

ReplyFn = Callable[[list[dict[str, str]]], str]
ScoreFn = Callable[[list[dict[str, str]], str], float]


@dataclass(frozen=True)
class FakeBehavior:
    """How the fake server answers."""

    latency_s: float = 0.0
    """Delay before every answer (failures included)."""
    failure: str = "none"
    """One of ``none, slow, 429, 500, malformed, hang``."""
    fail_first: int | None = None
    """Fail only the first N requests, then succeed; ``None`` fails every request."""
    retry_after_s: float | None = 0.05
    """``Retry-After`` header sent with 429 answers (``None``: no header)."""
    slow_s: float = 1.0
    """Extra delay of the ``slow`` mode (the answer itself is correct)."""
    hang_s: float = 60.0
    """Upper bound on a ``hang`` (it ends earlier when the server stops)."""

    def __post_init__(self) -> None:
        if self.failure not in FAILURES:
            raise ValueError(f"failure {self.failure!r} is not one of {', '.join(FAILURES)}")


@dataclass
class FakeStats:
    """What the server saw (read it after the client is done)."""

    requests: int = 0
    failures_sent: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    start_times: list[float] = field(default_factory=list)
    authorization: list[str | None] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default backlog (5) drops connections under concurrency
    daemon_threads = True


def default_reply(messages: list[dict[str, str]]) -> str:
    last_user = next(
        (m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), ""
    )
    return f"fake answer to: {last_user}"


def default_score(conversation: list[dict[str, str]], response: str) -> float:
    return float(len(response))


class FakeOpenAIServer:
    """A threaded HTTP/1.1 server on 127.0.0.1; use it as a context manager."""

    def __init__(
        self,
        behavior: FakeBehavior | None = None,
        *,
        reply: ReplyFn = default_reply,
        score: ScoreFn = default_score,
        port: int = 0,
        keep_bodies: int = 1000,
    ) -> None:
        self.behavior = behavior or FakeBehavior()
        self.reply = reply
        self.score = score
        self.stats = FakeStats()
        self._keep_bodies = keep_bodies
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ---- lifecycle

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The OpenAI base URL (``.../v1``)."""
        return f"{self.root_url}/v1"

    def start(self) -> FakeOpenAIServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Release hanging requests, stop serving and close the socket."""
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def set_behavior(self, **changes: Any) -> None:
        self.behavior = replace(self.behavior, **changes)

    def reset_stats(self) -> None:
        with self._lock:
            self.stats = FakeStats()

    # ---- request handling

    def _begin(self, path: str, authorization: str | None, body: Any) -> tuple[int, FakeBehavior]:
        with self._lock:
            number = self.stats.requests
            self.stats.requests += 1
            self.stats.in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
            self.stats.start_times.append(time.monotonic())
            self.stats.authorization.append(authorization)
            self.stats.paths.append(path)
            if len(self.stats.bodies) < self._keep_bodies:
                self.stats.bodies.append(body)
            return number, self.behavior

    def _end(self, failed: bool) -> None:
        with self._lock:
            self.stats.in_flight -= 1
            self.stats.failures_sent += int(failed)

    def answer(self, path: str, body: Any) -> tuple[int, Any]:
        """The successful answer for a request (status, JSON object)."""
        if path == "/v1/chat/completions":
            messages = body.get("messages") or []
            text = self.reply(messages)
            return 200, {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            }
        if path in ("/v1/score", "/score"):
            conversations, responses = body.get("conversations"), body.get("responses")
            if not isinstance(conversations, list) or not isinstance(responses, list):
                return 400, {"error": {"message": "conversations and responses must be lists"}}
            scores = [self.score(c, r) for c, r in zip(conversations, responses, strict=False)]
            return 200, {"scores": scores}
        if path == "/pooling":
            messages = body.get("messages") or []
            if not messages or messages[-1].get("role") != "assistant":
                return 400, {"error": {"message": "messages must end with the assistant response"}}
            value = self.score(messages[:-1], messages[-1].get("content", ""))
            return 200, {
                "id": "pool-fake",
                "object": "list",
                "data": [{"index": 0, "object": "pooling", "data": [value]}],
            }
        return 404, {"error": {"message": f"no route {path}"}}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; with Nagle's algorithm on, the body
            # waits for the client's delayed ACK (~40 ms on Linux) and every answer is late.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                return

            def _send(
                self, status: int, payload: bytes, headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                if self.path == "/stats":
                    with server._lock:
                        summary = {
                            "requests": server.stats.requests,
                            "failures_sent": server.stats.failures_sent,
                            "max_in_flight": server.stats.max_in_flight,
                        }
                    self._send(200, json.dumps(summary).encode())
                elif self.path.rstrip("/").endswith("/models"):
                    self._send(
                        200, json.dumps({"data": [{"id": "fake", "object": "model"}]}).encode()
                    )
                else:
                    self._send(404, b'{"error": {"message": "not found"}}')

            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = None
                number, behavior = server._begin(self.path, self.headers.get("Authorization"), body)
                failing = behavior.failure != "none" and (
                    behavior.fail_first is None or number < behavior.fail_first
                )
                try:
                    if behavior.latency_s > 0:
                        time.sleep(behavior.latency_s)
                    if body is None:
                        self._send(400, b'{"error": {"message": "invalid JSON body"}}')
                        return
                    if failing and behavior.failure == "slow":
                        server._stopping.wait(behavior.slow_s)  # slow, but the answer is right
                    elif failing:
                        self._fail(behavior)
                        return
                    status, payload = server.answer(self.path, body)
                    self._send(status, json.dumps(payload).encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    server._end(failing and behavior.failure != "slow")

            def _fail(self, behavior: FakeBehavior) -> None:
                if behavior.failure == "429":
                    headers = {}
                    if behavior.retry_after_s is not None:
                        headers["Retry-After"] = f"{behavior.retry_after_s:g}"
                    self._send(429, b'{"error": {"message": "rate limited"}}', headers)
                elif behavior.failure == "500":
                    self._send(500, b'{"error": {"message": "internal error"}}')
                elif behavior.failure == "malformed":
                    self._send(200, b'{"choices": [ this is not json')
                elif behavior.failure == "hang":
                    server._stopping.wait(behavior.hang_s)
                    self.close_connection = True

        return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the ARES fake OpenAI-compatible server.")
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--failure", choices=FAILURES, default="none")
    parser.add_argument("--fail-first", type=int, default=None)
    args = parser.parse_args(argv)
    behavior = FakeBehavior(
        latency_s=args.latency, failure=args.failure, fail_first=args.fail_first
    )
    server = FakeOpenAIServer(behavior, port=args.port).start()
    print(f"fake OpenAI server on {server.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

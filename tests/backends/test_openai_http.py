"""openai: backends against the fake OpenAI-compatible server (no network beyond 127.0.0.1)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from ares_rlhf.backends import SamplingParams, create_chat_model, create_reward_model
from ares_rlhf.backends.openai_http import (
    OpenAIChatModel,
    parse_retry_after,
    parse_spec_target,
    redact_url,
)
from ares_rlhf.errors import BackendError
from ares_rlhf.testing.fake_openai import FakeOpenAIServer

CONVERSATIONS = [[{"role": "user", "content": f"question {i}"}] for i in range(12)]
FAST_RETRY = {"backoff_s": 0.01, "backoff_max_s": 0.05, "timeout": 5.0}


@pytest.fixture
def server():
    with FakeOpenAIServer() as fake:
        yield fake


def chat(server: FakeOpenAIServer, **options) -> OpenAIChatModel:
    model = create_chat_model(f"openai:{server.url}#fake-model", **{**FAST_RETRY, **options})
    assert isinstance(model, OpenAIChatModel)
    return model


def test_generate_returns_answers_in_order(server: FakeOpenAIServer) -> None:
    model = chat(server, concurrency=4)
    params = SamplingParams(max_new_tokens=17, temperature=0.5, top_p=0.9, seed=3)
    try:
        answers = model.generate(CONVERSATIONS, params)
    finally:
        model.close()
    assert answers == [f"fake answer to: question {i}" for i in range(12)]
    body = server.stats.bodies[0]
    assert body["model"] == "fake-model"
    assert body["max_tokens"] == 17 and body["temperature"] == 0.5 and body["seed"] == 3
    assert body["top_p"] == 0.9


def test_extra_body_is_sent(server: FakeOpenAIServer) -> None:
    model = chat(server, extra_body={"chat_template_kwargs": {"enable_thinking": False}})
    model.generate(CONVERSATIONS[:1])
    model.close()
    assert server.stats.bodies[0]["chat_template_kwargs"] == {"enable_thinking": False}


def test_retries_then_succeeds_on_500(server: FakeOpenAIServer) -> None:
    server.set_behavior(failure="500", fail_first=3)
    model = chat(server, concurrency=1, max_retries=5)
    answers = model.generate(CONVERSATIONS[:2])
    model.close()
    assert answers == ["fake answer to: question 0", "fake answer to: question 1"]
    assert server.stats.failures_sent == 3
    assert server.stats.requests == 5
    assert model.client.retries == 3


def test_429_honours_retry_after(server: FakeOpenAIServer) -> None:
    server.set_behavior(failure="429", fail_first=1, retry_after_s=0.4)
    model = chat(server, concurrency=1, max_retries=2)
    answers = model.generate(CONVERSATIONS[:1])
    model.close()
    assert answers == ["fake answer to: question 0"]
    first, second = server.stats.start_times[:2]
    assert second - first >= 0.4  # the backoff alone (0.01 s) would be far shorter


def test_malformed_json_is_retried(server: FakeOpenAIServer) -> None:
    server.set_behavior(failure="malformed", fail_first=2)
    model = chat(server, concurrency=1, max_retries=3)
    assert model.generate(CONVERSATIONS[:1]) == ["fake answer to: question 0"]
    model.close()
    assert server.stats.requests == 3


def test_exhausted_retries_name_url_status_and_attempts(server: FakeOpenAIServer) -> None:
    server.set_behavior(failure="500")
    model = chat(server, max_retries=2)
    with pytest.raises(BackendError) as error:
        model.generate(CONVERSATIONS[:1])
    model.close()
    message = str(error.value)
    assert f"{server.url}/chat/completions" in message
    assert "HTTP 500" in message and "3 attempts" in message


def test_malformed_answers_exhaust_into_clear_error(server: FakeOpenAIServer) -> None:
    server.set_behavior(failure="malformed")
    model = chat(server, max_retries=1)
    with pytest.raises(BackendError, match="malformed JSON"):
        model.generate(CONVERSATIONS[:1])
    model.close()


def test_hanging_server_times_out(server: FakeOpenAIServer) -> None:
    server.set_behavior(failure="hang", hang_s=10)
    model = chat(server, timeout=0.3, max_retries=1)
    started = time.monotonic()
    with pytest.raises(BackendError, match="timeout after 0.3s") as error:
        model.generate(CONVERSATIONS[:1])
    model.close()
    assert time.monotonic() - started < 5
    assert "2 attempts" in str(error.value)


def test_slow_answer_within_timeout_succeeds(server: FakeOpenAIServer) -> None:
    server.set_behavior(failure="slow", slow_s=0.2)
    model = chat(server, timeout=2.0, max_retries=0)
    assert model.generate(CONVERSATIONS[:1]) == ["fake answer to: question 0"]
    model.close()


def test_client_errors_are_not_retried(server: FakeOpenAIServer) -> None:
    model = create_chat_model(f"openai:{server.root_url}/nope#m", **FAST_RETRY)
    with pytest.raises(BackendError, match="HTTP 404"):
        model.generate(CONVERSATIONS[:1])
    model.close()
    assert server.stats.requests == 1


def test_connection_refused_is_retried_then_reported() -> None:
    probe = FakeOpenAIServer()
    url = probe.url
    probe.stop()  # nothing listens on that port any more
    model = create_chat_model(f"openai:{url}#m", max_retries=2, **FAST_RETRY)
    with pytest.raises(BackendError, match=r"connection error.*|3 attempts"):
        model.generate(CONVERSATIONS[:1])
    model.close()


def test_concurrency_limit_is_respected(server: FakeOpenAIServer) -> None:
    server.set_behavior(latency_s=0.1)
    model = chat(server, concurrency=3)
    answers = model.generate(CONVERSATIONS)
    model.close()
    assert len(answers) == 12
    assert server.stats.max_in_flight == 3


def test_rpm_limit_spaces_requests(server: FakeOpenAIServer) -> None:
    model = chat(server, concurrency=8, rpm=600)  # one request every 0.1 s
    model.generate(CONVERSATIONS[:6])
    model.close()
    starts = sorted(server.stats.start_times)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    # unlimited, all six would start within milliseconds; the server's clock adds some jitter
    assert min(gaps) >= 0.05
    assert starts[-1] - starts[0] >= 0.45


def test_api_key_sent_but_never_shown(server: FakeOpenAIServer, monkeypatch, caplog) -> None:
    secret = "sk-test-very-secret-key-123"
    monkeypatch.setenv("ARES_TEST_KEY", secret)
    server.set_behavior(failure="500")
    model = chat(server, api_key_env="ARES_TEST_KEY", max_retries=1)
    with caplog.at_level(logging.DEBUG), pytest.raises(BackendError) as error:
        model.generate(CONVERSATIONS[:1])
    assert server.stats.authorization[0] == f"Bearer {secret}"
    assert secret not in str(error.value)
    assert secret not in repr(model) and secret not in model.model_id
    assert secret not in caplog.text
    assert "api_key=set" in repr(model)
    model.close()


def test_api_key_not_read_from_spec_or_options(server: FakeOpenAIServer, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = chat(server)
    model.generate(CONVERSATIONS[:1])
    model.close()
    assert server.stats.authorization == [None]
    with pytest.raises(BackendError, match="unknown option"):
        create_chat_model(f"openai:{server.url}#m", api_key="sk-inline")


def test_generate_works_inside_running_loop_and_threads(server: FakeOpenAIServer) -> None:
    model = chat(server, concurrency=4)

    async def inside_loop() -> list[str]:
        return model.generate(CONVERSATIONS[:2])

    assert asyncio.run(inside_loop()) == [f"fake answer to: question {i}" for i in range(2)]
    results: list[list[str]] = []
    threads = [
        threading.Thread(target=lambda: results.append(model.generate(CONVERSATIONS[:3])))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    model.close()
    assert len(results) == 3 and all(len(r) == 3 for r in results)


def test_spec_parsing_and_redaction() -> None:
    assert parse_spec_target("http://h:8000/v1#qwen") == ("http://h:8000/v1", "qwen")
    assert parse_spec_target("http://h:8000/v1/", model="m") == ("http://h:8000/v1", "m")
    with pytest.raises(BackendError, match="no model name"):
        parse_spec_target("http://h:8000/v1")
    with pytest.raises(BackendError, match="not an http"):
        parse_spec_target("h:8000/v1#m")
    assert redact_url("http://user:pw@h:8000/v1") == "http://h:8000/v1"
    model = create_chat_model("openai:http://user:pw@127.0.0.1:9/v1#m")
    assert "pw" not in model.model_id and "pw" not in repr(model)
    model.close()
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


# ------------------------------------------------------------------------------ reward model

PAIRS = [[{"role": "user", "content": f"q{i}"}] for i in range(5)]
RESPONSES = ["a", "bbb", "cc", "dddd", ""]


def test_score_protocol_batches_and_orders(server: FakeOpenAIServer) -> None:
    rm = create_reward_model(f"openai:{server.url}#rm", batch_size=2, **FAST_RETRY)
    assert rm.score(PAIRS, RESPONSES) == [1.0, 3.0, 2.0, 4.0, 0.0]
    rm.close()
    assert server.stats.requests == 3
    assert set(server.stats.paths) == {"/v1/score"}
    assert {
        "model": "rm",
        "conversations": [PAIRS[0], PAIRS[1]],
        "responses": ["a", "bbb"],
    } in server.stats.bodies  # chunks are sent concurrently, in any order


def test_score_protocol_retries_and_rejects_wrong_length(server: FakeOpenAIServer) -> None:
    server.set_behavior(failure="500", fail_first=1)
    rm = create_reward_model(f"openai:{server.url}#rm", max_retries=2, **FAST_RETRY)
    assert rm.score(PAIRS[:2], RESPONSES[:2]) == [1.0, 3.0]
    with pytest.raises(BackendError, match="2 conversations but 1 responses"):
        rm.score(PAIRS[:2], RESPONSES[:1])
    rm.close()

    server.set_behavior(failure="none")
    server.score = lambda conversation, response: "not a number"
    rm = create_reward_model(f"openai:{server.url}#rm", max_retries=1, **FAST_RETRY)
    with pytest.raises(BackendError, match="malformed answer"):
        rm.score(PAIRS[:1], RESPONSES[:1])
    rm.close()


def test_vllm_pooling_protocol(server: FakeOpenAIServer) -> None:
    rm = create_reward_model(f"openai:{server.url}#rm", protocol="vllm-pooling", **FAST_RETRY)
    assert rm.score(PAIRS, RESPONSES) == [1.0, 3.0, 2.0, 4.0, 0.0]
    rm.close()
    assert set(server.stats.paths) == {"/pooling"}
    assert [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "bbb"},
    ] in [body["messages"] for body in server.stats.bodies]
    with pytest.raises(BackendError, match="protocol"):
        create_reward_model(f"openai:{server.url}#rm", protocol="grpc")

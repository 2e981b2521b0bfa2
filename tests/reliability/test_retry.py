"""The retry policy: what is retried, how long it waits, when it stops, and when it falls back.

Waits are recorded by a sleep function that does not sleep, so they are checked exactly; jitter
is 0 wherever a wait is asserted.
"""

from __future__ import annotations

import email.message
import email.utils
import json
import time
import urllib.error

import httpx
import openai
import pytest
from llama_index.core.base.llms.types import ChatMessage, ChatResponse

from toolkit.errors import CallTimeoutError, ConfigError, MalformedOutputError, RetryExhaustedError
from toolkit.reliability.retry import (
    RetryPolicy,
    call_with_timeout,
    check_complete,
    describe,
    is_transient,
    retry_after,
    status_code,
)

REQUEST = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")


def http_error(status: int, headers: dict | None = None) -> httpx.HTTPStatusError:
    response = httpx.Response(status, headers=headers or {}, request=REQUEST)
    return httpx.HTTPStatusError(f"{status}", request=REQUEST, response=response)


def openai_error(cls, status: int):
    return cls("error", response=httpx.Response(status, request=REQUEST), body=None)


def urllib_error(status: int, headers: dict | None = None) -> urllib.error.HTTPError:
    message = email.message.Message()  # what urllib really carries: case-insensitive headers
    for name, value in (headers or {}).items():
        message[name] = value
    return urllib.error.HTTPError("http://127.0.0.1:9/", status, "x", message, None)


TRANSIENT = {
    "httpx 429": http_error(429),
    "httpx 500": http_error(500),
    "httpx 502": http_error(502),
    "httpx 503": http_error(503),
    "httpx 504": http_error(504),
    "httpx 408": http_error(408),
    "httpx ReadTimeout": httpx.ReadTimeout("slow", request=REQUEST),
    "httpx ConnectError": httpx.ConnectError("refused", request=REQUEST),
    "httpx RemoteProtocolError": httpx.RemoteProtocolError("cut", request=REQUEST),
    "openai RateLimitError": openai_error(openai.RateLimitError, 429),
    "openai InternalServerError": openai_error(openai.InternalServerError, 503),
    "openai APITimeoutError": openai.APITimeoutError(request=REQUEST),
    "openai APIConnectionError": openai.APIConnectionError(request=REQUEST),
    "urllib 429": urllib_error(429),
    "urllib 503": urllib_error(503),
    "urllib refused": urllib.error.URLError(ConnectionRefusedError(111, "refused")),
    "TimeoutError": TimeoutError(),
    "ConnectionResetError": ConnectionResetError(),
    "CallTimeoutError": CallTimeoutError("slow"),
    "MalformedOutputError": MalformedOutputError("cut"),
    "JSONDecodeError": json.JSONDecodeError("bad", "{x", 1),
}
PERMANENT = {
    "httpx 400": http_error(400),
    "httpx 401": http_error(401),
    "httpx 403": http_error(403),
    "httpx 404": http_error(404),
    "httpx 422": http_error(422),
    "httpx 501": http_error(501),
    "openai AuthenticationError": openai_error(openai.AuthenticationError, 401),
    "openai PermissionDeniedError": openai_error(openai.PermissionDeniedError, 403),
    "openai BadRequestError": openai_error(openai.BadRequestError, 400),
    "openai UnprocessableEntityError": openai_error(openai.UnprocessableEntityError, 422),
    "urllib 401": urllib_error(401),
    "urllib 422": urllib_error(422),
    "urllib bad url": urllib.error.URLError("unknown url type: ftp"),
    "ValueError": ValueError("bad"),
    "PermissionError": PermissionError(),
}


@pytest.mark.parametrize("name", TRANSIENT)
def test_transient_failures_are_retried(name):
    assert is_transient(TRANSIENT[name]) is True


@pytest.mark.parametrize("name", PERMANENT)
def test_auth_and_validation_failures_are_not(name):
    assert is_transient(PERMANENT[name]) is False


def test_a_wrapper_defers_to_its_cause():
    try:
        try:
            raise http_error(503)
        except httpx.HTTPStatusError as exc:
            raise RuntimeError("the LLM call failed") from exc
    except RuntimeError as wrapped:
        assert is_transient(wrapped) is True
    assert is_transient(RuntimeError("no cause")) is False


def test_status_codes_of_each_client():
    assert [
        status_code(e)
        for e in (http_error(429), openai_error(openai.RateLimitError, 429), urllib_error(503), TimeoutError())
    ] == [429, 429, 503, None]


def test_retry_after_in_milliseconds_seconds_and_as_a_date():
    assert retry_after(http_error(429, {"retry-after-ms": "250", "Retry-After": "9"})) == 0.25
    assert retry_after(http_error(429, {"Retry-After": "3"})) == 3.0
    assert retry_after(urllib_error(429, {"Retry-After": "2"})) == 2.0
    assert retry_after(http_error(429, {"Retry-After": "soon"})) is None
    assert retry_after(http_error(503)) is None and retry_after(TimeoutError()) is None
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= retry_after(http_error(429, {"Retry-After": when})) <= 30


class Flaky:
    """Fails with the given exceptions in order, then returns "ok"; counts its calls."""

    def __init__(self, *failures):
        self.failures, self.calls = list(failures), 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


def policy(**kwargs) -> tuple[RetryPolicy, list[float]]:
    """A policy whose sleeps are recorded, not slept, on a clock that only those sleeps move."""
    slept: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    defaults = dict(
        max_attempts=4,
        initial_backoff_s=0.1,
        max_backoff_s=10,
        jitter_s=0.0,
        timeout_s=None,
        deadline_s=None,
        sleep=sleep,
        clock=lambda: now[0],
    )
    return RetryPolicy(**{**defaults, **kwargs}), slept


def test_backoff_doubles_between_transient_failures():
    retry, slept = policy()
    flaky = Flaky(http_error(503), TimeoutError(), http_error(502))
    result = retry.run([("primary", flaky)])
    assert (result.value, result.tier, flaky.calls) == ("ok", "primary", 4)
    assert slept == [0.1, 0.2, 0.4]
    assert [a.outcome for a in result.attempts] == ["transient", "transient", "transient", "ok"]
    assert [a.wait_s for a in result.attempts] == [0.1, 0.2, 0.4, 0.0]
    assert result.attempts[1].error == "TimeoutError: "


def test_backoff_is_capped_and_jitter_stays_within_its_bound():
    retry, slept = policy(max_attempts=6, max_backoff_s=0.3, jitter_s=0.05)
    retry.call(Flaky(*[http_error(500)] * 5))
    assert all(0.3 <= s <= 0.35 for s in slept[2:])  # 0.4, 0.8, 1.6 capped at 0.3, then jitter
    assert 0.1 <= slept[0] <= 0.15 and 0.2 <= slept[1] <= 0.25 and len(slept) == 5


def test_retry_after_wins_over_backoff():
    retry, slept = policy()
    assert retry.call(Flaky(http_error(429, {"retry-after-ms": "700"}), http_error(429, {"Retry-After": "2"}))) == "ok"
    assert slept == [0.7, 2.0]


def test_a_retry_after_past_the_limit_ends_the_call():
    retry, slept = policy(max_retry_after_s=5)
    flaky = Flaky(http_error(429, {"Retry-After": "30"}))
    with pytest.raises(RetryExhaustedError, match="1 attempts over 1 tier"):
        retry.call(flaky)
    assert (flaky.calls, slept) == (1, [])


@pytest.mark.parametrize("status", [400, 401, 403, 422])
def test_permanent_failures_raise_at_once_without_fallback(status):
    retry, slept = policy()
    primary, backup = Flaky(http_error(status)), Flaky()
    with pytest.raises(httpx.HTTPStatusError):
        retry.run([("primary", primary), ("backup", backup)])
    assert (primary.calls, backup.calls, slept) == (1, 0, [])


def test_spent_attempts_fall_back_to_the_next_tier():
    retry, slept = policy(max_attempts=3)
    primary, backup = Flaky(*[http_error(503)] * 3), Flaky(TimeoutError())
    result = retry.run([("local:big", primary), ("extractive:quote", backup)])
    assert (result.value, result.tier, result.tier_index, result.fell_back) == ("ok", "extractive:quote", 1, True)
    assert [(a.tier, a.number, a.outcome) for a in result.attempts] == [
        ("local:big", 1, "transient"),
        ("local:big", 2, "transient"),
        ("local:big", 3, "transient"),
        ("extractive:quote", 1, "transient"),
        ("extractive:quote", 2, "ok"),
    ]
    assert slept == [0.1, 0.2, 0.1]  # each tier backs off from the start; no wait between tiers


def test_every_tier_spent_raises_with_the_last_error():
    retry, _ = policy(max_attempts=2)
    with pytest.raises(
        RetryExhaustedError, match=r"4 attempts over 2 tier\(s\) failed .* last: HTTPStatusError: 503"
    ) as info:
        retry.run([("a", Flaky(*[http_error(503)] * 2)), ("b", Flaky(*[http_error(503)] * 2))])
    assert isinstance(info.value.__cause__, httpx.HTTPStatusError)


def test_the_deadline_stops_before_a_wait_that_would_overrun_it():
    retry, slept = policy(max_attempts=10, initial_backoff_s=0.2, deadline_s=0.5)
    flaky = Flaky(*[http_error(503)] * 10)
    with pytest.raises(RetryExhaustedError, match="2 attempts"):
        retry.call(flaky)
    assert (flaky.calls, slept) == (2, [0.2])  # the next wait (0.4) would end past 0.5 s


def test_a_call_over_its_timeout_is_abandoned_and_retried():
    calls = []

    def slow_then_fast():
        calls.append(len(calls))
        if len(calls) == 1:
            time.sleep(1.0)
        return "fast"

    retry, _ = policy(timeout_s=0.05)
    result = retry.run([("primary", slow_then_fast)])
    assert result.value == "fast" and len(calls) == 2
    assert result.attempts[0].outcome == "transient"
    assert result.attempts[0].error.startswith("CallTimeoutError: the call did not return within its 0.05 s timeout")


def test_call_with_timeout_passes_values_and_errors_through():
    assert call_with_timeout(divmod, 1.0, 7, 2) == (3, 1)
    with pytest.raises(ZeroDivisionError):
        call_with_timeout(divmod, 1.0, 1, 0)


def test_on_attempt_sees_every_attempt():
    seen = []
    retry, _ = policy(on_attempt=lambda a: seen.append(("policy", a.number, a.outcome)))
    retry.run([("t", Flaky(http_error(500), http_error(429)))], on_attempt=lambda a: seen.append(("call", a.number)))
    assert seen == [
        ("policy", 1, "transient"),
        ("call", 1),
        ("policy", 2, "transient"),
        ("call", 2),
        ("policy", 3, "ok"),
        ("call", 3),
    ]


def chat_response(text: str, finish_reason: str | None = "stop") -> ChatResponse:
    return ChatResponse(
        message=ChatMessage(role="assistant", content=text), raw={"choices": [{"finish_reason": finish_reason}]}
    )


def test_check_complete_rejects_reported_cuts_and_empty_outputs():
    check_complete(chat_response("Returns are accepted within 30 days."))
    check_complete("plain text is fine")
    # No marker is looked for: odd characters are text like any other, and an unreported cut passes.
    check_complete(chat_response("Returns \ufffd\x00{"))
    check_complete(chat_response("Returns are acc"))
    for bad, message in [
        (chat_response("Returns are acc", "length"), "cut off at its token limit"),
        (chat_response("  "), "no text"),
        (
            ChatResponse(message=ChatMessage(role="assistant", content="x"), raw={"stop_reason": "max_tokens"}),
            "cut off",
        ),
    ]:
        with pytest.raises(MalformedOutputError, match=message):
            check_complete(bad)


def test_chat_retries_a_truncated_answer_and_falls_back():
    class FakeLLM:  # stands in for a provider that keeps cutting its answer short
        def __init__(self, *responses):
            self.responses, self.calls = list(responses), 0

        def chat(self, messages):
            self.calls += 1
            return self.responses.pop(0)

    primary = FakeLLM(*[chat_response("Returns ar", "length")] * 2)
    backup = FakeLLM(chat_response("Returns are accepted within 30 days."))
    retry, slept = policy(max_attempts=2, fallbacks=[("extractive:quote", backup)])
    result = retry.chat("openai:gpt-4o-mini", primary, [ChatMessage(role="user", content="?")])
    assert (result.tier, primary.calls, backup.calls, slept) == ("extractive:quote", 2, 1, [0.1])
    assert result.value.message.content == "Returns are accepted within 30 days."


def test_describe_redacts_key_like_strings():
    text = describe(ValueError("Incorrect API key provided: sk-proj-abcdef123456. Check it."))
    assert text == "ValueError: Incorrect API key provided: [redacted]. Check it."


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_attempts": 0}, "max_attempts must be at least 1, not 0"),
        ({"timeout_s": 0}, "timeout_s must be positive"),
        ({"deadline_s": -1}, "deadline_s must be positive"),
        ({"initial_backoff_s": -0.1}, "initial_backoff_s must not be negative"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        RetryPolicy(**kwargs)
    with pytest.raises(ConfigError, match="at least one"):
        RetryPolicy().run([])


def test_a_pipeline_retries_its_model_call_and_records_the_attempts(tmp_path, embed_model):
    from conftest import TINY_CORPUS, write_files
    from toolkit.config import load_settings
    from toolkit.ingestion.incremental import ingest
    from toolkit.models.extractive import ExtractiveLLM
    from toolkit.pipeline import Pipeline
    from toolkit.reliability.faults import FaultInjector
    from toolkit.reliability.middleware import Faults, Retry

    settings = load_settings(home=tmp_path / "home")
    index, _ = ingest(
        write_files(tmp_path / "corpus", TINY_CORPUS),
        tmp_path / "index",
        settings=settings,
        embed_model=embed_model,
        show_progress=False,
    )
    extractive = ExtractiveLLM.from_embed_model(embed_model)
    plain = Pipeline(index, settings=settings, embed_model=embed_model, llm=extractive)
    expected = plain.ask("How long do I have to return an item?")
    assert (expected.text, expected.record.get("retry.attempts")) == (
        "You can return an item within 30 days of delivery for a full refund.",
        None,
    )

    # seed 3 at these rates: a 5xx, then a truncated answer (caught by check_complete), then a clean one
    injector = FaultInjector({"server_error": 0.3, "truncated": 0.3}, seed=3)
    seen = []
    retry, slept = policy(on_attempt=lambda a: seen.append(a.outcome))
    flaky = Pipeline(
        index,
        settings=settings,
        embed_model=embed_model,
        model="extractive:quote",
        llm=extractive,
        middleware=[Retry(retry), Faults(injector)],
    )
    answer = flaky.ask("How long do I have to return an item?")
    assert injector.log == ["server_error", "truncated", "ok"]
    assert (answer.text, answer.record.get("retry.attempts"), answer.record.model) == (
        expected.text,
        3,
        "extractive:quote",
    )
    assert answer.record.calls[0]["attempts"] == 3
    assert (seen, slept) == (["transient", "transient", "ok"], [0.1, 0.2])

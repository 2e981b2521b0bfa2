"""The fault injector in-process and on the wire (FaultProxy in front of a loopback service)."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request

import httpx
import pytest
from llama_index.core.base.llms.types import ChatMessage, ChatResponse

from toolkit.errors import ConfigError, MalformedOutputError
from toolkit.reliability.effects import EffectService, post_effect
from toolkit.reliability.faults import FAILURES, FaultInjector, FaultProxy
from toolkit.reliability.retry import RetryPolicy, check_complete, is_transient, retry_after


class Counter:
    def __init__(self, value="Returns are accepted within 30 days."):
        self.calls, self.value = 0, value

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.value


def test_seeded_draws_repeat_and_are_counted():
    first, second = FaultInjector.transient(0.3, seed=1), FaultInjector.transient(0.3, seed=1)
    assert [first.draw()[0] for _ in range(200)] == [second.draw()[0] for _ in range(200)]
    assert first.log[:10] == ["cut_short", "ok", "ok", "ok", "server_error", "ok", "ok", "ok", "hang", "ok"]
    summary = first.summary()
    assert summary["calls"] == 200 and summary["passed"] + summary["injected"] == 200
    assert summary["passed"] == 136
    assert summary["injected"] == sum(summary[k] for k in FAILURES)
    assert summary["passed"] == first.log.count("ok")
    with pytest.raises(ConfigError, match="has none of the methods"):
        first.wrap_llm(object())


def test_no_rates_no_faults():
    injector = FaultInjector({})
    counter = Counter()
    wrapped = injector.wrap(counter)
    assert [wrapped() for _ in range(5)] == [counter.value] * 5 and injector.injected == 0


def test_rate_limit_and_server_errors_refuse_before_the_call():
    counter = Counter()
    with pytest.raises(httpx.HTTPStatusError) as info:
        FaultInjector({"rate_limit": 1.0}, retry_after_s=0.25).wrap(counter)()
    assert info.value.response.status_code == 429 and retry_after(info.value) == 0.25
    with pytest.raises(httpx.HTTPStatusError) as info:
        FaultInjector({"server_error": 1.0}, status_codes=(502,)).wrap(counter)()
    assert info.value.response.status_code == 502 and is_transient(info.value)
    assert counter.calls == 0


def test_a_timeout_runs_the_call_and_loses_the_response():
    counter = Counter()
    with pytest.raises(TimeoutError, match="the call ran but its response never arrived"):
        FaultInjector({"timeout": 1.0}).wrap(counter)()
    assert counter.calls == 1


def test_latency_passes_the_result_through():
    injector = FaultInjector({"latency": 1.0}, latency_s=0.01)
    assert injector.wrap(Counter())() == "Returns are accepted within 30 days."
    assert injector.counts["latency"] == 1 and injector.injected == 0


def chat(text: str) -> ChatResponse:
    return ChatResponse(message=ChatMessage(role="assistant", content=text), raw={"usage": {"prompt_tokens": 9}})


def test_a_truncated_output_is_reported_by_its_finish_reason():
    truncated = FaultInjector({"truncated": 1.0}, seed=0).wrap(lambda: chat("Returns are accepted within 30 days."))()
    assert truncated.message.content == "Returns are accepted wit"  # seed 0 keeps 0.679: int(36 * 0.679) = 24
    assert truncated.raw == {"usage": {"prompt_tokens": 9}, "choices": [{"finish_reason": "length"}]}
    with pytest.raises(MalformedOutputError, match="cut off"):
        check_complete(truncated)


def test_embeddings_and_bytes_are_cut_too():
    vector = [0.5, 0.5, 0.5, 0.5]
    assert FaultInjector({"truncated": 1.0}, seed=0).wrap(lambda: vector)() == [0.5, 0.5]  # int(4 * 0.679)
    assert FaultInjector({"cut_short": 1.0}).wrap(lambda: [vector, vector])() == [vector]
    assert (
        FaultInjector({"cut_short": 1.0}, seed=0).wrap(lambda: b'{"answer": "yes"}')() == b'{"answer": '
    )  # int(17 * 0.679) = 11 bytes
    assert FaultInjector({"bad_schema": 1.0}, seed=0).wrap(lambda: b'{"answer": "yes"}')() == b'{"answer": 3}'
    with pytest.raises(ConfigError, match="cannot inject a truncated output into a dict"):
        FaultInjector({"truncated": 1.0}).wrap(lambda: {"a": 1})()
    with pytest.raises(ConfigError, match="cannot inject a bad_schema output into a list"):
        FaultInjector({"bad_schema": 1.0}).wrap(lambda: vector)()


def test_wrap_llm_keeps_everything_else():
    class LLM:
        metadata = "meta"

        def chat(self, messages):
            return chat("fine.")

    wrapped = FaultInjector({"rate_limit": 1.0}).wrap_llm(LLM())
    assert wrapped.metadata == "meta"
    with pytest.raises(httpx.HTTPStatusError):
        wrapped.chat([])


@pytest.mark.parametrize(
    "rates, message",
    [({"explode": 0.1}, "unknown fault kind"), ({"timeout": 0.7, "rate_limit": 0.4}, "sum to at most 1")],
)
def test_bad_rates_are_refused(rates, message):
    with pytest.raises(ConfigError, match=message):
        FaultInjector(rates)


@pytest.fixture
def service(tmp_path):
    with EffectService(tmp_path / "service.db") as service:
        yield service


def get(url: str, timeout: float = 5):
    with urllib.request.urlopen(url + "/tickets", timeout=timeout) as response:
        return json.loads(response.read())


def test_the_proxy_injects_each_fault_on_the_wire(service):
    post_effect(service.url, "tickets", {"request_id": "r-0"})
    expected = {
        "rate_limit": urllib.error.HTTPError,
        "server_error": urllib.error.HTTPError,
        "truncated": http.client.IncompleteRead,
        "cut_short": MalformedOutputError,  # post_effect checks the receipt: json.loads alone would raise too
        "bad_schema": MalformedOutputError,
        "timeout": http.client.RemoteDisconnected,
        "hang": http.client.RemoteDisconnected,  # with no deadline: after hang_s, the proxy hangs up
        "reset": ConnectionResetError,
    }
    for kind, error in expected.items():
        injector = FaultInjector({kind: 1.0}, status_codes=(503,), retry_after_s=2, hang_s=0.05)
        with FaultProxy(service.url, injector) as proxy:
            with pytest.raises(error) as info:
                post_effect(proxy.url, "tickets", {"request_id": kind}, key=kind)
            assert is_transient(info.value), kind
            assert proxy.injector.summary()[kind] == 1
    with FaultProxy(service.url, FaultInjector({"rate_limit": 1.0}, retry_after_s=2)) as proxy:
        with pytest.raises(urllib.error.HTTPError) as info:
            get(proxy.url)
        assert (info.value.code, retry_after(info.value)) == (429, 2.0)
    # Only the 429 and the 5xx were refused before the service acted; every other fault came after it.
    direct = get(service.url)
    assert [t["request_id"] for t in direct] == [
        "r-0",
        "truncated",
        "cut_short",
        "bad_schema",
        "timeout",
        "hang",
        "reset",
    ]
    with FaultProxy(service.url, FaultInjector({"latency": 1.0}, latency_s=0.01)) as proxy:
        assert get(proxy.url) == direct


def test_a_timeout_on_the_wire_still_reaches_the_service(service):
    with FaultProxy(service.url, FaultInjector({"timeout": 1.0})) as proxy:
        with pytest.raises(http.client.RemoteDisconnected):
            post_effect(proxy.url, "tickets", {"request_id": "r-1"})
    assert [t["request_id"] for t in service.records("tickets")] == ["r-1"]


def test_retries_through_the_proxy_recover(service):
    with FaultProxy(
        service.url, FaultInjector.transient(0.5, kinds=("rate_limit", "server_error"), seed=2, retry_after_s=0.01)
    ) as proxy:
        policy = RetryPolicy(max_attempts=10, initial_backoff_s=0.001, jitter_s=0.0, timeout_s=5)
        results = [
            policy.run([("post", post_effect)], (proxy.url, "tickets", {"request_id": f"r-{i}"}, f"k-{i}"))
            for i in range(10)
        ]
    assert len(service.records("tickets")) == 10
    assert sum(len(r.attempts) for r in results) == proxy.injector.counts["calls"]
    assert sum(a.outcome != "ok" for r in results for a in r.attempts) == proxy.injector.injected > 0


def test_the_proxy_forwards_only_to_loopback():
    with pytest.raises(ConfigError, match="only to http:// on loopback"):
        FaultProxy("http://example.com:80", FaultInjector({}))

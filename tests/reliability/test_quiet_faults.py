"""Faults that carry no marker: each is seen from the output alone, or by a clock, or not at all.

Seeded, so every value is exact. Seed 0 draws (0.844, 0.758): a cut keeps 0.3 + 0.5 * 0.758 =
0.679 of the output, and bad_schema breaks field int(0.758 * n) of n. Hangs and trickles are
real sleeps, kept short (timeouts of 0.2 s against a 1 s hang).
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.request

import pytest
from llama_index.core.base.llms.types import ChatMessage, ChatResponse

from toolkit.errors import CallTimeoutError, ConfigError, MalformedOutputError
from toolkit.prompting.spec import CitedAnswer
from toolkit.reliability.effects import EffectService, post_effect
from toolkit.reliability.faults import FaultInjector, FaultProxy, break_schema
from toolkit.reliability.retry import RetryPolicy, call_with_timeout, check_complete, check_schema, is_transient

REPLY = '{"answer": "Returns are accepted within 30 days.", "sources": [1]}'  # 66 characters


def chat(text: str = REPLY) -> ChatResponse:
    return ChatResponse(
        message=ChatMessage(role="assistant", content=text), raw={"choices": [{"finish_reason": "stop"}]}
    )


def test_cut_short_says_nothing_and_only_the_schema_sees_it():
    cut = FaultInjector({"cut_short": 1.0}, seed=0).wrap(chat)()
    assert cut.message.content == '{"answer": "Returns are accepted within 30 d'  # int(66 * 0.679) = 44 characters
    assert cut.raw == {"choices": [{"finish_reason": "stop"}]}  # the provider's word is left as it was
    check_complete(cut)  # nothing there to see: a plain-text check passes it
    with pytest.raises(MalformedOutputError, match="not whole JSON \\(cut short or malformed: Invalid JSON: EOF"):
        check_schema(CitedAnswer)(cut)
    # In plain text the same cut reads as an answer; no check of the output alone can tell.
    plain = FaultInjector({"cut_short": 1.0}, seed=0).wrap(lambda: chat("Returns are accepted within 30 days."))()
    assert plain.message.content == "Returns are accepted wit"  # int(36 * 0.679) = 24 characters
    check_complete(plain)


def test_bad_schema_parses_and_breaks_one_field():
    broken = FaultInjector({"bad_schema": 1.0}, seed=0).wrap(chat)()
    # 2 fields, int(0.758 * 2) = 1: "sources", a list, becomes the text of its items
    assert broken.message.content == '{"answer": "Returns are accepted within 30 days.", "sources": "1"}'
    assert json.loads(broken.message.content)["sources"] == "1"  # it parses
    check_complete(broken)
    with pytest.raises(
        MalformedOutputError, match="breaks the CitedAnswer schema \\(sources: Input should be a valid array"
    ):
        check_schema(CitedAnswer)(broken)
    assert break_schema(REPLY, 0.1) == '{"answer": 36, "sources": [1]}'  # the answer's 36 characters
    assert break_schema('{"ok": true}') == '{"ok": [true]}'
    with pytest.raises(ConfigError, match="needs a reply that is a JSON object"):
        FaultInjector({"bad_schema": 1.0}).wrap(lambda: "Returns are accepted.")()


def test_a_hang_is_cut_by_the_per_call_timeout_not_by_itself():
    # Without a timeout, a hang is only slow: the answer arrives, a second late.
    hang = FaultInjector({"hang": 1.0}, hang_s=1.0)
    started = time.perf_counter()
    assert hang.wrap(chat)().message.content == REPLY
    assert 1.0 <= time.perf_counter() - started < 1.5
    # With a 0.2 s timeout it is abandoned and retried; seed 1 at 50% draws 0.134 (hang), then 0.764 (ok).
    injector = FaultInjector({"hang": 0.5}, seed=1, hang_s=1.0)
    policy = RetryPolicy(max_attempts=3, initial_backoff_s=0.01, jitter_s=0.0, timeout_s=0.2, deadline_s=5)
    started = time.perf_counter()
    result = policy.run([("model", injector.wrap(chat))], validate=check_schema(CitedAnswer))
    seconds = time.perf_counter() - started
    assert injector.log == ["hang", "ok"]
    assert [(a.outcome, a.error.split(":")[0]) for a in result.attempts] == [
        ("transient", "CallTimeoutError"),
        ("ok", ""),
    ]
    assert 0.2 <= seconds < 0.6 and result.value.message.content == REPLY


def test_a_trickle_passes_a_per_read_timeout_and_is_caught_by_a_deadline(tmp_path):
    with EffectService(tmp_path / "service.db") as service:
        trickle = FaultInjector({"trickle": 1.0}, trickle_s=1.0, trickle_chunks=10)  # a piece every 0.1 s
        with FaultProxy(service.url, trickle) as proxy:
            # urllib's timeout, like httpx's and requests', is per read: 0.3 s never passes between pieces.
            started = time.perf_counter()
            receipt = post_effect(proxy.url, "tickets", {"request_id": "r-1"}, key="k-1", timeout_s=0.3)
            assert receipt == {"id": 1, "kind": "tickets", "replayed": False}
            assert 1.0 <= time.perf_counter() - started < 1.6
            # A deadline on the whole call gives up at 0.2 s, and the retry's same key is replayed.
            started = time.perf_counter()
            with pytest.raises(CallTimeoutError, match="did not return within its 0.2 s timeout"):
                post_effect(proxy.url, "tickets", {"request_id": "r-2"}, key="k-2", deadline_s=0.2)
            assert 0.2 <= time.perf_counter() - started < 0.5
        assert post_effect(service.url, "tickets", {"request_id": "r-2"}, key="k-2") == {
            "id": 2,
            "kind": "tickets",
            "replayed": True,
        }
        assert [t["request_id"] for t in service.records("tickets")] == ["r-1", "r-2"]


def test_in_process_a_trickle_is_only_slow():
    injector = FaultInjector({"trickle": 1.0}, trickle_s=0.5, trickle_chunks=5)
    with pytest.raises(CallTimeoutError):
        call_with_timeout(injector.wrap(chat), 0.2)
    assert injector.counts["trickle"] == 1


def test_a_reset_mid_body_is_a_real_socket_reset(tmp_path):
    with EffectService(tmp_path / "service.db") as service:
        with FaultProxy(service.url, FaultInjector({"reset": 1.0})) as proxy:
            connection = http.client.HTTPConnection("127.0.0.1", int(proxy.url.rsplit(":", 1)[1]), timeout=5)
            connection.request("POST", "/tickets", body=b'{"request_id": "r-1"}', headers={"Idempotency-Key": "k-1"})
            with pytest.raises(ConnectionResetError) as info:
                connection.getresponse().read()
            assert is_transient(info.value)
            connection.close()
        assert [t["request_id"] for t in service.records("tickets")] == ["r-1"]  # the service had acted
    # In process the call runs, then the same error is raised.
    calls = []
    with pytest.raises(ConnectionResetError, match="Connection reset by peer"):
        FaultInjector({"reset": 1.0}).wrap(lambda: calls.append(1))()
    assert calls == [1]


def test_replies_cut_or_off_schema_on_the_wire_are_refused_by_the_receipt_check(tmp_path):
    with EffectService(tmp_path / "service.db") as service:
        # The body is '{"id": 1, "kind": "tickets", "replayed": false}' (47 bytes); seed 0 keeps int(47 * 0.679) = 31
        with FaultProxy(service.url, FaultInjector({"cut_short": 1.0}, seed=0)) as proxy:
            with pytest.raises(MalformedOutputError, match="reply is not a receipt \\(body: Invalid JSON: EOF"):
                post_effect(proxy.url, "tickets", {"request_id": "r-1"}, key="k-1")
        # 3 fields, int(0.758 * 3) = 2: "replayed", false becomes [false]
        with FaultProxy(service.url, FaultInjector({"bad_schema": 1.0}, seed=0)) as proxy:
            with pytest.raises(
                MalformedOutputError, match="not a receipt \\(replayed: Input should be a valid boolean"
            ):
                post_effect(proxy.url, "tickets", {"request_id": "r-2"}, key="k-2")
        assert [t["request_id"] for t in service.records("tickets")] == ["r-1", "r-2"]
        with urllib.request.urlopen(service.url + "/tickets", timeout=5) as response:
            assert len(json.loads(response.read())) == 2


def test_every_quiet_fault_is_seen_and_retried_once():
    # Seed 499 at 16% each draws cut_short, trickle, bad_schema, reset, hang, then ok.
    rates = {kind: 0.16 for kind in ("cut_short", "bad_schema", "hang", "trickle", "reset")}
    injector = FaultInjector(rates, seed=499, hang_s=1.0, trickle_s=1.0)
    policy = RetryPolicy(max_attempts=6, initial_backoff_s=0.01, max_backoff_s=0.02, jitter_s=0.0, timeout_s=0.2)
    policy.deadline_s = policy.worst_case_s  # 6 * 0.2 + 0.01 + 4 * 0.02 = 1.29
    assert policy.deadline_s == 1.29
    result = policy.run([("model", injector.wrap(chat))], validate=check_schema(CitedAnswer))
    assert injector.log == ["cut_short", "trickle", "bad_schema", "reset", "hang", "ok"]
    assert [a.error.split(" (")[0] for a in result.attempts] == [
        "MalformedOutputError: the model's output is not whole JSON",
        "CallTimeoutError: the call did not return within its 0.2 s timeout and was abandoned",
        "MalformedOutputError: the model's output breaks the CitedAnswer schema",
        "ConnectionResetError: [Errno 104] Connection reset by peer",
        "CallTimeoutError: the call did not return within its 0.2 s timeout and was abandoned",
        "",
    ]
    assert sum(a.outcome == "transient" for a in result.attempts) == injector.injected == 5
    assert result.value.message.content == REPLY


def test_worst_case_counts_every_timeout_and_capped_backoff():
    policy = RetryPolicy(max_attempts=8, initial_backoff_s=0.01, max_backoff_s=0.05, jitter_s=0.01, timeout_s=0.2)
    # 8 * 0.2 + (0.01 + 0.02 + 0.04 + 0.05 * 4) + 7 * 0.01
    assert policy.worst_case_s == 1.94
    assert RetryPolicy(timeout_s=None).worst_case_s is None

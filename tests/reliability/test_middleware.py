"""Retries, fallback tiers and injected faults as links of the model-call chain."""

import pytest
from llama_index.core.llms import MockLLM

from toolkit.errors import RetryExhaustedError
from toolkit.models import ChatMessage, ModelClient, ModelRef
from toolkit.reliability import FaultInjector, RetryPolicy
from toolkit.reliability.middleware import Faults, Retry

HELLO = [ChatMessage(role="user", content="hello world")]


def policy(**kwargs):
    slept = []
    return RetryPolicy(initial_backoff_s=0.1, jitter_s=0.0, timeout_s=None, sleep=slept.append, **kwargs), slept


def test_each_attempt_draws_its_own_fault_and_is_seen():
    injector = FaultInjector({"server_error": 0.5}, seed=1)
    retry, slept = policy(max_attempts=4)
    seen = []
    client = ModelClient(MockLLM(), "local:mock", [Retry(retry), Faults(injector)])
    reply = client.chat(HELLO, on_attempt=[lambda a: seen.append((a.tier, a.number, a.outcome))])
    assert injector.log == ["server_error", "ok"]
    assert seen == [("local:mock", 1, "transient"), ("local:mock", 2, "ok")]
    assert (reply.attempts, reply.parts, slept) == (2, {"retry": {"attempts": 2, "tier": "local:mock"}}, [0.1])
    assert reply.text == "user: hello world\nassistant:"


def test_a_spent_tier_falls_back_to_the_next_model():
    retry, _ = policy(max_attempts=2, fallbacks=[("openai-like:backup", MockLLM(max_tokens=2))])
    client = ModelClient(MockLLM(), "local:mock", [Retry(retry), Faults(FaultInjector({"rate_limit": 1.0}))])
    assert Retry(retry).tiers == ["openai-like:backup"]
    with pytest.raises(RetryExhaustedError, match="4 attempts over 2 tier"):
        client.chat(HELLO)  # the faults sit in front of every tier
    # outside the retry, the faults wrap the call's own model only: the fallback tier answers
    client = ModelClient(MockLLM(), "local:mock", [Faults(FaultInjector({"rate_limit": 1.0})), Retry(retry)])
    reply = client.chat(HELLO)
    assert (reply.model, reply.text, reply.attempts) == (ModelRef("openai-like", "backup"), "text text", 3)
    assert reply.parts["retry"] == {"attempts": 3, "tier": "openai-like:backup"}

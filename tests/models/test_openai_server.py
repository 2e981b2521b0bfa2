"""The real loop: llama_cpp.server serving the embedded SmolLM2 on 127.0.0.1, a FaultProxy in front,
LlamaIndex's OpenAILike client behind, and the RetryPolicy recovering from 429s, 5xx and broken bodies."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

import openai
import pytest
from llama_index.core.base.llms.types import ChatMessage
from llama_index.llms.openai_like import OpenAILike

from toolkit.models.providers import embedded_llm_path
from toolkit.reliability.faults import FaultInjector, FaultProxy
from toolkit.reliability.retry import RetryPolicy

KEY = "dummy-test-key"  # the server is started with it; nothing secret
QUESTIONS = ["Say hello.", "Name a colour.", "Count to three."]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    log = open(tmp_path_factory.mktemp("server") / "server.log", "w")  # a file: a full pipe would stall it
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(embedded_llm_path()),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "512",
            "--api_key",
            KEY,
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, f"llama_cpp.server exited with {process.returncode}; see {log.name}"
            assert time.monotonic() < deadline, "llama_cpp.server did not start within 120 s"
            try:
                request = urllib.request.Request(url + "/v1/models", headers={"Authorization": f"Bearer {KEY}"})
                urllib.request.urlopen(request, timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        yield url
    finally:
        process.kill()  # always, whatever happened above
        process.wait(30)
        log.close()


def client(base: str, key: str = KEY) -> OpenAILike:
    # max_retries=0: the client's own retries would hide the faults from the policy and its count.
    return OpenAILike(
        model="smollm2",
        api_base=base + "/v1",
        api_key=key,
        is_chat_model=True,
        max_retries=0,
        timeout=60,
        temperature=0.0,
        max_tokens=8,
    )


def ask(llm, question: str, policy: RetryPolicy):
    return policy.chat("openai-like:smollm2", llm, [ChatMessage(role="user", content=question)])


def test_retries_recover_from_faults_on_the_wire(server):
    # 8-token answers end at the token limit on purpose (finish_reason "length"), which check_complete
    # would retry; only the faults on the wire are under test here, so outputs are taken as they come.
    policy = RetryPolicy(
        max_attempts=8,
        initial_backoff_s=0.01,
        jitter_s=0.0,
        timeout_s=60,
        deadline_s=300,
        validate=lambda response: None,
    )
    direct = [ask(client(server), q, policy).value.message.content for q in QUESTIONS]
    injector = FaultInjector(
        {"rate_limit": 0.2, "server_error": 0.2, "truncated": 0.1, "cut_short": 0.1}, seed=6, retry_after_s=0.05
    )
    with FaultProxy(server, injector) as proxy:
        results = [ask(client(proxy.url), q, policy) for q in QUESTIONS]
    assert [r.value.message.content for r in results] == direct  # greedy decoding: the same answers
    attempts = [a for r in results for a in r.attempts]
    # Seeded and sequential, so exact: what the proxy injected is what the policy saw and retried.
    assert injector.log == [
        "ok",
        "truncated",
        "rate_limit",
        "truncated",
        "server_error",
        "server_error",
        "ok",
        "cut_short",
        "rate_limit",
        "ok",
    ]
    assert len(attempts) == injector.counts["calls"] == 10
    assert sum(a.outcome == "transient" for a in attempts) == injector.injected == 7
    # A body cut under its full length surfaces as a dropped connection; one cut under its own length
    # arrives whole and fails to parse.
    assert [a.error.split(":")[0] for a in attempts if a.outcome != "ok"] == [
        "APIConnectionError",
        "RateLimitError",
        "APIConnectionError",
        "InternalServerError",
        "InternalServerError",
        "JSONDecodeError",
        "RateLimitError",
    ]


def test_a_wrong_key_is_not_retried(server):
    injector = FaultInjector({})
    with FaultProxy(server, injector) as proxy:
        with pytest.raises(openai.AuthenticationError):
            ask(client(proxy.url, key="wrong-key"), QUESTIONS[0], RetryPolicy(max_attempts=5, initial_backoff_s=0.01))
    assert injector.counts["calls"] == 1

"""The served pipeline over real HTTP (uvicorn on a free loopback port, the extractive answerer):
answers with run ids, feedback joined to runs, Prometheus metrics, and bad input that gets a 4xx
while the server keeps serving."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from conftest import ASK_JSON_KEYS
from toolkit.errors import ConfigError
from toolkit.monitoring import create_app, is_loopback, serve_in_thread

RETURNS = "How long do I have to return an item?"


def still_serving(url: str) -> None:
    reply = httpx.post(url + "/ask", json={"question": RETURNS}, timeout=60)
    assert reply.status_code == 200 and "30 days" in reply.json()["answer"]


def test_ask_returns_what_ask_json_prints_plus_the_run_id_and_the_run_is_stored(url, pipeline):
    reply = httpx.post(url + "/ask", json={"question": RETURNS}, timeout=60)
    assert reply.status_code == 200
    body = reply.json()
    assert list(body) == [*ASK_JSON_KEYS, "run_id"]
    assert body["confidence"] is None and body["decision"] is None and body["tier"] is None  # no scores, no tiers
    assert body["answer"] == "You can return an item within 30 days of delivery for a full refund."
    assert body["sources"][0]["id"] == "returns.md" and body["model"] == "extractive:quote"
    runs = pipeline.store.runs()
    assert runs.run_id.tolist() == [body["run_id"]] and runs.origin.tolist() == ["server"]


def test_feedback_joins_the_run_and_an_unknown_run_is_a_404(url, pipeline):
    run_id = httpx.post(url + "/ask", json={"question": RETURNS}, timeout=60).json()["run_id"]
    reply = httpx.post(url + "/feedback", json={"run_id": run_id, "up": False, "comment": "too short"})
    assert reply.status_code == 200 and reply.json() == {"ok": True, "feedback_id": 1}
    assert pipeline.store.outcomes()[["run_id", "value", "comment"]].values.tolist() == [[run_id, "down", "too short"]]
    unknown = httpx.post(url + "/feedback", json={"run_id": "nope", "up": True})
    assert unknown.status_code == 404
    assert "no run with id 'nope'" in unknown.json()["error"]


def test_metrics_are_prometheus_text(url):
    httpx.post(url + "/ask", json={"question": RETURNS}, timeout=60)
    httpx.post(url + "/ask", json={"nope": 1})
    text = httpx.get(url + "/metrics").text
    assert 'toolkit_requests_total{endpoint="/ask",status="200"} 1.0' in text
    assert 'toolkit_requests_total{endpoint="/ask",status="422"} 1.0' in text
    assert 'toolkit_runs_total{status="answered"} 1.0' in text
    assert "toolkit_ask_seconds_count 1.0" in text
    assert "# TYPE toolkit_ask_seconds histogram" in text


def test_malformed_json_and_wrong_fields_get_a_422_with_a_message(url):
    broken = httpx.post(url + "/ask", content=b'{"question": ', headers={"content-type": "application/json"})
    assert broken.status_code == 422
    assert "JSON decode error" in broken.json()["error"] and '{"question": "..."}' in broken.json()["error"]
    empty = httpx.post(url + "/ask", json={"question": ""})
    assert empty.status_code == 422 and empty.json()["error"].startswith("question: String should have at least 1")
    extra = httpx.post(url + "/feedback", json={"run_id": "r", "up": "maybe"})
    assert extra.status_code == 422 and extra.json()["error"].startswith("up: Input should be a valid boolean")
    still_serving(url)


def test_a_10_mb_body_gets_a_413_declared_or_streamed(url):
    big = b"x" * (10 * 1024 * 1024)
    declared = httpx.post(url + "/ask", content=big, headers={"content-type": "application/json"})
    assert declared.status_code == 413 and "larger than 65536 bytes" in declared.json()["error"]

    def chunks():  # no Content-Length: the limit is counted as the body streams in
        for _ in range(10):
            yield b"x" * (1024 * 1024)

    streamed = httpx.post(url + "/ask", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    still_serving(url)


def test_a_slow_client_does_not_hold_up_the_others(url):
    host, port = url.removeprefix("http://").split(":")
    slow = socket.create_connection((host, int(port)))
    slow.sendall(
        b'POST /ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"quest'
    )
    try:
        started = time.perf_counter()
        still_serving(url)  # while the slow client is mid-body
        assert time.perf_counter() - started < 30
    finally:
        slow.close()
    still_serving(url)


def test_a_token_is_required_off_loopback_and_checked_when_set(pipeline):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("0.0.0.0")
    with pytest.raises(ConfigError, match="serving on 0.0.0.0 reaches other machines: set a token"):
        with serve_in_thread(create_app(pipeline), host="0.0.0.0"):
            pass
    with serve_in_thread(create_app(pipeline, token="s3cret"), token="s3cret") as url:
        refused = httpx.post(url + "/ask", json={"question": RETURNS})
        assert refused.status_code == 401 and refused.json() == {"error": "send Authorization: Bearer <token>"}
        wrong = httpx.post(url + "/ask", json={"question": RETURNS}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = httpx.post(
            url + "/ask", json={"question": RETURNS}, headers={"Authorization": "Bearer s3cret"}, timeout=60
        )
        assert right.status_code == 200

"""Idempotency keys and the side-effect ledger: once across retries, threads, processes and a kill.

Every ledger test runs twice: over the SQLite file and over PostgreSQL (a real server, tests/conftest.py)."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from toolkit.errors import ConfigError, EffectInProgressError, LedgerCorruptError
from toolkit.reliability.effects import (
    EffectService,
    SideEffectLedger,
    idempotency_key,
    post_effect,
    support_steps,
)
from toolkit.reliability.effects_postgres import side_effect_ledger
from toolkit.reliability.faults import FaultInjector
from toolkit.reliability.retry import RetryPolicy, is_transient

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def service(tmp_path):
    with EffectService(tmp_path / "service.db") as service:
        yield service


@pytest.fixture
def ledger(where):
    return side_effect_ledger(where)


def fast_retry(**kwargs) -> RetryPolicy:
    return RetryPolicy(**{"max_attempts": 5, "initial_backoff_s": 0.001, "jitter_s": 0.0, "timeout_s": 10, **kwargs})


def test_the_key_is_sha256_of_step_and_canonical_request():
    request = {"request_id": "r-1", "question": "Where is order 1042?"}
    canonical = '{"question":"Where is order 1042?","request_id":"r-1"}'
    expected = "open_ticket:" + hashlib.sha256(f"open_ticket\n{canonical}".encode()).hexdigest()[:32]
    assert idempotency_key(request, "open_ticket") == expected
    assert idempotency_key(dict(reversed(list(request.items()))), "open_ticket") == expected  # key order
    assert idempotency_key(request, "send_notification") != expected
    assert idempotency_key({**request, "request_id": "r-2"}, "open_ticket") != expected
    with pytest.raises(ConfigError, match="needs a step name"):
        idempotency_key(request, "")


def timeout_first(seed_log: list[str]) -> FaultInjector:
    """An injector whose first call times out after running, and whose second passes."""
    for seed in range(100):
        injector = FaultInjector({"timeout": 0.5}, seed=seed)
        probe = FaultInjector({"timeout": 0.5}, seed=seed)
        if [probe.draw()[0] for _ in range(2)] == seed_log:
            return injector
    raise AssertionError("no seed found")


def test_naive_retry_duplicates_the_ticket_and_the_ledger_does_not(service, ledger):
    payload = {"request_id": "r-1", "question": "My hub is broken"}
    naive = timeout_first(["timeout", "ok"]).wrap(post_effect)
    fast_retry().call(naive, service.url, "tickets", payload)  # no key: the service cannot tell
    assert len(service.records("tickets")) == 2  # the same ticket, twice

    fixed = timeout_first(["timeout", "ok"]).wrap(post_effect)
    key = idempotency_key({**payload, "request_id": "r-2"}, "open_ticket")
    result = fast_retry().call(
        ledger.once, key, lambda k: fixed(service.url, "tickets", {**payload, "request_id": "r-2"}, key=k)
    )
    tickets = [t for t in service.records("tickets") if t["request_id"] == "r-2"]
    assert len(tickets) == 1 and result == {"id": tickets[0]["id"], "kind": "tickets", "replayed": True}
    assert ledger.query("SELECT status, runs FROM effects WHERE key = ?", (key,)) == [("done", 2)]
    # Done is done: a third call (a duplicate request, a resumed batch) never reaches the service.
    assert ledger.once(key, lambda k: pytest.fail("ran again")) == result


def test_record_writes_a_local_effect_exactly_once(ledger):
    key = idempotency_key({"request_id": "r-1"}, "write_crm_note")
    first = ledger.record(key, "crm_notes", {"note": "called about order 1042"})
    again = ledger.record(key, "crm_notes", {"note": "called about order 1042"})
    assert first == {"id": 1, "kind": "crm_notes", "replayed": False}
    assert again == {"id": 1, "kind": "crm_notes", "replayed": True}
    assert ledger.query("SELECT kind, payload FROM records") == [("crm_notes", '{"note": "called about order 1042"}')]
    with pytest.raises(ConfigError, match="unknown side-effect kind 'emails'"):
        ledger.record("x:1", "emails", {})


def test_concurrent_threads_run_the_action_once(ledger):
    runs, results = [], []

    def action(key):
        runs.append(key)
        time.sleep(0.05)
        return {"ticket": 7}

    threads = [
        threading.Thread(target=lambda: results.append(ledger.once("open_ticket:abc", action))) for _ in range(16)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert runs == ["open_ticket:abc"] and results == [{"ticket": 7}] * 16


def test_a_failed_action_releases_the_key_for_the_retry(ledger):
    calls = []

    def action(key):
        calls.append(key)
        if len(calls) == 1:
            raise ConnectionResetError("reset")
        return {"sent": True}

    with pytest.raises(ConnectionResetError):
        ledger.once("send_notification:1", action)
    assert ledger.query("SELECT status, owner, runs FROM effects") == [("pending", None, 1)]
    assert ledger.once("send_notification:1", action) == {"sent": True}
    assert ledger.query("SELECT status, runs FROM effects") == [("done", 2)]


def test_a_live_holder_is_waited_for_then_reported(ledger):
    release = threading.Event()
    holder = threading.Thread(target=lambda: ledger.once("open_ticket:slow", lambda k: release.wait(10) and {"ok": 1}))
    holder.start()
    time.sleep(0.1)
    with pytest.raises(EffectInProgressError, match="still being run by") as info:
        ledger.once("open_ticket:slow", lambda k: pytest.fail("ran twice"), wait_s=0.05)
    assert is_transient(info.value)
    release.set()
    holder.join()
    assert ledger.once("open_ticket:slow", lambda k: pytest.fail("ran twice")) == {"ok": 1}


def test_an_expired_lease_is_taken_over(where):
    ledger = side_effect_ledger(where, lease_s=0.05)
    stuck = threading.Event()
    threading.Thread(
        target=lambda: ledger.once("open_ticket:stuck", lambda k: stuck.wait(10) and {}), daemon=True
    ).start()
    time.sleep(0.15)
    assert ledger.once("open_ticket:stuck", lambda k: {"by": "second"}) == {"by": "second"}
    assert ledger.query("SELECT runs FROM effects") == [(2,)]
    stuck.set()


def test_attempts_are_logged_for_the_count(ledger):
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise TimeoutError("slow")
        return "ok"

    fast_retry(on_attempt=ledger.log_attempt).call(flaky)
    assert ledger.query("SELECT tier, number, outcome, error FROM attempts ORDER BY id") == [
        ("flaky", 1, "transient", "TimeoutError: slow"),
        ("flaky", 2, "transient", "TimeoutError: slow"),
        ("flaky", 3, "ok", ""),
    ]
    assert ledger.stats() == {"done": 0, "pending": 0, "runs": 0, "attempts": 3, "failed_attempts": 2, "records": 0}


def test_support_steps_under_faults_leave_one_of_each(service, ledger):
    injector = FaultInjector.transient(0.5, kinds=("timeout", "rate_limit", "server_error"), seed=3)
    post = injector.wrap(post_effect)
    for i in range(20):
        support_steps(ledger, service.url, {"request_id": f"r-{i}"}, post=post, retry=fast_retry(max_attempts=12))
    for kind in ("tickets", "notifications"):
        assert sorted(r["request_id"] for r in service.records(kind)) == sorted(f"r-{i}" for i in range(20))
    # Seeded, so exact: 62 HTTP calls, 22 of them failed on purpose (5 after the service had acted).
    assert injector.summary() == {
        "calls": 62,
        "passed": 40,
        "injected": 22,
        "latency": 0,
        "timeout": 5,
        "rate_limit": 9,
        "server_error": 8,
        "truncated": 0,
        "cut_short": 0,
        "bad_schema": 0,
        "hang": 0,
        "trickle": 0,
        "reset": 0,
    }
    # Every HTTP call started one run of a step's action; the 20 CRM notes are local writes.
    assert ledger.stats() == {
        "done": 60,
        "pending": 0,
        "runs": 62 + 20,
        "attempts": 0,
        "failed_attempts": 0,
        "records": 20,
    }


def _worker(where: str, url: str, items: int, seed: int) -> None:
    import random

    ledger = side_effect_ledger(where)
    order = list(range(items))
    random.Random(seed).shuffle(order)
    for i in order:  # every worker tries every item: all 8 race for each key
        request = {"request_id": f"r-{i}"}
        # No Idempotency-Key to the service: if the ledger let two workers through, both would create.
        ledger.once(
            idempotency_key(request, "open_ticket"), lambda k, request=request: post_effect(url, "tickets", request)
        )  # called at once
        ledger.record(idempotency_key(request, "write_crm_note"), "crm_notes", request)


def test_eight_processes_share_one_ledger_without_loss_or_duplicates(service, ledger):
    context = multiprocessing.get_context("spawn")  # fork would copy a threaded parent mid-lock
    workers = [context.Process(target=_worker, args=(ledger.where, service.url, 40, seed)) for seed in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0] * 8
    tickets = [r["request_id"] for r in service.records("tickets")]
    assert sorted(tickets) == sorted(f"r-{i}" for i in range(40))  # none lost, none twice
    assert ledger.stats() == {"done": 80, "pending": 0, "runs": 80, "attempts": 0, "failed_attempts": 0, "records": 40}


BATCH = textwrap.dedent("""
    import sys, time
    from toolkit.reliability.effects import post_effect, support_steps
    from toolkit.reliability.effects_postgres import side_effect_ledger

    ledger_path, url, items, hang_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

    def post(url, kind, payload, key=None):
        result = post_effect(url, kind, payload, key=key)
        if payload["request_id"] == hang_at and kind == "tickets":
            time.sleep(600)   # the ticket exists, the ledger has not heard: the worst moment to die
        return result

    ledger = side_effect_ledger(ledger_path)
    for i in range(items):
        support_steps(ledger, url, {"request_id": f"r-{i}"}, post=post)
""")


def test_killed_mid_batch_then_resumed_loses_and_repeats_nothing(service, ledger, tmp_path):
    script = tmp_path / "batch.py"
    script.write_text(BATCH)
    command = [sys.executable, str(script), ledger.where, service.url, "12"]
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    child = subprocess.Popen(command + ["r-7"], env=env)
    try:
        deadline = time.monotonic() + 60
        while not any(t["request_id"] == "r-7" for t in service.records("tickets")):
            assert time.monotonic() < deadline and child.poll() is None
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    key = idempotency_key({"request_id": "r-7"}, "open_ticket")
    assert ledger.query("SELECT status FROM effects WHERE key = ?", (key,)) == [("pending",)]
    assert ledger.stats()["done"] == 7 * 3

    subprocess.run(command + ["none"], env=env, check=True, timeout=120)  # resume: same batch, from the top
    for kind in ("tickets", "notifications"):
        assert sorted(r["request_id"] for r in service.records(kind)) == sorted(f"r-{i}" for i in range(12))
    assert ledger.stats()["records"] == 12 and ledger.stats()["done"] == 36 and ledger.stats()["pending"] == 0
    # The dead worker's claim was taken over (2 runs); the service saw the key again and replayed it:
    # record 15, after the 7 tickets and 7 notifications of r-0 to r-6 (one id sequence for all kinds).
    assert ledger.query("SELECT runs, result FROM effects WHERE key = ?", (key,)) == [
        (2, json.dumps({"id": 15, "kind": "tickets", "replayed": True}))
    ]


def test_a_damaged_ledger_is_refused(tmp_path):
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(LedgerCorruptError, match="is damaged .*it is not trusted.*move it aside"):
        SideEffectLedger(garbage)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('schema', 'something-else')")
    with pytest.raises(LedgerCorruptError, match="is not a side-effect ledger"):
        SideEffectLedger(other)

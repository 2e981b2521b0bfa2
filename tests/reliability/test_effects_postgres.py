"""What only the PostgreSQL ledger has: read-only queries, and claims proven by the server's locks.

tests/reliability/test_effects.py runs the whole ledger suite over it too; tests/storage/test_postgres.py
checks that a newer schema is refused, for every store."""

from __future__ import annotations

import threading
import time

import pytest

from toolkit.reliability.effects_postgres import PostgresSideEffectLedger
from toolkit.storage.postgres import connect


def test_query_takes_sqlite_placeholders_and_only_reads(postgres_url):
    ledger = PostgresSideEffectLedger(postgres_url)
    ledger.record("write_crm_note:1", "crm_notes", {"note": "n"})
    assert ledger.query("SELECT kind, key FROM records WHERE key = ?", ("write_crm_note:1",)) == [
        ("crm_notes", "write_crm_note:1")
    ]
    with pytest.raises(Exception, match="read-only transaction"):
        ledger.query("DELETE FROM records")
    assert ledger.stats()["records"] == 1


def test_a_live_holder_keeps_its_lock_and_a_lease_taker_is_not_overtaken(postgres_url):
    """A stuck worker's lease runs out and a second worker takes over (without the key's lock,
    which the stuck one still holds); a third worker that then finds the lock free must still wait
    for the second, whose lease is fresh, instead of running the effect a third time."""
    ledger = PostgresSideEffectLedger(postgres_url, lease_s=0.2)
    stuck, second_running, finish_second = threading.Event(), threading.Event(), threading.Event()
    runs = []

    def first(key):
        runs.append("first")
        stuck.wait(10)
        raise ConnectionError("gave up")  # it fails: it releases the key's lock

    def second(key):
        runs.append("second")
        second_running.set()
        finish_second.wait(10)
        return {"by": "second"}

    a = threading.Thread(target=lambda: pytest.raises(ConnectionError, ledger.once, "t:1", first), daemon=True)
    a.start()
    time.sleep(0.3)  # the first's lease is over
    b_result = []
    taker = PostgresSideEffectLedger(postgres_url, lease_s=5)
    b = threading.Thread(target=lambda: b_result.append(taker.once("t:1", second)), daemon=True)
    b.start()
    assert second_running.wait(5)
    stuck.set()
    a.join(5)  # the lock is free now, the second still runs under its fresh lease
    third = PostgresSideEffectLedger(postgres_url, lease_s=5)
    with pytest.raises(Exception, match="still being run by"):
        third.once("t:1", lambda k: runs.append("third"), wait_s=0.05)
    finish_second.set()
    b.join(5)
    assert runs == ["first", "second"] and b_result == [{"by": "second"}]
    assert third.once("t:1", lambda k: pytest.fail("ran again")) == {"by": "second"}


REQUESTS, WORKERS, DOOMED = 1000, 8, "r-321"
OUTBOX = "CREATE TABLE outbox (id SERIAL PRIMARY KEY, key TEXT UNIQUE NOT NULL, request_id TEXT, step TEXT, pid INT)"


def _send(db, key: str, request_id: str, step: str) -> dict:
    import os

    """The outside system: a table the ledger does not write in its own transactions, which (like a
    service honouring Idempotency-Key) answers a repeated key with the first row, marked replayed."""
    row = db.execute(
        "INSERT INTO outbox (key, request_id, step, pid) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (key) DO NOTHING RETURNING id",
        (key, request_id, step, os.getpid()),
    ).fetchone()
    if row is None:
        return {"id": db.execute("SELECT id FROM outbox WHERE key = %s", (key,)).fetchone()[0], "replayed": True}
    return {"id": row[0], "replayed": False}


def _order(number: int) -> list[int]:
    """The requests worker `number` handles, in its order: a quarter of them, shuffled."""
    import random

    mine = [i for i in range(REQUESTS) if i % (WORKERS // 2) == number % (WORKERS // 2)]
    random.Random(number).shuffle(mine)
    return mine


def _shared_worker(where: str, number: int, marker: str) -> None:
    """One of 8 workers; each request goes to two of them (as a redelivery would). The first to send
    DOOMED's ticket hangs right after the outside system took it: the parent kills it there."""
    import os
    import time

    from toolkit.cost.ledger_postgres import cost_ledger
    from toolkit.models.usage import Usage
    from toolkit.reliability.effects import idempotency_key
    from toolkit.reliability.effects_postgres import side_effect_ledger
    from toolkit.storage.postgres import connect

    ledger, outside, costs = side_effect_ledger(where), connect(where), cost_ledger(where)

    def ticket(key, request_id):
        result = _send(outside, key, request_id, "open_ticket")
        if request_id == DOOMED:
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL))  # only the first sender hangs
                time.sleep(600)
            except FileExistsError:
                pass
        return result

    for i in _order(number):
        request = {"request_id": f"r-{i}"}
        ledger.once(idempotency_key(request, "open_ticket"), lambda k, r=request: ticket(k, r["request_id"]))
        ledger.record(idempotency_key(request, "write_crm_note"), "crm_notes", request)
        key = idempotency_key(request, "send_notification")
        ledger.once(key, lambda k, r=request: _send(outside, k, r["request_id"], "send_notification"))
        # Two cost rows: the worker's own (two per request, none may be lost), and the request's
        # answer under one entry id (both workers write it: one row).
        costs.record(f"r-{i}", "llm", "openai:gpt-4o-mini", Usage(10, 1), entry_id=f"r-{i}:w{number}")
        costs.record(f"r-{i}", "route", "openai:gpt-4o-mini", Usage(), entry_id=f"r-{i}:answer")


def test_eight_workers_1000_requests_nothing_twice_nothing_lost_a_killed_claim_taken_over(postgres_url, tmp_path):
    import json
    import multiprocessing

    from toolkit.cost.ledger_postgres import cost_ledger
    from toolkit.reliability.effects import idempotency_key

    ledger, costs = PostgresSideEffectLedger(postgres_url), cost_ledger(postgres_url)
    with connect(postgres_url) as db:
        db.execute(OUTBOX)
        context = multiprocessing.get_context("spawn")
        marker = str(tmp_path / "doomed-sent")
        workers = [context.Process(target=_shared_worker, args=(postgres_url, n, marker)) for n in range(WORKERS)]
        for w in workers:
            w.start()
        deadline = time.monotonic() + 120
        while (sender := db.execute("SELECT pid FROM outbox WHERE request_id = %s", (DOOMED,)).fetchone()) is None:
            assert time.monotonic() < deadline, "the doomed ticket never came"
            time.sleep(0.02)
        victim = next(w for w in workers if w.pid == sender[0])
        victim.kill()  # mid-step: the ticket was sent, the ledger still says pending
        for w in workers:
            w.join(300)
        assert [w.exitcode for w in workers] == [-9 if w is victim else 0 for w in workers]
        sent = db.execute("SELECT step, request_id FROM outbox ORDER BY step, request_id").fetchall()
    expected = sorted((step, f"r-{i}") for step in ("open_ticket", "send_notification") for i in range(REQUESTS))
    assert sent == expected  # none lost, none twice
    # Every step of every request done once; one extra run: the dead worker's claim, taken over.
    assert ledger.stats() == {
        "done": 3 * REQUESTS,
        "pending": 0,
        "runs": 3 * REQUESTS + 1,
        "attempts": 0,
        "failed_attempts": 0,
        "records": REQUESTS,
    }
    # The only action that reached the outside twice is the taken-over one, which was answered as a
    # replay; had the ledger let two workers through anywhere, more results would say so.
    doomed = idempotency_key({"request_id": DOOMED}, "open_ticket")
    replayed = [k for k, r in ledger.query("SELECT key, result FROM effects") if json.loads(r).get("replayed")]
    assert replayed == [doomed]
    assert ledger.query("SELECT runs FROM effects WHERE key = ?", (doomed,)) == [(2,)]
    # Cost rows, none lost: one answer row per request (both its workers wrote that id), and a row
    # per request from each worker that finished it: 7 x 250, and the killed one's before DOOMED.
    rows = costs.entries()
    answers, calls = rows[rows["kind"] == "route"], rows[rows["kind"] == "llm"]
    assert sorted(answers["query_id"]) == sorted(f"r-{i}" for i in range(REQUESTS))
    killed = _order(workers.index(victim))
    finished = killed[: killed.index(int(DOOMED[2:]))]
    assert len(calls) == 7 * (REQUESTS // 4) + len(finished) and calls["id"].is_unique
    assert sorted(calls[calls["pid"] == victim.pid]["query_id"]) == sorted(f"r-{i}" for i in finished)

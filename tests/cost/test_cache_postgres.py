"""What only the PostgreSQL response cache has: the choice by location, tables that share a
database with the other stores, and a single-flight lock that a dead worker frees.

tests/cost/test_cache.py runs the whole cache suite over it too; tests/storage/test_postgres.py
checks that a newer schema is refused, for every store."""

from __future__ import annotations

import multiprocessing
import threading
import time

from toolkit.cost.cache import ResponseCache
from toolkit.cost.cache_keys import CachedAnswer, CacheRequest
from toolkit.cost.cache_postgres import PostgresResponseCache, response_cache
from toolkit.cost.ledger_postgres import cost_ledger
from toolkit.models.usage import Usage
from toolkit.storage.postgres import connect

FILES = {"policies/returns.md": "a" * 64}


def request(context: str = "ctx") -> CacheRequest:
    return CacheRequest("How long do I have to return an item?", "v1", "local:m", {}, context, FILES, ())


def test_the_location_picks_the_cache(tmp_path, postgres_url):
    assert type(response_cache(tmp_path / "c.sqlite")) is ResponseCache
    shared = response_cache(postgres_url)
    assert type(shared) is PostgresResponseCache and shared.where == postgres_url
    shared.store(request(), CachedAnswer("30 days.", 10, 2, 0.0))
    assert response_cache(postgres_url).lookup(request())[0].text == "30 days."  # another handle, same rows


def test_the_cache_and_the_cost_ledger_share_one_database(postgres_url):
    """Both keep an `entries` table in SQLite; in the one database each has its own."""
    ledger, cache = cost_ledger(postgres_url), response_cache(postgres_url)
    ledger.record("q1", "llm", "local:SmolLM2-135M-Instruct.Q4_1", Usage(100, 20))
    cache.store(request(), CachedAnswer("30 days.", 100, 20, 0.0))
    assert (len(ledger.entries()), len(cache)) == (1, 1)
    with connect(postgres_url) as db:
        tables = {row[0] for row in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
    assert {"entries", "cache_entries", "cache_corpora", "cache_stats"} <= tables


def _hold_the_lock_and_hang(url: str, started) -> None:
    from toolkit.cost.cache_postgres import response_cache

    def compute():
        started.set()
        time.sleep(600)  # killed long before

    response_cache(url).get_or_compute(request(), compute)


def test_a_worker_killed_mid_compute_frees_its_key(postgres_url):
    """The advisory lock is the dead worker's session's: the server drops it with the connection,
    and the next worker computes the answer instead of waiting forever."""
    spawn = multiprocessing.get_context("spawn")
    started = spawn.Event()
    worker = spawn.Process(target=_hold_the_lock_and_hang, args=(postgres_url, started))
    worker.start()
    assert started.wait(60)
    worker.kill()
    worker.join(10)
    found = []
    after = threading.Thread(
        target=lambda: found.append(
            response_cache(postgres_url).get_or_compute(request(), lambda: CachedAnswer("30 days."))
        ),
        daemon=True,  # were the lock never freed, this thread would wait forever: the test fails, not hangs
    )
    after.start()
    after.join(30)
    assert [(answer.text, kind) for answer, kind in found] == [("30 days.", "")]

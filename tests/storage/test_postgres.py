"""The PostgreSQL store's checks before any work, against a real server (tests/conftest.py starts it)."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import pytest

from toolkit.errors import StoreError
from toolkit.storage.postgres import SCHEMA_TABLE, check_store, connect, ensure_schema, is_database_url


def test_a_database_url_is_told_from_a_file():
    assert is_database_url("postgresql://localhost/toolkit") and is_database_url("postgres://u@h/db")
    assert not is_database_url("runs.sqlite") and not is_database_url(None)


def test_a_running_server_with_pgvector_passes(postgres_url):
    check_store(postgres_url)
    with connect(postgres_url) as db:
        assert db.execute("SELECT '[1,2,3]'::vector <-> '[1,2,5]'::vector").fetchone() == (2.0,)


def test_an_unreachable_server_names_the_fix(tmp_path):
    url = f"postgresql://postgres@/postgres?host={tmp_path}"  # a folder with no server's socket in it
    with pytest.raises(StoreError, match=r"cannot reach the store .*start the server, or fix the host"):
        check_store(url)


def test_a_password_in_the_url_is_not_shown(tmp_path):
    with pytest.raises(StoreError) as info:
        connect(f"postgresql://postgres:s3cret@/postgres?host={tmp_path}")
    assert "s3cret" not in str(info.value) and "postgres:***@" in str(info.value)


def test_pgvector_not_created_and_not_creatable_names_the_owner(postgres_server):
    """A user who may not create the extension (pgvector is not a trusted extension) in a database
    that lacks it is told to ask the owner, before any table is made."""
    name = f"novec_{uuid.uuid4().hex[:8]}"
    with connect(postgres_server) as db:
        db.execute(f"CREATE DATABASE {name}")
        db.execute(f"CREATE ROLE {name} LOGIN")
    try:
        host = dict(p.split("=", 1) for p in urlsplit(postgres_server).query.split("&"))["host"]
        with pytest.raises(StoreError, match="has pgvector available but not created.*CREATE EXTENSION vector"):
            check_store(f"postgresql://{name}@/{name}?host={host}")
    finally:
        with connect(postgres_server) as db:
            db.execute(f"DROP DATABASE {name}")
            db.execute(f"DROP ROLE {name}")


def test_a_newer_schema_is_refused_before_any_work(postgres_url):
    with connect(postgres_url) as db:
        ensure_schema(db, postgres_url, "demo store", 1, "CREATE TABLE IF NOT EXISTS demo (x INTEGER)")
        ensure_schema(db, postgres_url, "demo store", 1, "CREATE TABLE IF NOT EXISTS demo (x INTEGER)")  # again: fine
        assert db.execute(f"SELECT store, version FROM {SCHEMA_TABLE}").fetchall() == [("demo store", 1)]
        db.execute(f"UPDATE {SCHEMA_TABLE} SET version = 2")
        with pytest.raises(StoreError, match="holds a demo store of schema 2, newer than this toolkit's 1; upgrade"):
            ensure_schema(db, postgres_url, "demo store", 1, "CREATE TABLE IF NOT EXISTS demo (x INTEGER)")
    with pytest.raises(StoreError, match="schema 2, newer than this toolkit's 1"):
        check_store(postgres_url, known={"demo store": 1})
    check_store(postgres_url, known={"demo store": 2})


@pytest.mark.parametrize(
    "opener, store, known",
    [
        ("toolkit.reliability.effects_postgres:PostgresSideEffectLedger", "side-effect ledger", 1),
        ("toolkit.cost.ledger_postgres:PostgresCostLedger", "cost ledger", 1),
        ("toolkit.cost.cache_postgres:PostgresResponseCache", "response cache", 1),
        ("toolkit.validation.review_postgres:PostgresReviewQueue", "review queue", 1),
        ("toolkit.tracking.run_store_postgres:PostgresRunStore", "run store", 2),
    ],
)
def test_every_store_refuses_a_newer_schema_of_its_own(postgres_url, opener, store, known):
    """Each store registers its schema version when it first opens the database, and a version
    newer than its own is refused on the next open, naming the store and the fix."""
    import importlib

    module, name = opener.split(":")
    open_store = getattr(importlib.import_module(module), name)
    open_store(postgres_url)
    with connect(postgres_url) as db:
        assert db.execute(f"SELECT version FROM {SCHEMA_TABLE} WHERE store = %s", (store,)).fetchone() == (known,)
        db.execute(f"UPDATE {SCHEMA_TABLE} SET version = version + 1 WHERE store = %s", (store,))
    with pytest.raises(
        StoreError, match=f"holds a {store} of schema {known + 1}, newer than this toolkit's {known}; upgrade"
    ):
        open_store(postgres_url)

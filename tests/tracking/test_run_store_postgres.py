"""What only the PostgreSQL run store has: its schema version in toolkit_schema, read-only queries,
backups left to pg_dump, and field values of any length.

tests/tracking/test_run_store.py and test_aggregates.py run the whole suite over it too;
tests/storage/test_postgres.py checks that a newer schema is refused, for every store."""

from __future__ import annotations

import pytest

from toolkit.steps import RunRecord
from toolkit.tracking import SCHEMA_VERSION, RunStoreError
from toolkit.tracking.run_store_postgres import PostgresRunStore, run_store


def record() -> RunRecord:
    return RunRecord("r1", "2026-12-01T10:00:00+00:00", "How long do I have to return an item?", answer="30 days.")


def test_a_store_in_postgresql_reads_its_schema_version_and_points_to_pg_dump(postgres_url, tmp_path):
    store = run_store(postgres_url)
    assert type(store) is PostgresRunStore and store.schema_version == SCHEMA_VERSION
    with pytest.raises(RunStoreError, match="backed up with the server's tools: pg_dump"):
        store.backup(tmp_path / "copy.sqlite")
    with pytest.raises(Exception, match="read-only transaction"):
        store.query("DELETE FROM runs")


def test_a_long_field_value_is_stored_in_postgresql(postgres_url):
    """A B-tree index over (name, value), as the SQLite store keeps, would refuse a value this long."""
    store = run_store(postgres_url)
    r = record()
    r.part("retrieve")["context"] = "x" * 20_000
    store.record(r)
    assert len(store.runs().iloc[0]["retrieve.context"]) == 20_000

"""The dashboard's SQL aggregates agree with the pandas metrics, and the rollups stay right when
a run is recorded again and when a version-1 store is migrated."""

from __future__ import annotations

import sqlite3

import pytest

from toolkit.steps import RunRecord
from toolkit.tracking import (
    RunStore,
    business,
    completion_by_version,
    cost_by_day,
    latency_by_version,
    operational,
    per_run,
    rates_by_version,
    satisfaction_by_version,
)
from toolkit.tracking.run_store import _SCHEMA_V1
from toolkit.tracking.run_store_postgres import run_store


def add(store, run_id, version, total_s, *, day="01", answer="30 days.", error="", cost=0.01):
    r = RunRecord(run_id, f"2026-12-{day}T10:00:00+00:00", "q", answer=answer, error=error)
    r.total_s, r.cost_usd = total_s, cost
    store.record(r, version=version)


@pytest.fixture
def store(where):
    """One store per engine: the aggregates' SQL runs on SQLite and on PostgreSQL."""
    store = run_store(where)
    for i in range(1, 11):
        add(store, f"a{i}", "A", float(i), day="01" if i <= 5 else "02", cost=0.001 * i)
    add(store, "b1", "B", 0.5, error="RuntimeError: down", answer="")
    add(store, "b2", "B", 0.7, answer="I don't know.")
    store.add_review("a1", approved=False)
    store.add_review("a1", approved=False)  # rejected twice: counts once
    store.add_review("a2", approved=True)
    store.add_feedback("a1", up=True)
    store.add_feedback("a2", up=False)
    store.add_feedback("a3", up=True)
    return store


def test_aggregates_by_hand(store):
    latency = latency_by_version(store)
    # nearest rank on 1..10: p50 at offset int(0.5 * 9) = 4 -> 5.0; p95 and p99 at offset 8 -> 9.0
    assert latency["A"] == {"runs": 10, "p50_s": 5.0, "p95_s": 9.0, "p99_s": 9.0}
    assert latency["B"]["p50_s"] == 0.5
    rates = rates_by_version(store)
    assert rates["B"]["error_rate"] == 0.5 and rates["B"]["refusal_rate"] == 0.5
    assert rates["A"]["cost_per_query"] == pytest.approx(0.0055) and rates["A"]["mean_latency_s"] == 5.5
    assert cost_by_day(store) == pytest.approx({"2026-12-01": (0.015 + 0.02) / 7, "2026-12-02": 0.04 / 5})
    assert completion_by_version(store) == {"A": 0.9, "B": 0.0}
    assert satisfaction_by_version(store) == {"A": (2 / 3, 3)}


def test_aggregates_agree_with_the_pandas_metrics(store):
    frame = per_run(store.runs(), store.outcomes())
    ops, biz = operational(frame), business(frame)
    for version, rates in rates_by_version(store).items():
        assert rates["error_rate"] == ops.loc[version, "error_rate"]
        assert rates["cost_per_query"] == pytest.approx(ops.loc[version, "cost_per_query"])
        assert completion_by_version(store)[version] == biz.loc[version, "completion"]
    assert satisfaction_by_version(store)["A"][0] == biz.loc["A", "satisfaction"]


def test_recording_a_run_again_keeps_the_rollup_right(store):
    add(store, "a10", "A", 1.0, day="02", cost=0.0)  # replaces a10 (10 s, $0.010)
    rates = rates_by_version(store)["A"]
    assert rates["runs"] == 10 and rates["mean_latency_s"] == pytest.approx(4.6)
    assert rates["cost_per_query"] == pytest.approx(0.0045)


def test_migration_builds_the_rollups_from_existing_rows(tmp_path):
    path = tmp_path / "runs.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(_SCHEMA_V1)
        db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        for run_id, seconds in (("x1", 1.0), ("x2", 3.0)):
            db.execute(
                "INSERT INTO runs VALUES (?, '2026-01-01T00:00:00+00:00', 'v0', 'q', 'a', 'm', '', 'answered',"
                " ?, 0, 0, 0, 0, 0.5, 0, '[]')",
                (run_id, seconds),
            )
        db.execute(
            "INSERT INTO outcomes (run_id, timestamp, kind, value, comment) VALUES ('x1', 't', 'feedback', 'up', '')"
        )
    store = RunStore(path)
    assert rates_by_version(store)["v0"]["mean_latency_s"] == 2.0
    assert satisfaction_by_version(store) == {"v0": (1.0, 1)}

"""Operational and business metrics, worked out by hand on a store of six runs."""

from __future__ import annotations

import math

import pytest

from toolkit.errors import ConfigError
from toolkit.steps import RunRecord
from toolkit.tracking import RunStore, business, check_slos, operational, per_run, revenue_impact


def run(run_id, version, total_s, *, answer="30 days.", error="", action="pass", cache_hit="", cost=0.01):
    second = "abp".index(run_id[0]) * 10 + int(run_id[-1])  # a1..a4 then b1, b2: oldest first
    r = RunRecord(run_id, f"2026-12-01T10:00:{second:02d}+00:00", f"question {run_id[-1]}", answer=answer)
    r.total_s, r.retrieve_s, r.generate_s, r.cost_usd, r.error = total_s, total_s / 4, total_s / 2, cost, error
    r.part("validate")["action"] = action
    r.part("cache")["hit"] = cache_hit
    return r


@pytest.fixture
def store(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    runs = [
        run("a1", "A", 1.0),
        run("a2", "A", 2.0, cache_hit="exact", cost=0.0),
        run("a3", "A", 3.0, action="escalated"),
        run("a4", "A", 4.0, error="RuntimeError: down", answer=""),
        run("b1", "B", 0.5),
        run("b2", "B", 0.5, answer="I don't know."),
    ]
    for r in runs:
        store.record(r, version=r.run_id[0].upper())
    store.add_feedback("a1", up=False)
    store.add_feedback("a1", up=True)  # the last feedback counts
    store.add_feedback("a2", up=False)
    store.add_review("a2", approved=False)
    store.add_effect("b1", ok=False)
    return store


def test_per_run_values(store):
    frame = per_run(store.runs(), store.outcomes())
    assert frame.status.tolist() == ["answered", "answered", "escalated", "error", "answered", "refused"]
    assert frame.completed.tolist() == [1, 0, 0, 0, 1, 0]  # a2 was rejected in review
    assert frame.error.tolist() == [0, 0, 0, 1, 0, 0]
    assert frame.escalated.tolist() == [0, 0, 1, 0, 0, 0]
    assert frame.cache_hit.tolist() == [0, 1, 0, 0, 0, 0]
    assert frame.satisfied.tolist()[:2] == [1.0, 0.0] and all(math.isnan(v) for v in frame.satisfied[2:])
    downstream = frame.downstream_error.tolist()
    assert downstream[0:2] == [0.0, 1.0] and downstream[4] == 1.0
    assert math.isnan(downstream[2]) and math.isnan(downstream[3]) and math.isnan(downstream[5])


def test_operational_table(store):
    table = operational(per_run(store.runs(), store.outcomes()))
    a, b = table.loc["A"], table.loc["B"]
    assert a.runs == 4 and b.runs == 2
    # numpy's linear percentile of 1, 2, 3, 4: p50 2.5, p95 3.85, p99 3.97
    assert (a.latency_p50_s, a.latency_p95_s, a.latency_p99_s) == pytest.approx((2.5, 3.85, 3.97))
    assert a.retrieve_p50_s == pytest.approx(0.625) and a.generate_p50_s == pytest.approx(1.25)
    assert (a.error_rate, a.escalation_rate, a.cache_hit_rate) == (0.25, 0.25, 0.25)
    assert a.cost_per_query == pytest.approx(0.0075) and b.cost_per_query == pytest.approx(0.01)


def test_business_table_and_revenue_model(store):
    frame = per_run(store.runs(), store.outcomes())
    table = business(frame, cost_per_ticket=4.0)
    a, b = table.loc["A"], table.loc["B"]
    assert (a.completion, a.satisfaction, a.rated, a.downstream_error_rate) == (0.25, 0.5, 2, 0.5)
    assert (b.completion, b.rated, b.downstream_error_rate) == (0.5, 0, 1.0) and math.isnan(b.satisfaction)
    # A: one deflected ticket at $4 minus 3 x $0.01 of runs
    assert a.revenue_impact_usd == pytest.approx(3.97)
    model = revenue_impact(frame[frame.version == "B"], 4.0)
    assert (model["deflected_tickets"], model["saved_usd"], model["net_usd"]) == (1, 4.0, 3.98)
    assert "each completed run deflects one ticket" in model["assumptions"]


def test_projected_cost_comes_from_the_ledger_rows(tmp_path):
    from toolkit.cost import CostLedger
    from toolkit.models import Usage

    ledger = CostLedger(tmp_path / "ledger.sqlite", priced_as="openai:gpt-4o-mini")
    ledger.record("p1", "llm", "local:SmolLM2-135M-Instruct.Q4_1", Usage(1000, 100))
    store = RunStore(tmp_path / "runs.sqlite")
    store.record(run("p1", "A", 1.0, cost=0.0), version="A", ledger=ledger)
    frame = per_run(store.runs(), store.outcomes(), store.ledger(), projected=True)
    # gpt-4o-mini: $0.15 per million input, $0.60 per million output tokens
    assert frame.cost_usd.tolist() == [pytest.approx(1000 * 0.15e-6 + 100 * 0.6e-6)]
    assert store.ledger()[["kind", "usd"]].values.tolist() == [["llm", 0.0]]


def test_slos_raise_alerts_when_broken(store):
    frame = per_run(store.runs(), store.outcomes())
    alerts = check_slos(
        {"p95_latency_s": 3.0, "error_rate": 0.3, "completion": 0.5},
        operational(frame).loc["A"],
        business(frame).loc["A"],
    )
    assert alerts[["slo", "objective", "ok"]].values.tolist() == [
        ["p95_latency_s", "<= 3", False],
        ["error_rate", "<= 0.3", True],
        ["completion", ">= 0.5", False],
    ]
    with pytest.raises(ConfigError, match="unknown SLO 'speed'; known: p50_latency_s"):
        check_slos({"speed": 1.0}, operational(frame).loc["A"])

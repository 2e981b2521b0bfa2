"""What only the PostgreSQL cost ledger has: the choice by location.

tests/cost/test_ledger.py runs the whole ledger suite over it too; tests/storage/test_postgres.py
checks that a newer schema is refused, for every store."""

from __future__ import annotations

from toolkit.cost.ledger import CostLedger
from toolkit.cost.ledger_postgres import PostgresCostLedger, cost_ledger
from toolkit.models.usage import Usage


def test_the_location_picks_the_ledger(tmp_path, postgres_url):
    assert type(cost_ledger(tmp_path / "l.sqlite")) is CostLedger
    shared = cost_ledger(postgres_url, priced_as="openai:gpt-4o-mini")
    assert type(shared) is PostgresCostLedger and shared.where == postgres_url
    # 1,200 in x $0.15 + 300 out x $0.60, per million: what a free local call would have cost.
    assert shared.record("q1", "llm", "local:SmolLM2-135M-Instruct.Q4_1", Usage(1200, 300))["projected_usd"] == 0.00036
    assert list(cost_ledger(postgres_url).entries()["projected_usd"]) == [0.00036]  # another handle, same rows

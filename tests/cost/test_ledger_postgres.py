"""What only the PostgreSQL cost ledger has: its schema version and the choice by location.

tests/cost/test_ledger.py runs the whole ledger suite over it too."""

from __future__ import annotations

import pytest

from toolkit.cost.ledger import CostLedger
from toolkit.cost.ledger_postgres import PostgresCostLedger, cost_ledger
from toolkit.errors import StoreError
from toolkit.models.usage import Usage
from toolkit.storage.postgres import SCHEMA_TABLE, connect


def test_the_location_picks_the_ledger(tmp_path, postgres_url):
    assert type(cost_ledger(tmp_path / "l.sqlite")) is CostLedger
    shared = cost_ledger(postgres_url, priced_as="openai:gpt-4o-mini")
    assert type(shared) is PostgresCostLedger and shared.where == postgres_url
    # 1,200 in x $0.15 + 300 out x $0.60, per million: what a free local call would have cost.
    assert shared.record("q1", "llm", "local:SmolLM2-135M-Instruct.Q4_1", Usage(1200, 300))["projected_usd"] == 0.00036
    assert list(cost_ledger(postgres_url).entries()["projected_usd"]) == [0.00036]  # another handle, same rows


def test_a_ledger_of_a_newer_schema_is_refused(postgres_url):
    PostgresCostLedger(postgres_url)
    with connect(postgres_url) as db:
        db.execute(f"UPDATE {SCHEMA_TABLE} SET version = 2 WHERE store = 'cost ledger'")
    with pytest.raises(StoreError, match="holds a cost ledger of schema 2, newer than this toolkit's 1; upgrade"):
        PostgresCostLedger(postgres_url)

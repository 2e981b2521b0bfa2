"""The cost ledger on PostgreSQL: CostLedger's interface and prices, its rows in a database that
workers on many machines share; `cost_ledger(where)` opens either, by location.

    >>> cost_ledger(tmp_path / "spend.sqlite").path.name                    # a SQLite file
    'spend.sqlite'
    >>> ledger = cost_ledger(postgres_url, budget_usd=1.0)                   # doctest: +SKIP

The database keeps what the SQLite file's writer lock kept: an entry id recorded twice is one
row (`ON CONFLICT DO NOTHING`), and reservations against the budget are taken one at a time
under a transaction-scoped advisory lock, so eight workers never pass the budget between them.
Every row still carries its digest. Not here: prices (prices.py) and the middleware that records.
"""

from __future__ import annotations

import time
import uuid

from ..errors import BudgetExceededError, ConfigError, LedgerCorruptError
from ..storage.postgres import SQLiteDialect, ThreadConnection, ensure_schema, is_database_url
from .ledger import _FIELDS, CostLedger, _row_digest
from .prices import PriceTable

__all__ = ["PostgresCostLedger", "cost_ledger", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1
_TABLES = """
CREATE TABLE IF NOT EXISTS entries(
    id TEXT PRIMARY KEY, ts DOUBLE PRECISION NOT NULL, query_id TEXT NOT NULL, kind TEXT NOT NULL,
    model TEXT NOT NULL, attempt INTEGER NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL, usd DOUBLE PRECISION NOT NULL, projected_model TEXT NOT NULL,
    projected_input_tokens INTEGER NOT NULL, projected_output_tokens INTEGER NOT NULL,
    projected_usd DOUBLE PRECISION NOT NULL, note TEXT NOT NULL, pid INTEGER NOT NULL, digest TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS entries_query ON entries(query_id);
CREATE TABLE IF NOT EXISTS reservations(id TEXT PRIMARY KEY, ts DOUBLE PRECISION NOT NULL,
    usd DOUBLE PRECISION NOT NULL);
"""
_BUDGET_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('toolkit-cost-budget', 0))"


def cost_ledger(where, **options) -> CostLedger:
    """The cost ledger at `where`: a SQLite file, or a `postgresql://` database; `options` are
    CostLedger's (prices, budget_usd, priced_as, embed_priced_as)."""
    if is_database_url(where):
        return PostgresCostLedger(str(where), **options)
    return CostLedger(where, **options)


class PostgresCostLedger(CostLedger):
    """Every priced call, per query, in one PostgreSQL database (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        prices: PriceTable | None = None,
        budget_usd: float | None = None,
        priced_as: str | None = None,
        embed_priced_as: str | None = None,
    ):
        if budget_usd is not None and not budget_usd >= 0:
            raise ConfigError(f"budget_usd must be 0 or more (or None for no budget), not {budget_usd}")
        self.url, self.path = url, None
        self.prices = prices or PriceTable.load()
        self.budget_usd, self.priced_as, self.embed_priced_as = budget_usd, priced_as, embed_priced_as
        for model in filter(None, (priced_as, embed_priced_as)):
            self.prices.price(model)  # an unpriced projection target fails now
        self._connection = ThreadConnection(url)
        ensure_schema(self.db, url, "cost ledger", SCHEMA_VERSION, _TABLES)

    @property
    def where(self) -> str:
        return self.url

    @property
    def db(self):
        """One autocommit connection per thread and process."""
        return self._connection.get()

    def spent(self) -> float:
        """Dollars recorded as spent (what the cache saved is not spending) plus open reservations."""
        return self._spent(self.db)

    def _spent(self, db) -> float:
        paid = db.execute("SELECT COALESCE(SUM(usd), 0) FROM entries WHERE kind != 'cache_saved'").fetchone()[0]
        held = db.execute("SELECT COALESCE(SUM(usd), 0) FROM reservations").fetchone()[0]
        return round(paid + held, 10)

    def reserve(self, model: str, estimate_usd: float) -> str | None:
        """As CostLedger.reserve; reservations are taken one at a time across all workers."""
        if self.budget_usd is None or not self.prices.price(model).paid:
            return None
        with self.db.transaction():
            self.db.execute(_BUDGET_LOCK)  # held to commit: the next reserver sees this one
            spent = self._spent(self.db)
            if self.budget_usd <= 0 or spent >= self.budget_usd or spent + estimate_usd > self.budget_usd:
                raise BudgetExceededError(
                    f"budget ${self.budget_usd:.6f} would be passed: ${spent:.6f} spent or reserved, this "
                    f"{model} call is estimated at ${estimate_usd:.6f}; the call was not made. Raise budget_usd, "
                    f"use a free local model, or cache more"
                )
            reservation = uuid.uuid4().hex
            self.db.execute("INSERT INTO reservations VALUES (%s, %s, %s)", (reservation, time.time(), estimate_usd))
        return reservation

    def release(self, reservation: str | None) -> None:
        if reservation:
            self.db.execute("DELETE FROM reservations WHERE id = %s", (reservation,))

    def _write_entry(self, values: list, reservation: str | None) -> None:
        """As CostLedger's: an `entry_id` recorded twice is one row (ON CONFLICT)."""
        with self.db.transaction():
            self.db.execute(
                f"INSERT INTO entries VALUES ({', '.join(['%s'] * 17)}) ON CONFLICT (id) DO NOTHING",
                values + [_row_digest(values)],
            )
            if reservation:
                self.db.execute("DELETE FROM reservations WHERE id = %s", (reservation,))

    def costs(self, query_id: str) -> list[tuple]:
        return SQLiteDialect(self._connection).execute(self._COSTS, (query_id,)).fetchall()

    def entries(self, query_id: str | None = None):
        """The rows (all, or one query's) as a DataFrame; every row's digest is checked."""
        import pandas as pd

        sql, args = "SELECT * FROM entries", ()
        if query_id is not None:
            sql, args = sql + " WHERE query_id = %s", (query_id,)
        rows = self.db.execute(sql + " ORDER BY ts, id", args).fetchall()
        for row in rows:
            if _row_digest(row[:-1]) != row[-1]:
                raise LedgerCorruptError(
                    f"cost ledger {self.url}: entry {row[0]} was altered (its digest does "
                    f"not match); the ledger cannot be trusted; restore it from a backup"
                )
        return pd.DataFrame([r[:-1] for r in rows], columns=_FIELDS)

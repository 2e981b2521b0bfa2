"""The cost ledger: every call a query made and what it cost, with a budget enforced before paid calls.

The CostLedger (SQLite, safe for concurrent processes) records every call of a query: the model
call, embeddings, each retry and re-ask, validator and judge calls, and what the cache saved.
It enforces a budget: a paid call must reserve its estimate first, and a budget of zero blocks
every paid call. Each row carries a digest; an altered row or a corrupt file is refused, never
rebuilt silently (it records money).

    >>> ledger = CostLedger(tmp_path / "ledger.sqlite", budget_usd=1.0)
    >>> ledger.record("q1", "llm", "openai:gpt-4o-mini", Usage(1200, 300))["usd"]
    0.00036

Not here: prices, tokenizers and projections (prices.py), and the link in the model-call chain that
writes these rows (middleware.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
import uuid
from pathlib import Path

from ..errors import BudgetExceededError, ConfigError, LedgerCorruptError
from ..files import transaction
from .prices import PriceTable, Usage

__all__ = ["CostLedger", "LEDGER_KINDS"]

# llm: the answer; repair and reask: re-asks after a failed check; sql: text-to-SQL (models.calls.CALL_KINDS)
# "route": a cascade's decision (no cost of its own); "review": a person's answer, at its price.
LEDGER_KINDS = ("llm", "embedding", "retry", "repair", "reask", "judge", "sql", "cache_saved", "route", "review")
LEDGER_FORMAT = "toolkit-cost-ledger/1"
LEDGER_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries(
    id TEXT PRIMARY KEY, ts REAL NOT NULL, query_id TEXT NOT NULL, kind TEXT NOT NULL, model TEXT NOT NULL,
    attempt INTEGER NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL, usd REAL NOT NULL, projected_model TEXT NOT NULL,
    projected_input_tokens INTEGER NOT NULL, projected_output_tokens INTEGER NOT NULL,
    projected_usd REAL NOT NULL, note TEXT NOT NULL, pid INTEGER NOT NULL, digest TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS entries_query ON entries(query_id);
CREATE TABLE IF NOT EXISTS reservations(id TEXT PRIMARY KEY, ts REAL NOT NULL, usd REAL NOT NULL);
"""
_FIELDS = [
    "id",
    "ts",
    "query_id",
    "kind",
    "model",
    "attempt",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "usd",
    "projected_model",
    "projected_input_tokens",
    "projected_output_tokens",
    "projected_usd",
    "note",
    "pid",
]


def _row_digest(values) -> str:
    return hashlib.sha256(json.dumps(list(values), default=str).encode("utf-8")).hexdigest()


class CostLedger:
    """Every priced call, per query, in one SQLite file several processes may write at once.

    >>> ledger = CostLedger(tmp_path / "priced.sqlite", priced_as="openai:gpt-4o-mini")
    >>> ledger.record("q1", "llm", "local:SmolLM2-135M-Instruct.Q4_1", Usage(1200, 300))["projected_usd"]
    0.00036

    `priced_as` (a hosted model) adds a projected price to every call of a free local model.
    A corrupt file is refused (LedgerCorruptError), never rebuilt silently: it records money.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        prices: PriceTable | None = None,
        budget_usd: float | None = None,
        priced_as: str | None = None,
        embed_priced_as: str | None = None,
    ):
        if budget_usd is not None and not budget_usd >= 0:
            raise ConfigError(f"budget_usd must be 0 or more (or None for no budget), not {budget_usd}")
        self.path = Path(path).expanduser()
        self.prices = prices or PriceTable.load()
        self.budget_usd, self.priced_as, self.embed_priced_as = budget_usd, priced_as, embed_priced_as
        for model in filter(None, (priced_as, embed_priced_as)):
            self.prices.price(model)  # an unpriced projection target fails now
        self._local = threading.local()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            check = self.db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {check}")
            self.db.executescript(LEDGER_SCHEMA)
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (LEDGER_FORMAT,))
            found = self.db.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise LedgerCorruptError(
                f"cost ledger {self.path} cannot be trusted ({exc}); it was left as it is: "
                f"move it aside to start a new ledger, or restore it from a backup"
            ) from exc
        if found != LEDGER_FORMAT:
            raise LedgerCorruptError(f"{self.path} is a {found!r} file, not a cost ledger; use another path")

    @property
    def db(self) -> sqlite3.Connection:
        if getattr(self._local, "db", None) is None:
            db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA busy_timeout = 60000")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")  # WAL stays consistent; a power cut may lose the last rows
            self._local.db = db
        return self._local.db

    def spent(self) -> float:
        """Dollars recorded as spent (what the cache saved is not spending) plus open reservations."""
        with transaction(self.db) as db:
            return self._spent(db)

    def _spent(self, db) -> float:
        paid = db.execute("SELECT COALESCE(SUM(usd), 0) FROM entries WHERE kind != 'cache_saved'").fetchone()[0]
        held = db.execute("SELECT COALESCE(SUM(usd), 0) FROM reservations").fetchone()[0]
        return round(paid + held, 10)

    def reserve(self, model: str, estimate_usd: float) -> str | None:
        """Hold `estimate_usd` of the budget before a call to `model`; raises BudgetExceededError
        when a paid call would pass the budget (a budget of 0 blocks every paid call). Free
        models and ledgers without a budget reserve nothing (None)."""
        if self.budget_usd is None or not self.prices.price(model).paid:
            return None
        with transaction(self.db) as db:
            spent = self._spent(db)
            if self.budget_usd <= 0 or spent >= self.budget_usd or spent + estimate_usd > self.budget_usd:
                raise BudgetExceededError(
                    f"budget ${self.budget_usd:.6f} would be passed: ${spent:.6f} spent or reserved, this "
                    f"{model} call is estimated at ${estimate_usd:.6f}; the call was not made. Raise budget_usd, "
                    f"use a free local model, or cache more"
                )
            reservation = uuid.uuid4().hex
            db.execute("INSERT INTO reservations VALUES (?, ?, ?)", (reservation, time.time(), estimate_usd))
        return reservation

    def release(self, reservation: str | None) -> None:
        """Drop a reservation whose call was not made (or failed before it was billed)."""
        if reservation:
            self.db.execute("DELETE FROM reservations WHERE id = ?", (reservation,))

    def record(
        self,
        query_id: str,
        kind: str,
        model: str,
        usage: Usage,
        *,
        attempt: int = 1,
        note: str = "",
        projected_usage: Usage | None = None,
        reservation: str | None = None,
        entry_id: str | None = None,
        usd: float | None = None,
    ) -> dict:
        """Record one call (or, kind 'cache_saved', one call the cache avoided). An `entry_id`
        makes recording idempotent: the same id twice is one row."""
        if kind not in LEDGER_KINDS:
            raise ConfigError(f"unknown ledger kind {kind!r}; use one of: {', '.join(LEDGER_KINDS)}")
        target = self.embed_priced_as if kind == "embedding" else self.priced_as
        projected_usage = (projected_usage or usage) if target else Usage()
        projected = self.prices.cost(target, projected_usage) if target else 0.0
        values = [
            entry_id or uuid.uuid4().hex,
            time.time(),
            query_id,
            kind,
            model,
            attempt,
            usage.input_tokens,
            usage.output_tokens,
            usage.cached_input_tokens,
            self.prices.cost(model, usage) if usd is None else usd,
            target or "",
            projected_usage.input_tokens,
            projected_usage.output_tokens,
            projected,
            note,
            os.getpid(),
        ]
        self._write_entry(values, reservation)
        return dict(zip(_FIELDS, values))

    def _write_entry(self, values: list, reservation: str | None) -> None:
        """Insert one row (an id already there is left as it is) and drop its reservation, atomically."""
        with transaction(self.db) as db:
            db.execute(f"INSERT OR IGNORE INTO entries VALUES ({', '.join('?' * 17)})", values + [_row_digest(values)])
            if reservation:
                db.execute("DELETE FROM reservations WHERE id = ?", (reservation,))

    def record_embedding(self, query_id: str, model: str, text: str) -> dict:
        """One embedding of `text` (a question at retrieval), projected on `embed_priced_as` if set."""
        from .prices import tokenizer_for

        projected = Usage(tokenizer_for(self.embed_priced_as)[0](text)) if self.embed_priced_as else None
        return self.record(query_id, "embedding", model, Usage(), projected_usage=projected)

    def attempt_recorder(self, query_id: str, input_tokens: int = 0):
        """An `on_attempt` callback for reliability.RetryPolicy: each failed attempt becomes a
        'retry' row charged its input tokens (an upper bound: a refused 429 is not billed)."""

        def on_attempt(attempt) -> None:
            if attempt.outcome != "ok":
                self.record(
                    query_id,
                    "retry",
                    attempt.tier,
                    Usage(input_tokens),
                    attempt=attempt.number,
                    note=attempt.error[:200],
                    entry_id=f"{query_id}:{attempt.tier}:{attempt.number}",
                )

        return on_attempt

    _COSTS = (
        "SELECT kind, model, usd, projected_model, projected_usd, note FROM entries WHERE query_id = ? ORDER BY ts, id"
    )

    def costs(self, query_id: str) -> list[tuple]:
        """One query's rows as (kind, model, usd, projected_model, projected_usd, note), in order:
        what the run store keeps beside the run. One indexed query, cheap enough to run on every
        recorded run (entries() builds a DataFrame and checks digests, about 2.7 ms here)."""
        return self.db.execute(self._COSTS, (query_id,)).fetchall()

    def entries(self, query_id: str | None = None):
        """The rows (all, or one query's) as a DataFrame; every row's digest is checked."""
        import pandas as pd

        sql, args = "SELECT * FROM entries", ()
        if query_id is not None:
            sql, args = sql + " WHERE query_id = ?", (query_id,)
        rows = self.db.execute(sql + " ORDER BY ts, id", args).fetchall()
        for row in rows:
            if _row_digest(row[:-1]) != row[-1]:
                raise LedgerCorruptError(
                    f"cost ledger {self.path}: entry {row[0]} was altered (its digest does "
                    f"not match); the ledger cannot be trusted; restore it from a backup"
                )
        return pd.DataFrame([r[:-1] for r in rows], columns=_FIELDS)

    def summary(self):
        """Calls, tokens, dollars and projected dollars per kind of call."""
        frame = self.entries()
        grouped = frame.groupby("kind").agg(
            calls=("id", "size"),
            input_tokens=("input_tokens", "sum"),
            output_tokens=("output_tokens", "sum"),
            usd=("usd", "sum"),
            projected_input_tokens=("projected_input_tokens", "sum"),
            projected_output_tokens=("projected_output_tokens", "sum"),
            projected_usd=("projected_usd", "sum"),
        )
        return grouped.reindex([k for k in LEDGER_KINDS if k in grouped.index])

"""The run store: every run, its steps' fields, its model calls and what happened to it later
(user feedback, review decisions, side effects), in one SQLite file, joined by run id and tagged
with the pipeline configuration's version.

    >>> store = RunStore(tmp / "runs.sqlite")                       # doctest: +SKIP
    >>> store.record(answer.record, version=config.version)         # doctest: +SKIP
    >>> store.add_feedback(answer.record.run_id, up=True, comment="thanks")  # doctest: +SKIP
    >>> store.runs().columns[:3].tolist()                           # doctest: +SKIP
    ['run_id', 'timestamp', 'version']

Tables (schema version 2): `runs` (one row per run: the RunRecord's common fields, the version,
the label, where it came from, and its status), `fields` (every `step.field` of
`RunRecord.flat()`, as JSON, so a new step's part lands without a code change), `calls` (one
row per model call as the run record saw it), `ledger` (the cost ledger's rows for the run:
every call, retry, embedding and cache saving, with its dollars and projected dollars), `outcomes` (what happened after the answer:
`feedback` +1/-1 with a comment, `review` approved/rejected, `effect` ok/wrong). A run's
`status` is fixed when it is recorded: `error`, `escalated`, `refused` or `answered` (see
`status_of`).

Why SQLite and not DuckDB: several processes write one store at once (the server's workers,
notebooks, the command line), and DuckDB allows one writing process per file; SQLite in WAL
mode takes concurrent writers from many processes and is in the standard library. The
dashboard's aggregates over 1,000,000 generated runs stay under a second each on SQLite
(benchmarks/bench_run_store.py).

A newer store than this code knows is refused; an older one is migrated forward in place, in
one transaction. A row that cannot be read (bad JSON, a number that is not one) is skipped
and counted in `skipped`, never fatal.

Not here: the metrics computed from the store (metrics.py), the server, the dashboard.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from pathlib import Path

from ..errors import ToolkitError
from ..files import transaction
from ..text import is_abstention

__all__ = ["RunStore", "RunStoreError", "SCHEMA_VERSION", "status_of"]

SCHEMA_VERSION = 2

# Version 1, as it shipped: kept so that a version-1 store can be recognised and migrated.
_SCHEMA_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY, timestamp TEXT NOT NULL, version TEXT NOT NULL, question TEXT NOT NULL,
    answer TEXT NOT NULL, model TEXT NOT NULL, error TEXT NOT NULL, status TEXT NOT NULL,
    total_s REAL NOT NULL, retrieve_s REAL NOT NULL, generate_s REAL NOT NULL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cost_usd REAL NOT NULL,
    compute_s REAL NOT NULL, sources TEXT NOT NULL
);
CREATE TABLE fields (run_id TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (run_id, name));
CREATE TABLE calls (
    run_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, model TEXT NOT NULL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, attempts INTEGER NOT NULL,
    cache_hit TEXT NOT NULL, seconds REAL NOT NULL, PRIMARY KEY (run_id, seq)
);
CREATE TABLE ledger (
    run_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, model TEXT NOT NULL, usd REAL NOT NULL,
    projected_model TEXT NOT NULL, projected_usd REAL NOT NULL, note TEXT NOT NULL, PRIMARY KEY (run_id, seq)
);
CREATE TABLE outcomes (
    id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, timestamp TEXT NOT NULL, kind TEXT NOT NULL,
    value TEXT NOT NULL, comment TEXT NOT NULL
);
CREATE INDEX runs_version ON runs (version);
CREATE INDEX outcomes_run ON outcomes (run_id, kind);
"""

# Each step takes a store from version N to N + 1.
_MIGRATIONS = {
    # 2: where a run came from (notebook, cli, server) and a free label (the arm of a comparison);
    # indexes for what the dashboard groups by; rollups (counts and sums per version, day and
    # status, and outcomes per version), kept up to date by every write, so that the dashboard's
    # aggregates over a million runs read a few hundred rows.
    1: """
    ALTER TABLE runs ADD COLUMN origin TEXT NOT NULL DEFAULT '';
    ALTER TABLE runs ADD COLUMN label TEXT NOT NULL DEFAULT '';
    CREATE INDEX fields_name ON fields (name, value);
    CREATE INDEX runs_timestamp ON runs (timestamp);
    CREATE INDEX runs_version_latency ON runs (version, total_s);
    CREATE INDEX outcomes_kind ON outcomes (kind, value, run_id);
    CREATE TABLE rollup (
        version TEXT NOT NULL, day TEXT NOT NULL, status TEXT NOT NULL, runs INTEGER NOT NULL,
        cost_usd REAL NOT NULL, total_s REAL NOT NULL, PRIMARY KEY (version, day, status)
    );
    INSERT INTO rollup SELECT version, substr(timestamp, 1, 10), status, count(*), sum(cost_usd), sum(total_s)
        FROM runs GROUP BY 1, 2, 3;
    CREATE TABLE outcome_rollup (
        version TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL, status TEXT NOT NULL, n INTEGER NOT NULL,
        PRIMARY KEY (version, kind, value, status)
    );
    INSERT INTO outcome_rollup SELECT r.version, o.kind, o.value, r.status, count(*)
        FROM outcomes o JOIN runs r USING (run_id) GROUP BY 1, 2, 3, 4;
    """,
}

RUN_COLUMNS = [
    "run_id",
    "timestamp",
    "version",
    "label",
    "origin",
    "status",
    "question",
    "answer",
    "model",
    "error",
    "total_s",
    "retrieve_s",
    "generate_s",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "compute_s",
    "sources",
]
_NUMBERS = {"total_s", "retrieve_s", "generate_s", "input_tokens", "output_tokens", "cost_usd", "compute_s"}
OUTCOME_KINDS = {"feedback": ("up", "down"), "review": ("approved", "rejected"), "effect": ("ok", "wrong")}


class RunStoreError(ToolkitError):
    """The run store cannot be used as asked (a newer schema, an unknown run id, a bad value)."""


def status_of(record) -> str:
    """`error` (the run failed), `escalated` (validation or a decide step sent it to a person),
    `refused` (validation refused, or the answer abstains), else `answered`.

    >>> from toolkit.steps import RunRecord
    >>> r = RunRecord("r1", "2026-12-01T00:00:00+00:00", "q", answer="30 days.")
    >>> status_of(r), r.parts.setdefault("validate", {"action": "escalated"}) and status_of(r)
    ('answered', 'escalated')
    """
    if record.error:
        return "error"
    action = record.get("validate.action", "")
    decision = str(record.get("decide.decision", ""))
    if action == "escalated" or decision in ("escalate", "review"):
        return "escalated"
    if action == "refused" or decision == "refuse" or not record.answer.strip() or is_abstention(record.answer):
        return "refused"
    return "answered"


def _json(value) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


class RunStore:
    """One SQLite file of runs (see the module docstring). Safe to share between threads and
    processes: every write is one short transaction; readers never block writers (WAL)."""

    _ORDER = "rowid"  # runs of one timestamp, in the order they were recorded

    def __init__(self, path: str | Path, *, timeout_s: float = 30.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout_s = timeout_s
        self.skipped = 0  # unreadable rows skipped by the last read
        self._local = threading.local()
        self._open()

    # -- connection and schema -----------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; a crash loses no committed WAL page
            conn.execute(f"PRAGMA busy_timeout={int(self.timeout_s * 1000)}")
            self._local.conn = conn
        return conn

    def _open(self) -> None:
        conn = self._connect()
        with transaction(conn):  # one process creates or migrates; the others wait for it
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "meta" not in tables:
                if tables:
                    raise RunStoreError(f"{self.path} is an SQLite file but not a run store; give another path")
                for statement in filter(str.strip, _SCHEMA_V1.split(";")):
                    conn.execute(statement)
                conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
                version = 1
            else:
                row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise RunStoreError(
                    f"{self.path} has run-store schema version {version}, newer than this toolkit's "
                    f"{SCHEMA_VERSION}; upgrade llm-pipeline-toolkit to read it (it was not changed)"
                )
            if version < 1:
                raise RunStoreError(f"{self.path} has no readable schema version; it is not a run store")
            while version < SCHEMA_VERSION:
                for statement in filter(str.strip, _MIGRATIONS[version].split(";")):
                    conn.execute(statement)
                version += 1
            conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(version),))

    def _transaction(self):
        """One write transaction, taken up front (BEGIN IMMEDIATE)."""
        return transaction(self._connect())

    @property
    def schema_version(self) -> int:
        return int(self._connect().execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])

    def backup(self, path: str | Path) -> Path:
        """A consistent copy of the store at `path`, taken while writers go on (SQLite's backup
        API; copying the file alone would miss what is still in its write-ahead log)."""
        path = Path(path)
        target = sqlite3.connect(path)
        try:
            self._connect().backup(target)
        finally:
            target.close()
        return path

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- writing -------------------------------------------------------------------------------

    def record(self, record, *, version: str = "", label: str = "", origin: str = "python", ledger=None) -> None:
        """Store one RunRecord (its common fields, every `step.field`, every model call, and the
        `ledger`'s rows for it when a CostLedger is given) in one transaction. Recording the
        same run id again replaces it."""
        r = record
        row = (
            r.run_id,
            r.timestamp,
            version,
            label,
            origin,
            status_of(r),
            r.question,
            r.answer or "",
            r.model,
            r.error,
            float(r.total_s),
            float(r.retrieve_s),
            float(r.generate_s),
            int(r.input_tokens),
            int(r.output_tokens),
            float(r.cost_usd),
            float(r.compute_s),
            _json(list(r.sources)),
        )
        fields = [
            (r.run_id, f"{step}.{name}", _json(value)) for step, part in r.parts.items() for name, value in part.items()
        ]
        calls = [
            (
                r.run_id,
                seq,
                c.get("kind", ""),
                c.get("model", ""),
                int(c.get("input_tokens", 0)),
                int(c.get("output_tokens", 0)),
                int(c.get("attempts", 1)),
                str(c.get("cache_hit", "")),
                float(c.get("seconds", 0.0)),
            )
            for seq, c in enumerate(r.calls)
        ]
        costs = []
        if ledger is not None:  # one indexed query on the ledger's own store (a file or a database)
            costs = [(r.run_id, seq, *row) for seq, row in enumerate(ledger.costs(r.run_id))]
        conn = self._connect()
        with self._transaction():
            old = conn.execute(
                "SELECT version, substr(timestamp, 1, 10), status, cost_usd, total_s FROM runs WHERE run_id=?",
                (r.run_id,),
            ).fetchone()
            if old is not None:  # recorded again: take the old run out of the rollup first
                conn.execute(
                    "UPDATE rollup SET runs=runs-1, cost_usd=cost_usd-?, total_s=total_s-?"
                    " WHERE version=? AND day=? AND status=?",
                    (old[3], old[4], *old[:3]),
                )
            for table in ("fields", "calls", "ledger", "runs"):
                conn.execute(f"DELETE FROM {table} WHERE run_id=?", (r.run_id,))
            conn.execute(f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' * len(row))})", row)
            conn.executemany("INSERT INTO fields VALUES (?, ?, ?)", fields)
            conn.executemany("INSERT INTO calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", calls)
            conn.executemany("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?)", costs)
            conn.execute(
                "INSERT INTO rollup VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT (version, day, status) DO UPDATE SET"
                " runs=rollup.runs+1, cost_usd=rollup.cost_usd+excluded.cost_usd,"
                " total_s=rollup.total_s+excluded.total_s",
                (version, r.timestamp[:10], row[5], row[15], row[10]),
            )

    def recorder(self, *, version: str = "", label: str = "", origin: str = "python"):
        """A callable `recorder(record)` that stores runs with these tags (a Pipeline hook)."""
        return lambda record: self.record(record, version=version, label=label, origin=origin)

    def _outcome(self, run_id: str, kind: str, value: str, comment: str = "") -> int:
        if value not in OUTCOME_KINDS[kind]:
            raise RunStoreError(f"a {kind} is one of {', '.join(OUTCOME_KINDS[kind])}, not {value!r}")
        if len(comment) > 2000:
            raise RunStoreError("a comment is at most 2,000 characters; shorten it")
        conn = self._connect()
        with self._transaction():
            run = conn.execute("SELECT version, status FROM runs WHERE run_id=?", (run_id,)).fetchone()
            if run is None:
                raise RunStoreError(
                    f"no run with id {run_id!r} in the run store; use the run_id that /ask (or answer.record) returned"
                )
            conn.execute(
                "INSERT INTO outcome_rollup VALUES (?, ?, ?, ?, 1)"
                " ON CONFLICT (version, kind, value, status) DO UPDATE SET n=outcome_rollup.n+1",
                (run[0], kind, value, run[1]),
            )
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
            return conn.execute(
                "INSERT INTO outcomes (run_id, timestamp, kind, value, comment) VALUES (?, ?, ?, ?, ?) RETURNING id",
                (run_id, stamp, kind, value, comment),
            ).fetchone()[0]

    def add_feedback(self, run_id: str, *, up: bool, comment: str = "") -> int:
        """A user's thumbs up (`up=True`) or down, with an optional comment; an unknown run id is refused."""
        return self._outcome(run_id, "feedback", "up" if up else "down", comment)

    def add_review(self, run_id: str, *, approved: bool, comment: str = "") -> int:
        """A reviewer's later decision on an answer."""
        return self._outcome(run_id, "review", "approved" if approved else "rejected", comment)

    def add_effect(self, run_id: str, *, ok: bool, comment: str = "") -> int:
        """A side effect that acted on the answer (a refund, a ticket): `ok=False` when it acted on a wrong answer."""
        return self._outcome(run_id, "effect", "ok" if ok else "wrong", comment)

    # -- reading -------------------------------------------------------------------------------

    def count(self) -> int:
        return self._connect().execute("SELECT count(*) FROM runs").fetchone()[0]

    def runs(self, version: str | None = None, label: str | None = None):
        """Every run as a DataFrame (common fields, then every `step.field`), oldest first.
        Unreadable rows are skipped and counted in `self.skipped`."""
        import pandas as pd

        where, args = [], []
        for column, value in (("version", version), ("label", label)):
            if value is not None:
                where.append(f"{column}=?")
                args.append(value)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        conn = self._connect()
        self.skipped = 0
        rows = {}
        for raw in conn.execute(
            f"SELECT {', '.join(RUN_COLUMNS)} FROM runs{clause} ORDER BY timestamp, {self._ORDER}", args
        ):
            row = dict(zip(RUN_COLUMNS, raw))
            try:
                for name in _NUMBERS:
                    value = float(row[name])
                    if math.isnan(value):
                        raise ValueError(name)
                    row[name] = value
                row["sources"] = json.loads(row["sources"])
            except (TypeError, ValueError):
                self.skipped += 1
                continue
            rows[row["run_id"]] = row
        join = f" JOIN runs USING (run_id){clause}" if clause else ""
        for run_id, name, value in conn.execute(f"SELECT fields.run_id, name, value FROM fields{join}", args):
            if run_id not in rows:
                continue
            try:
                rows[run_id][name] = json.loads(value)
            except (TypeError, ValueError):
                self.skipped += 1
                del rows[run_id]
        frame = pd.DataFrame(list(rows.values()), columns=None if rows else RUN_COLUMNS)
        frame.attrs["skipped"] = self.skipped
        return frame

    def calls(self):
        """Every model call: run_id, seq, kind, model, tokens, attempts, cache_hit, seconds."""
        return self._frame("SELECT * FROM calls ORDER BY run_id, seq")

    def ledger(self):
        """The cost ledger's rows per run: run_id, seq, kind, model, usd, projected_model, projected_usd, note."""
        return self._frame("SELECT * FROM ledger ORDER BY run_id, seq")

    def outcomes(self, kind: str | None = None):
        """Feedback, review decisions and side effects, oldest first."""
        query = "SELECT id, run_id, timestamp, kind, value, comment FROM outcomes"
        args = ()
        if kind is not None:
            query, args = query + " WHERE kind=?", (kind,)
        return self._frame(query + " ORDER BY id", args)

    def _frame(self, sql: str, args=()):
        """A query's rows as a DataFrame with its columns' names."""
        import pandas as pd

        cursor = self._connect().execute(sql, args)
        return pd.DataFrame(cursor.fetchall(), columns=[column[0] for column in cursor.description])

    def query(self, sql: str, args=()):
        """Rows of a read-only SQL query (for aggregates the DataFrames would be slow for)."""
        return self._connect().execute(sql, args).fetchall()

"""PostgreSQL as the shared store: recognising its URL, connecting, and checking it before any work.

Several workers (processes, machines) share one truth by sharing one database. Each durable store
(the ledgers, the response cache, the run store, the review queue, the vector index) keeps its tables there and
registers its schema version in `toolkit_schema`, so a database written by a newer toolkit is
refused instead of misread.

    >>> is_database_url("postgresql:///toolkit?host=/run/postgresql"), is_database_url("runs.sqlite")
    (True, False)
    >>> check_store("postgresql://nobody@127.0.0.1:1/none")
    Traceback (most recent call last):
    toolkit.errors.StoreError: cannot reach the store postgresql://nobody@127.0.0.1:1/none ...

Passwords never go in a configuration file (it is committed): libpq reads PGPASSWORD or
~/.pgpass. Not here: the stores themselves (toolkit.reliability.effects_postgres, ...) and
starting a server (local_server.py starts a throwaway one).
"""

from __future__ import annotations

import os
import re
import threading
from urllib.parse import urlsplit

from ..errors import StoreError, require

__all__ = [
    "is_database_url",
    "redacted",
    "connect",
    "ThreadConnection",
    "SQLiteDialect",
    "check_store",
    "ensure_schema",
    "SCHEMA_TABLE",
]

SCHEMA_TABLE = "toolkit_schema"


def is_database_url(where) -> bool:
    """Whether `where` names a PostgreSQL database rather than a file."""
    return isinstance(where, str) and where.startswith(("postgresql://", "postgres://"))


def redacted(url: str) -> str:
    """The URL with its password, if any, as `***`: for messages, reports and reprs.

    >>> redacted("postgresql://me:s3cret@db/toolkit")
    'postgresql://me:***@db/toolkit'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def connect(url: str, *, autocommit: bool = True, timeout_s: float = 10.0):
    """A psycopg 3 connection to `url`; an unreachable server raises StoreError naming the fix."""
    psycopg = require("psycopg", "postgres")
    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=max(1, round(timeout_s)))
    except psycopg.OperationalError as exc:
        raise StoreError(
            f"cannot reach the store {redacted(url)} ({_first_line(exc)}); start the server, or fix the host, port, "
            f"database and user in the URL (a password goes in PGPASSWORD or ~/.pgpass, not the URL)"
        ) from exc


class ThreadConnection:
    """One autocommit connection to `url` per thread and per process, opened on first use: a
    psycopg connection must not cross threads or a fork, and an advisory lock belongs to its session.

        >>> ThreadConnection("postgresql:///toolkit").url
        'postgresql:///toolkit'
    """

    def __init__(self, url: str):
        self.url, self._local = url, threading.local()

    def get(self):
        local = self._local
        if getattr(local, "db", None) is None or local.pid != os.getpid() or local.db.closed:
            local.db, local.pid = connect(self.url), os.getpid()
        return local.db

    def close(self) -> None:
        """Close this thread's connection, if it has one."""
        if getattr(self._local, "db", None) is not None:
            self._local.db.close()
            self._local.db = None


class SQLiteDialect:
    """A store's thread connections (a ThreadConnection), running SQL written for the store's
    SQLite twin: `?` placeholders become `%s`, and each of that store's table names takes its
    PostgreSQL name (one database holds every store, so two stores' `entries` tables must differ).
    One SQL text then serves both engines, and only what differs (upserts, vectors, locks) is
    written twice. A store makes one and keeps it.

        >>> SQLiteDialect(None, {"entries": "cache_entries"}).sql("SELECT id FROM entries WHERE key = ?")
        'SELECT id FROM cache_entries WHERE key = %s'
    """

    def __init__(self, connection: ThreadConnection, tables: dict[str, str] | None = None):
        self.connection, self.tables = connection, dict(tables or {})
        self._names = re.compile(r"\b(" + "|".join(map(re.escape, self.tables)) + r")\b") if self.tables else None

    @property
    def db(self):
        """This thread's psycopg connection."""
        return self.connection.get()

    def sql(self, text: str) -> str:
        text = text.replace("?", "%s")  # the stores' SQL holds no literal question marks
        return self._names.sub(lambda m: self.tables[m.group(1)], text) if self._names else text

    def execute(self, text: str, args=()):
        return self.db.execute(self.sql(text), args)

    def executemany(self, text: str, rows) -> None:
        with self.db.cursor() as cursor:
            cursor.executemany(self.sql(text), rows)

    def transaction(self):
        return self.db.transaction()


def check_store(url: str, known: dict[str, int] | None = None) -> None:
    """Refuse, before any work, a database that is unreachable, lacks pgvector, or holds a schema
    newer than this toolkit's `known` versions ({store name: version})."""
    with connect(url) as db:
        available = db.execute("SELECT installed_version FROM pg_available_extensions WHERE name = 'vector'").fetchone()
        if available is None:
            raise StoreError(
                f"the store {redacted(url)} has no pgvector extension; install it on the database server "
                f"(Debian: postgresql-NN-pgvector, NN the server's major version), then run CREATE EXTENSION vector"
            )
        if available[0] is None:
            try:
                db.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except Exception as exc:  # psycopg.errors.InsufficientPrivilege, mostly
                raise StoreError(
                    f"the store {redacted(url)} has pgvector available but not created, and this user cannot "
                    f"create it ({_first_line(exc)}); ask the database owner to run CREATE EXTENSION vector"
                ) from exc
        for store, version in _versions(db).items():
            if store in (known or {}) and version > known[store]:
                raise StoreError(_newer(url, store, version, known[store]))


def _versions(db) -> dict[str, int]:
    exists = db.execute("SELECT to_regclass(%s)", (SCHEMA_TABLE,)).fetchone()[0]
    if exists is None:
        return {}
    return dict(db.execute(f"SELECT store, version FROM {SCHEMA_TABLE}").fetchall())


def _newer(url: str, store: str, found: int, known: int) -> str:
    return (
        f"the store {redacted(url)} holds a {store} of schema {found}, newer than this toolkit's {known}; "
        f"upgrade llm-pipeline-toolkit on this worker (pip install -U llm-pipeline-toolkit), or give another database"
    )


def ensure_schema(db, url: str, store: str, version: int, ddl: str) -> None:
    """Create `store`'s tables (idempotent `ddl`) and record its version, once across workers;
    a newer version already there raises StoreError. `db` is an autocommit connection."""
    with db.transaction():
        # One worker at a time creates tables: concurrent CREATE TABLE IF NOT EXISTS can collide.
        db.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"toolkit-schema:{store}",))
        db.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (store TEXT PRIMARY KEY, version INTEGER NOT NULL)")
        row = db.execute(f"SELECT version FROM {SCHEMA_TABLE} WHERE store = %s", (store,)).fetchone()
        if row is not None and row[0] > version:
            raise StoreError(_newer(url, store, row[0], version))
        if row is not None and row[0] == version:
            # Already there: no DDL, whose table locks (CREATE INDEX takes a SHARE lock even when
            # the index exists) would deadlock against workers already writing.
            return
        db.execute(ddl)
        db.execute(
            f"INSERT INTO {SCHEMA_TABLE} VALUES (%s, %s) ON CONFLICT (store) DO UPDATE SET version = excluded.version",
            (store, version),
        )

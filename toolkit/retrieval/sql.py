"""The read-only SQL guard: run SELECTs over an allowlist of tables in a SQLite file, and
nothing else; and LlamaIndex's natural-language-to-SQL through the same guard.

Every statement, template or model-written, runs through `ReadOnlyDatabase.query`: a `mode=ro`
connection plus an SQLite authorizer that allows only SELECT, reads of the allowlisted tables
and a list of plain functions. Writes, ATTACH, PRAGMA, temp tables and transactions are
refused with UnsafeSQLError before SQLite runs anything; a query running past `timeout_s` is
stopped.

    >>> db = ReadOnlyDatabase("shop.sqlite", tables=["orders"])           # doctest: +SKIP
    >>> db.query("SELECT status FROM orders WHERE order_id = ?", (1042,))  # doctest: +SKIP
    [{'status': 'delivered'}]
    >>> db.query("DELETE FROM orders")                                    # doctest: +SKIP
    Traceback (most recent call last):
    UnsafeSQLError: refused: only SELECT statements may run on the read-only SQL source, not DELETE; ...

Not here: building a database or the lookups a source makes with it (the bundled demo's are
toolkit.demo.structured), or deciding which questions need SQL (router.py).
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

from ..errors import ConfigError, SourceUnavailableError, UnsafeSQLError

__all__ = ["ReadOnlyDatabase", "SAFE_FUNCTIONS", "text_to_sql"]

# What the authorizer lets through. Functions are allowlisted rather than denylisted, so a new
# SQLite function (or load_extension, randomblob...) is refused until someone judges it safe.
SAFE_FUNCTIONS = frozenset(
    {
        "count",
        "sum",
        "total",
        "avg",
        "min",
        "max",
        "group_concat",
        "abs",
        "round",
        "lower",
        "upper",
        "length",
        "substr",
        "substring",
        "trim",
        "ltrim",
        "rtrim",
        "replace",
        "instr",
        "like",
        "glob",
        "coalesce",
        "ifnull",
        "nullif",
        "iif",
        "date",
        "datetime",
        "julianday",
        "strftime",
        "printf",
        "format",
        "cast",
        "typeof",
    }
)
# Authorizer action codes by name, for messages ("refused: SQLITE_INSERT on orders").
_ACTIONS = {
    getattr(sqlite3, name): name
    for name in (
        "SQLITE_ALTER_TABLE",
        "SQLITE_ANALYZE",
        "SQLITE_ATTACH",
        "SQLITE_CREATE_INDEX",
        "SQLITE_CREATE_TABLE",
        "SQLITE_CREATE_TEMP_INDEX",
        "SQLITE_CREATE_TEMP_TABLE",
        "SQLITE_CREATE_TEMP_TRIGGER",
        "SQLITE_CREATE_TEMP_VIEW",
        "SQLITE_CREATE_TRIGGER",
        "SQLITE_CREATE_VIEW",
        "SQLITE_CREATE_VTABLE",
        "SQLITE_DELETE",
        "SQLITE_DETACH",
        "SQLITE_DROP_INDEX",
        "SQLITE_DROP_TABLE",
        "SQLITE_DROP_TEMP_INDEX",
        "SQLITE_DROP_TEMP_TABLE",
        "SQLITE_DROP_TEMP_TRIGGER",
        "SQLITE_DROP_TEMP_VIEW",
        "SQLITE_DROP_TRIGGER",
        "SQLITE_DROP_VIEW",
        "SQLITE_DROP_VTABLE",
        "SQLITE_FUNCTION",
        "SQLITE_INSERT",
        "SQLITE_PRAGMA",
        "SQLITE_READ",
        "SQLITE_RECURSIVE",
        "SQLITE_REINDEX",
        "SQLITE_SAVEPOINT",
        "SQLITE_SELECT",
        "SQLITE_TRANSACTION",
        "SQLITE_UPDATE",
    )
}
_LEADING_COMMENTS = re.compile(r"^(\s+|--[^\n]*\n?|/\*.*?\*/)*", re.DOTALL)


class ReadOnlyDatabase:
    """A SQLite file opened read-only, where only SELECTs over allowlisted tables may run.

    `tables` is the allowlist; left None, it is every table the file holds now (a table added
    later stays refused until a new ReadOnlyDatabase is made).

    >>> db = ReadOnlyDatabase("shop.sqlite", tables=["orders", "stock"])   # doctest: +SKIP
    >>> db.query("SELECT email FROM customers")                            # doctest: +SKIP
    Traceback (most recent call last):
    UnsafeSQLError: refused: SQLITE_READ customers email. The SQL source is read-only: ...
    """

    def __init__(self, path: str | Path, tables=None, timeout_s: float = 2.0):
        self.path = Path(path)
        if not self.path.is_file():
            raise ConfigError(f"no database at {self.path}; pass the path of an existing SQLite file")
        if isinstance(tables, str):  # one table name, not its letters
            tables = [tables]
        self.tables = frozenset(self._tables_in_file() if tables is None else tables)
        if not self.tables:
            raise ConfigError(
                f"{self.path} holds no tables, so nothing could be read; pass tables=[...] or a database that has some"
            )
        self.timeout_s = timeout_s

    def _tables_in_file(self) -> list[str]:
        # Read once, before the guard exists: the guard itself refuses reads of sqlite_master.
        try:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                rows = conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
                ).fetchall()
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{self.path} is not a readable SQLite database ({exc})") from exc
        return [name for (name,) in rows]

    def _connect(self) -> tuple[sqlite3.Connection, list[str]]:
        """A new guarded connection (one per query: sqlite3 connections are not shared between
        threads) and the list its authorizer writes each refusal to."""
        try:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.OperationalError as exc:  # deleted or unreadable since this object was made
            raise SourceUnavailableError(
                f"cannot open the database {self.path} ({exc}); was it moved or deleted since it was opened?"
            ) from exc
        refusals: list[str] = []
        conn.set_authorizer(lambda *args: self._authorize(refusals, *args))
        return conn, refusals

    def _authorize(self, refusals: list[str], action: int, arg1, arg2, db_name, _trigger) -> int:
        if action == sqlite3.SQLITE_SELECT:
            return sqlite3.SQLITE_OK
        # db_name is None for a table-level read (count(*)) and for CTE names; a CTE's name is
        # not an allowlisted table, so recursive CTEs (the classic runaway query) are refused too.
        if action == sqlite3.SQLITE_READ and arg1 in self.tables and db_name in ("main", None):
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in SAFE_FUNCTIONS:
            return sqlite3.SQLITE_OK
        name = _ACTIONS.get(action, f"action {action}")
        what = " ".join(str(a) for a in (arg1, arg2) if a)
        refusals.append(f"{name}{' ' + what if what else ''}")
        return sqlite3.SQLITE_DENY

    def query(self, sql: str, params: tuple | dict = ()) -> list[dict]:
        """Run one read-only statement; rows as dicts. Raises UnsafeSQLError if refused."""
        keyword = _LEADING_COMMENTS.sub("", sql, count=1).split(None, 1)[:1]
        if not keyword or keyword[0].upper() not in ("SELECT", "WITH"):
            raise UnsafeSQLError(
                f"refused: only SELECT statements may run on the read-only SQL source, "
                f"not {(keyword or ['(empty)'])[0].upper()}; ask a question instead of "
                f"changing data"
            )
        conn, refusals = self._connect()
        deadline = time.monotonic() + self.timeout_s
        # Checked every 10,000 SQLite instructions: a runaway query (a recursive CTE) is stopped.
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            cursor = conn.execute(sql, params)
            names = [d[0] for d in cursor.description or ()]
            return [dict(zip(names, row)) for row in cursor.fetchall()]
        except sqlite3.ProgrammingError as exc:  # more than one statement, wrong parameter count
            raise UnsafeSQLError(f"refused: {exc}; send exactly one SELECT statement") from exc
        except sqlite3.DatabaseError as exc:
            if refusals:
                allowed = ", ".join(sorted(self.tables))
                raise UnsafeSQLError(
                    f"refused: {'; '.join(refusals)}. The SQL source is read-only: "
                    f"only SELECT over {allowed} with plain functions may run"
                ) from exc
            if "interrupted" in str(exc):
                raise UnsafeSQLError(
                    f"refused: the query ran longer than {self.timeout_s} s; narrow it with WHERE or LIMIT"
                ) from exc
            raise UnsafeSQLError(f"the SQL did not run ({exc}); check the statement against the schema") from exc
        finally:
            conn.close()


def text_to_sql(question: str, llm, db: ReadOnlyDatabase, tables=None, embed_model=None):
    """LlamaIndex's NLSQLRetriever, with every model-written statement run through the guard.

    Returns (nodes, the SQL the model wrote). `tables` narrows the schema the model sees (by
    default every allowlisted table). A statement that writes, attaches or runs a PRAGMA raises
    UnsafeSQLError; invalid SQL is returned as an error node (LlamaIndex's way).

    >>> nodes, sql = text_to_sql("How many orders were cancelled?", llm, db)   # doctest: +SKIP
    """
    from llama_index.core import SQLDatabase
    from llama_index.core.retrievers import NLSQLRetriever
    from sqlalchemy import create_engine

    if embed_model is None:  # LlamaIndex resolves one even though its default SQL parser never embeds
        from ..config import load_settings
        from ..models.providers import make_embed_model

        embed_model = make_embed_model(load_settings())

    class GuardedSQLDatabase(SQLDatabase):
        # LlamaIndex reflects the schema through SQLAlchemy (PRAGMA table_info on a mode=ro
        # connection); the model's SQL runs only through the guarded ReadOnlyDatabase.
        def run_sql(self, command: str):
            rows = db.query(command)
            keys = list(rows[0]) if rows else []
            result = [tuple(r.values()) for r in rows]
            return str(result), {"result": result, "col_keys": keys}

    uri = f"{db.path.resolve().as_uri()}?mode=ro"
    engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True))
    tables = list(tables or sorted(db.tables))
    retriever = NLSQLRetriever(
        GuardedSQLDatabase(engine, include_tables=tables, sample_rows_in_table_info=1),
        tables=tables,
        llm=llm,
        embed_model=embed_model,
        handle_sql_errors=False,
    )
    try:
        nodes, meta = retriever.retrieve_with_metadata(question)
    finally:
        engine.dispose()
    return nodes, meta.get("sql_query", "")

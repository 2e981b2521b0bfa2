"""The read-only SQL guard and text-to-SQL through it, over the bundled database."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from toolkit.demo.structured import build_database
from toolkit.errors import ConfigError, SourceUnavailableError, UnsafeSQLError
from toolkit.retrieval.sql import ReadOnlyDatabase, text_to_sql


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def db() -> ReadOnlyDatabase:
    return ReadOnlyDatabase(build_database())


# The guard. Each statement is refused with this message fragment, and nothing changes on disk.
REFUSED = [
    ("INSERT INTO stock VALUES ('TW-X', 1, NULL, '2024-12-16')", "not INSERT"),
    ("UPDATE orders SET status = 'delivered'", "not UPDATE"),
    ("DELETE FROM orders", "not DELETE"),
    ("DROP TABLE orders", "not DROP"),
    ("ATTACH DATABASE '{tmp}/evil.db' AS evil", "not ATTACH"),
    ("PRAGMA user_version = 5", "not PRAGMA"),
    ("PRAGMA writable_schema = ON", "not PRAGMA"),
    ("CREATE TEMP TABLE t (x)", "not CREATE"),
    ("VACUUM INTO '{tmp}/copy.db'", "not VACUUM"),
    ("/* a comment */ INSERT INTO stock VALUES ('TW-X', 1, NULL, 'x')", "not INSERT"),
    # past the first-keyword check, the SQLite authorizer refuses:
    ("WITH x AS (SELECT 1) INSERT INTO stock SELECT * FROM stock", "SQLITE_INSERT stock"),
    ("WITH x AS (SELECT 1) DELETE FROM orders", "SQLITE_DELETE orders"),
    ("SELECT name, sql FROM sqlite_master", "SQLITE_READ sqlite_master"),
    ("SELECT * FROM pragma_table_info('orders')", "refused: SQLITE_"),
    ("SELECT load_extension('/tmp/x.so')", "SQLITE_FUNCTION load_extension"),
    ("SELECT randomblob(1000000000)", "SQLITE_FUNCTION randomblob"),
    ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c", "SQLITE_READ c"),
    ("SELECT 1; DROP TABLE orders", "one statement at a time"),
]


def test_writes_attach_and_pragma_are_refused_and_the_database_is_unchanged(db, tmp_path):
    before = sha256(db.path)
    for statement, message in REFUSED:
        with pytest.raises(UnsafeSQLError, match="refused") as caught:
            db.query(statement.format(tmp=tmp_path))
        assert message in str(caught.value), statement
    assert sha256(db.path) == before
    assert not (tmp_path / "evil.db").exists() and not (tmp_path / "copy.db").exists()
    assert db.query("SELECT status FROM orders WHERE order_id = ?", (1042,)) == [{"status": "delivered"}]
    assert db.query("WITH x AS (SELECT status FROM orders) SELECT count(*) AS n FROM x") == [{"n": 300}]


def test_the_authorizer_alone_refuses_attach_pragma_and_writes(db, tmp_path):
    """Defense in depth: even without the first-keyword check, SQLite itself says no."""
    before = sha256(db.path)
    conn, refusals = db._connect()
    for statement in [
        f"ATTACH DATABASE '{tmp_path}/evil.db' AS evil",
        "PRAGMA user_version = 5",
        "INSERT INTO stock VALUES ('TW-X', 1, NULL, 'x')",
        "BEGIN IMMEDIATE",
    ]:
        with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
            conn.execute(statement)
    conn.close()
    assert refusals == [
        f"SQLITE_ATTACH {tmp_path}/evil.db",
        "SQLITE_PRAGMA user_version 5",
        "SQLITE_INSERT stock",
        "SQLITE_TRANSACTION BEGIN",
    ]
    assert sha256(db.path) == before and not (tmp_path / "evil.db").exists()


def test_a_runaway_query_is_stopped(db):
    slow = ReadOnlyDatabase(db.path, timeout_s=0.2)
    with pytest.raises(UnsafeSQLError, match="ran longer than 0.2 s"):
        slow.query("SELECT count(*) FROM order_items a, order_items b, order_items c")


def test_table_allowlist_and_missing_database(db, tmp_path):
    narrow = ReadOnlyDatabase(db.path, tables=["products", "stock"])
    assert narrow.query("SELECT count(*) AS n FROM stock") == [{"n": 17}]
    with pytest.raises(UnsafeSQLError, match="SQLITE_READ customers"):
        narrow.query("SELECT email FROM customers")
    with pytest.raises(ConfigError, match="no database at .*none.sqlite; pass the path of an existing SQLite file"):
        ReadOnlyDatabase(tmp_path / "none.sqlite")
    copy = tmp_path / "copy.sqlite"
    shutil.copy(db.path, copy)
    doomed = ReadOnlyDatabase(copy)
    copy.unlink()
    with pytest.raises(SourceUnavailableError, match="cannot open the database"):
        doomed.query("SELECT 1")


def test_the_allowlist_is_read_from_the_file_unless_given(db, tmp_path):
    assert db.tables == {"products", "customers", "orders", "order_items", "shipments", "stock"}
    path = tmp_path / "own.sqlite"
    with sqlite3.connect(path) as conn:  # AUTOINCREMENT adds SQLite's own sqlite_sequence table
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, text TEXT)")
        conn.execute("CREATE TABLE secrets (value TEXT)")
        conn.execute("INSERT INTO notes (text) VALUES ('hello')")
    conn.close()
    assert ReadOnlyDatabase(path).tables == {"notes", "secrets"}
    only_notes = ReadOnlyDatabase(path, tables="notes")  # one name, not its letters
    assert only_notes.tables == {"notes"} and only_notes.query("SELECT text FROM notes") == [{"text": "hello"}]
    with pytest.raises(UnsafeSQLError, match="SQLITE_READ secrets value"):
        only_notes.query("SELECT value FROM secrets")
    (tmp_path / "empty.sqlite").write_bytes(b"")
    with pytest.raises(ConfigError, match="holds no tables"):
        ReadOnlyDatabase(tmp_path / "empty.sqlite")
    (tmp_path / "text.sqlite").write_text("not a database, only text that is long enough to have a header\n" * 4)
    with pytest.raises(ConfigError, match="is not a readable SQLite database"):
        ReadOnlyDatabase(tmp_path / "text.sqlite")


class FixedSQL:
    """Stands in for the model's *output* only: the statement under test goes through LlamaIndex's
    real NLSQLRetriever, SQL parser and our GuardedSQLDatabase."""

    @staticmethod
    def llm(sql: str):
        from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata
        from llama_index.core.llms.callbacks import llm_completion_callback

        class _Fixed(CustomLLM):
            @property
            def metadata(self):
                return LLMMetadata()

            @llm_completion_callback()
            def complete(self, prompt, formatted=False, **kwargs):
                return CompletionResponse(text=f"SQLQuery: {sql}\nSQLResult: ")

            def stream_complete(self, prompt, formatted=False, **kwargs):
                raise NotImplementedError

        return _Fixed()


def test_text_to_sql_runs_through_the_guard(db, embed_model):
    before = sha256(db.path)
    nodes, sql = text_to_sql(
        "How many orders were cancelled?",
        FixedSQL.llm("SELECT count(*) FROM orders WHERE status = 'cancelled'"),
        db,
        embed_model=embed_model,
    )
    assert sql == "SELECT count(*) FROM orders WHERE status = 'cancelled'"
    assert nodes[0].node.get_content() == "[(15,)]"
    with pytest.raises(UnsafeSQLError, match="not DELETE"):
        text_to_sql(
            "Forget all cancelled orders",
            FixedSQL.llm("DELETE FROM orders WHERE status = 'cancelled'"),
            db,
            embed_model=embed_model,
        )
    with pytest.raises(UnsafeSQLError, match="not ATTACH"):
        text_to_sql("Copy the data", FixedSQL.llm("ATTACH DATABASE 'x.db' AS x"), db, embed_model=embed_model)
    assert sha256(db.path) == before

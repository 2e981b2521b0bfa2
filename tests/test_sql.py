"""The structured source: the generated data, the SQLite build, the templates and the read-only guard."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import shutil
import sqlite3
from pathlib import Path

import pytest

from toolkit.errors import ConfigError, SourceUnavailableError, UnsafeSQLError
from toolkit.sql import ReadOnlyDatabase, SQLSource, build_database, text_to_sql

PROJECT = Path(__file__).resolve().parents[1]
STRUCTURED = PROJECT / "datasets" / "tidewell" / "structured"
GENERATED = ["customers.csv", "orders.csv", "order_items.csv", "shipments.csv", "stock.csv"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def db() -> ReadOnlyDatabase:
    return ReadOnlyDatabase(build_database())


def test_generator_reproduces_the_committed_csvs(tmp_path):
    spec = importlib.util.spec_from_file_location("make_structured", STRUCTURED.parent / "build" / "make_structured.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--out", str(tmp_path)]) == 0
    for name in GENERATED:
        assert (tmp_path / name).read_bytes() == (STRUCTURED / name).read_bytes(), name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(GENERATED)  # no temp files left


def test_generated_data_follows_the_fact_sheet(db):
    counts = {r["status"]: r["n"] for r in db.query("SELECT status, count(*) AS n FROM orders GROUP BY status")}
    assert counts == {"cancelled": 15, "delivered": 258, "processing": 8, "returned": 16, "shipped": 3}
    # Thermo T2: $199.00 before the 2023-11-01 price cut, $179.00 from that day
    prices = db.query("SELECT o.order_date >= '2023-11-01' AS after_cut, min(i.unit_price) AS lo, "
                      "max(i.unit_price) AS hi FROM order_items i JOIN orders o USING (order_id) "
                      "WHERE i.sku LIKE 'TW-T2-%' GROUP BY after_cut ORDER BY after_cut")
    assert prices == [{"after_cut": 0, "lo": 199.0, "hi": 199.0}, {"after_cut": 1, "lo": 179.0, "hi": 179.0}]
    for o in db.query("SELECT * FROM orders"):
        new = o["order_date"] >= "2024-06-01"
        if o["shipping_method"] == "express":
            assert o["shipping"] == (15.95 if new else 14.95), o
        elif (o["subtotal"] >= 75) if new else (o["subtotal"] > 50):
            assert o["shipping"] == 0.0, o
        else:
            assert o["shipping"] == (6.95 if new else 5.95), o
        assert round(o["subtotal"] + o["shipping"], 2) == o["total"], o
    mismatched = db.query("SELECT o.order_id FROM orders o JOIN order_items i USING (order_id) GROUP BY o.order_id "
                          "HAVING round(sum(i.qty * i.unit_price), 2) != o.subtotal")
    assert mismatched == []
    # every shipped, delivered or returned order has a shipment; cancelled and processing ones none
    assert db.query("SELECT count(*) AS n FROM orders o LEFT JOIN shipments s USING (order_id) WHERE "
                    "(s.order_id IS NULL) != (o.status IN ('cancelled', 'processing'))") == [{"n": 0}]
    with (STRUCTURED / "customers.csv").open() as f:
        domains = {row["email"].split("@")[1] for row in csv.DictReader(f)}
    assert domains <= {"example.com", "example.net", "example.org"}


def test_database_is_typed_reused_and_rebuilt_when_a_csv_changes(tmp_path):
    csvs = tmp_path / "csv"
    shutil.copytree(STRUCTURED, csvs)
    first = build_database(csvs, tmp_path / "sql")
    assert build_database(csvs, tmp_path / "sql") == first and first.stat().st_mtime_ns == first.stat().st_mtime_ns
    conn = sqlite3.connect(first)
    assert conn.execute("SELECT typeof(order_id), typeof(total), typeof(order_date) FROM orders LIMIT 1").fetchone() \
        == ("integer", "real", "text")
    assert conn.execute("SELECT delivered_date FROM shipments WHERE order_id = 1288").fetchone() == (None,)
    conn.close()
    stock = (csvs / "stock.csv").read_text().replace("TW-DS1,226,", "TW-DS1,225,")
    (csvs / "stock.csv").write_text(stock)
    second = build_database(csvs, tmp_path / "sql")
    assert second != first and not first.exists()
    assert ReadOnlyDatabase(second).query("SELECT in_stock FROM stock WHERE sku = 'TW-DS1'") == [{"in_stock": 225}]
    assert sorted(p.name for p in (tmp_path / "sql").iterdir()) == [second.name]


def test_bad_csvs_are_named_with_their_line(tmp_path):
    csvs = tmp_path / "csv"
    shutil.copytree(STRUCTURED, csvs)
    lines = (csvs / "orders.csv").read_text().splitlines()
    fields = lines[3].split(",")
    fields[5] = "lots"  # the subtotal of order 1003, on line 4
    lines[3] = ",".join(fields)
    (csvs / "orders.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=r"orders\.csv, line 4: could not convert string to float: 'lots'"):
        build_database(csvs, tmp_path / "sql")
    shutil.copy(STRUCTURED / "orders.csv", csvs / "orders.csv")
    (csvs / "stock.csv").unlink()
    with pytest.raises(ConfigError, match=r"stock\.csv is missing; run: python datasets/tidewell/build/make_structured"):
        build_database(csvs, tmp_path / "sql")
    assert not (tmp_path / "sql").exists() or list((tmp_path / "sql").iterdir()) == []


def test_order_status_from_a_parameterized_template(db):
    node = SQLSource(db).order(1042)
    assert node.node_id == "sql:orders/1042"
    assert node.text.splitlines() == [
        "Order 1042 was placed on 2023-03-24 by Lucas Underhill (customer C017).",
        "The status of order 1042 is delivered.",
        "Order 1042 contains 1 x Thermo Room Sensor 2-pack (TW-TRS1-2) at $69.00; 1 x Glow A19 White bulb "
        "(TW-GLW-A19W) at $14.99; 1 x Drip Sentinel 3-pack (TW-DS1-3) at $89.99.",
        "Order 1042 totals $173.98: items $173.98 plus $0.00 for standard shipping.",
        "Order 1042 shipped on 2023-03-24 with Harborline Parcel.",
        "The tracking number of order 1042 is HLP2774800964.",
        "Order 1042 was delivered on 2023-03-30.",
    ]
    assert "WHERE o.order_id = ?" in node.metadata["sql"] and node.metadata["params"] == "[1042]"
    assert "sql" in node.excluded_llm_metadata_keys  # the SQL never reaches the prompt
    assert SQLSource(db).order(1288).text.splitlines()[-1] == "Order 1288 is expected to arrive by 2024-12-18."
    assert SQLSource(db).order(4321).text == "There is no order 4321 in the order database."


def test_stock_and_customer_templates(db):
    source = SQLSource(db)
    assert source.stock("TW-DS1").text == "The Drip Sentinel water-leak sensor (TW-DS1) has 226 units in stock as of 2024-12-16."
    assert source.stock("TW-CAM-SOL").text == ("The Sentry Cam solar panel (TW-CAM-SOL) is out of stock (0 units) as of "
                                               "2024-12-16; new stock is expected on 2025-01-13.")
    node = source.customer_orders("C017")
    assert node.node_id == "sql:customers/C017"
    assert node.text.splitlines()[0] == "Customer Lucas Underhill (C017, Millbrook) has placed 5 orders."
    assert node.text.splitlines()[-1] == "Order 1210 on 2024-06-18 (delivered, $179.00): 1 x Tidewell Thermo T2 (Arctic White)."


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
    for statement in [f"ATTACH DATABASE '{tmp_path}/evil.db' AS evil", "PRAGMA user_version = 5",
                      "INSERT INTO stock VALUES ('TW-X', 1, NULL, 'x')", "BEGIN IMMEDIATE"]:
        with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
            conn.execute(statement)
    conn.close()
    assert refusals == [f"SQLITE_ATTACH {tmp_path}/evil.db", "SQLITE_PRAGMA user_version 5", "SQLITE_INSERT stock",
                        "SQLITE_TRANSACTION BEGIN"]
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
    with pytest.raises(ConfigError, match="build it with toolkit.sql.build_database"):
        ReadOnlyDatabase(tmp_path / "none.sqlite")
    copy = tmp_path / "copy.sqlite"
    shutil.copy(db.path, copy)
    doomed = ReadOnlyDatabase(copy)
    copy.unlink()
    with pytest.raises(SourceUnavailableError, match="cannot open the database"):
        doomed.query("SELECT 1")


class FixedSQL:
    """Stands in for the model's *output* only: the statement under test goes through LlamaIndex's
    real NLSQLRetriever, SQL parser and our GuardedSQLDatabase."""

    @staticmethod
    def llm(sql: str):
        from llama_index.core.llms import CustomLLM, CompletionResponse, LLMMetadata
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
    nodes, sql = text_to_sql("How many orders were cancelled?",
                             FixedSQL.llm("SELECT count(*) FROM orders WHERE status = 'cancelled'"), db,
                             embed_model=embed_model)
    assert sql == "SELECT count(*) FROM orders WHERE status = 'cancelled'"
    assert nodes[0].node.get_content() == "[(15,)]"
    with pytest.raises(UnsafeSQLError, match="not DELETE"):
        text_to_sql("Forget all cancelled orders", FixedSQL.llm("DELETE FROM orders WHERE status = 'cancelled'"), db,
                    embed_model=embed_model)
    with pytest.raises(UnsafeSQLError, match="not ATTACH"):
        text_to_sql("Copy the data", FixedSQL.llm("ATTACH DATABASE 'x.db' AS x"), db, embed_model=embed_model)
    assert sha256(db.path) == before

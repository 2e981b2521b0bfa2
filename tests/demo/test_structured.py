"""The bundled structured source: the generated data, the SQLite build and the lookups."""

from __future__ import annotations

import csv
import importlib.util
import shutil
import sqlite3
from pathlib import Path

import pytest

from toolkit.demo.routing import find_entities
from toolkit.demo.structured import TABLES, SQLSource, build_database
from toolkit.errors import ConfigError
from toolkit.retrieval.sql import ReadOnlyDatabase

PROJECT = Path(__file__).resolve().parents[2]
STRUCTURED = PROJECT / "datasets" / "tidewell" / "structured"
GENERATED = ["customers.csv", "orders.csv", "order_items.csv", "shipments.csv", "stock.csv"]


@pytest.fixture
def db() -> ReadOnlyDatabase:
    return ReadOnlyDatabase(build_database(), tables=TABLES)


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
    prices = db.query(
        "SELECT o.order_date >= '2023-11-01' AS after_cut, min(i.unit_price) AS lo, "
        "max(i.unit_price) AS hi FROM order_items i JOIN orders o USING (order_id) "
        "WHERE i.sku LIKE 'TW-T2-%' GROUP BY after_cut ORDER BY after_cut"
    )
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
    mismatched = db.query(
        "SELECT o.order_id FROM orders o JOIN order_items i USING (order_id) GROUP BY o.order_id "
        "HAVING round(sum(i.qty * i.unit_price), 2) != o.subtotal"
    )
    assert mismatched == []
    # every shipped, delivered or returned order has a shipment; cancelled and processing ones none
    assert db.query(
        "SELECT count(*) AS n FROM orders o LEFT JOIN shipments s USING (order_id) WHERE "
        "(s.order_id IS NULL) != (o.status IN ('cancelled', 'processing'))"
    ) == [{"n": 0}]
    with (STRUCTURED / "customers.csv").open() as f:
        domains = {row["email"].split("@")[1] for row in csv.DictReader(f)}
    assert domains <= {"example.com", "example.net", "example.org"}


def test_database_is_typed_reused_and_rebuilt_when_a_csv_changes(tmp_path):
    csvs = tmp_path / "csv"
    shutil.copytree(STRUCTURED, csvs)
    first = build_database(csvs, tmp_path / "sql")
    assert build_database(csvs, tmp_path / "sql") == first and first.stat().st_mtime_ns == first.stat().st_mtime_ns
    conn = sqlite3.connect(first)
    assert conn.execute(
        "SELECT typeof(order_id), typeof(total), typeof(order_date) FROM orders LIMIT 1"
    ).fetchone() == ("integer", "real", "text")
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
    with pytest.raises(
        ConfigError, match=r"stock\.csv is missing; run: python datasets/tidewell/build/make_structured"
    ):
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
    assert (
        source.stock("TW-DS1").text
        == "The Drip Sentinel water-leak sensor (TW-DS1) has 226 units in stock as of 2024-12-16."
    )
    assert source.stock("TW-CAM-SOL").text == (
        "The Sentry Cam solar panel (TW-CAM-SOL) is out of stock (0 units) as of "
        "2024-12-16; new stock is expected on 2025-01-13."
    )
    node = source.customer_orders("C017")
    assert node.node_id == "sql:customers/C017"
    assert node.text.splitlines()[0] == "Customer Lucas Underhill (C017, Millbrook) has placed 5 orders."
    assert (
        node.text.splitlines()[-1]
        == "Order 1210 on 2024-06-18 (delivered, $179.00): 1 x Tidewell Thermo T2 (Arctic White)."
    )


def test_lookup_asks_for_orders_customers_and_stock_only_when_the_stock_rule_fired(db):
    source = SQLSource(db)
    entities = find_entities("Has order 1299 shipped, and is the solar panel in stock? And customer C017?")
    nodes = source.lookup("", entities, ["order", "shipping", "customer", "stock"])
    assert [n.node_id for n in nodes] == ["sql:orders/1299", "sql:customers/C017", "sql:stock/TW-CAM-SOL"]
    assert all(n.metadata["source"] == "sql" for n in nodes)
    assert [n.node_id for n in source.lookup("", entities, ["order", "customer"])] == [
        "sql:orders/1299",
        "sql:customers/C017",
    ]  # a product named in passing is not a stock question


def test_the_default_source_reads_the_bundled_database():
    source = SQLSource()
    assert source.db.path == build_database() and source.db.tables == set(TABLES)
    assert {
        "customer_id": "C017",
        "name": "Lucas Underhill",
        "email": "lucas.underhill@example.net",
    } in source.customers()

"""The bundled structured data: Tidewell's orders, customers, products and stock as a read-only
SQLite source with fixed, parameterized lookups.

`build_database()` loads the CSV files of `datasets/tidewell/structured/` into typed (STRICT)
tables under `<TOOLKIT_HOME>/sql/`; the file name carries a hash of the CSVs, so a changed CSV
gives a new database and an unchanged one is reused. `SQLSource` answers the questions a
customer asks about one order, one customer or one product's stock, and returns LlamaIndex
TextNodes (`sql:orders/1042`, with the SQL in the metadata). Every query runs through the
read-only guard, toolkit.retrieval.sql.ReadOnlyDatabase.

    >>> source = SQLSource()                                  # doctest: +SKIP
    >>> source.order(1042).node_id                            # doctest: +SKIP
    'sql:orders/1042'

Not here: the guard itself (toolkit.retrieval.sql), deciding which questions need SQL
(routing.py) or serving live data (services.py).
"""

from __future__ import annotations

import csv
import hashlib
import os
import sqlite3
import tempfile
import threading
from pathlib import Path

from ..errors import ConfigError
from ..retrieval.sql import ReadOnlyDatabase
from .datasets import datasets_root

__all__ = ["TABLES", "build_database", "structured_dir", "SQLSource"]

# table -> (column, SQLite type) in CSV order; the first column is the key of the table's rows.
TABLES: dict[str, list[tuple[str, str]]] = {
    "products": [
        ("sku", "TEXT PRIMARY KEY"),
        ("name", "TEXT NOT NULL"),
        ("category", "TEXT NOT NULL"),
        ("price_usd", "REAL NOT NULL"),
        ("launch_price_usd", "REAL NOT NULL"),
        ("launched", "TEXT NOT NULL"),
        ("warranty_years", "INTEGER NOT NULL"),
    ],
    "customers": [
        ("customer_id", "TEXT PRIMARY KEY"),
        ("name", "TEXT NOT NULL"),
        ("email", "TEXT NOT NULL"),
        ("city", "TEXT NOT NULL"),
        ("joined", "TEXT NOT NULL"),
    ],
    "orders": [
        ("order_id", "INTEGER PRIMARY KEY"),
        ("customer_id", "TEXT NOT NULL REFERENCES customers"),
        ("order_date", "TEXT NOT NULL"),
        ("status", "TEXT NOT NULL"),
        ("shipping_method", "TEXT NOT NULL"),
        ("subtotal", "REAL NOT NULL"),
        ("shipping", "REAL NOT NULL"),
        ("total", "REAL NOT NULL"),
    ],
    "order_items": [
        ("order_id", "INTEGER NOT NULL REFERENCES orders"),
        ("line", "INTEGER NOT NULL"),
        ("sku", "TEXT NOT NULL REFERENCES products"),
        ("qty", "INTEGER NOT NULL"),
        ("unit_price", "REAL NOT NULL"),
    ],
    "shipments": [
        ("order_id", "INTEGER PRIMARY KEY REFERENCES orders"),
        ("carrier", "TEXT NOT NULL"),
        ("tracking", "TEXT NOT NULL"),
        ("shipped_date", "TEXT NOT NULL"),
        ("expected_delivery", "TEXT NOT NULL"),
        ("delivered_date", "TEXT"),
    ],
    "stock": [
        ("sku", "TEXT PRIMARY KEY REFERENCES products"),
        ("in_stock", "INTEGER NOT NULL"),
        ("restock_date", "TEXT"),
        ("as_of", "TEXT NOT NULL"),
    ],
}
_PYTHON = {"INTEGER": int, "REAL": float, "TEXT": str}


def structured_dir() -> Path:
    """The bundled CSV folder, `datasets/tidewell/structured`."""
    return datasets_root() / "tidewell" / "structured"


def _load_rows(path: Path, table: str) -> list[tuple]:
    columns = TABLES[table]
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, [])
            wanted = [name for name, _ in columns]
            if header[: len(wanted)] != wanted:
                raise ConfigError(
                    f"{path}, line 1: columns must start with {', '.join(wanted)}; "
                    f"found {', '.join(header)}; regenerate it with build/make_structured.py"
                )
            rows = []
            for number, row in enumerate(reader, 2):
                try:
                    rows.append(
                        tuple(
                            None
                            if value == "" and "NOT NULL" not in kind and "PRIMARY" not in kind
                            else _PYTHON[kind.split()[0]](value)
                            for value, (_, kind) in zip(row, columns, strict=False)
                        )
                    )
                except ValueError as exc:
                    raise ConfigError(f"{path}, line {number}: {exc}; fix the value or regenerate the file") from exc
                if len(row) < len(columns):
                    raise ConfigError(f"{path}, line {number}: {len(row)} values, expected {len(columns)}")
            return rows
    except FileNotFoundError as exc:
        raise ConfigError(f"{path} is missing; run: python datasets/tidewell/build/make_structured.py") from exc


def _fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for table in TABLES:
        path = folder / f"{table}.csv"
        digest.update(table.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"(missing)") + b"\0")
    return digest.hexdigest()[:16]


def build_database(csv_dir: str | Path | None = None, home: str | Path | None = None) -> Path:
    """The SQLite file for these CSVs, built now if it does not exist yet.

    Built into a temporary file and moved into place, so a reader never sees half a database;
    older builds from other CSV versions are removed.

    >>> build_database().name                                   # doctest: +SKIP
    'tidewell-3f1c0e2a9b7d4c55.sqlite'
    """
    from ..config import load_settings

    folder = Path(csv_dir) if csv_dir else structured_dir()
    target_dir = Path(home) if home else load_settings().home / "sql"
    path = target_dir / f"tidewell-{_fingerprint(folder)}.sqlite"
    if path.is_file():
        return path
    data = {table: _load_rows(folder / f"{table}.csv", table) for table in TABLES}
    target_dir.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target_dir, prefix=".building-", suffix=".sqlite")
    os.close(handle)
    try:
        with sqlite3.connect(temp) as conn:
            for table, columns in TABLES.items():
                conn.execute(f"CREATE TABLE {table} ({', '.join(f'{n} {t}' for n, t in columns)}) STRICT")
                conn.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(columns))})", data[table])
        conn.close()
        os.replace(temp, path)
    except sqlite3.Error as exc:
        raise ConfigError(
            f"the CSVs in {folder} do not load into SQLite ({exc}); regenerate them with build/make_structured.py"
        ) from exc
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    for old in target_dir.glob("tidewell-*.sqlite"):
        if old != path:
            old.unlink(missing_ok=True)
    return path


ORDER_SQL = (
    "SELECT o.order_id, o.order_date, o.status, o.shipping_method, o.subtotal, o.shipping, o.total, "
    "o.customer_id, c.name AS customer, s.carrier, s.tracking, s.shipped_date, s.expected_delivery, "
    "s.delivered_date FROM orders o JOIN customers c USING (customer_id) "
    "LEFT JOIN shipments s USING (order_id) WHERE o.order_id = ?"
)
ITEMS_SQL = (
    "SELECT i.qty, p.name, i.sku, i.unit_price FROM order_items i JOIN products p USING (sku) "
    "WHERE i.order_id = ? ORDER BY i.line"
)
STOCK_SQL = (
    "SELECT p.sku, p.name, s.in_stock, s.restock_date, s.as_of FROM products p JOIN stock s USING (sku) WHERE p.sku = ?"
)
CUSTOMER_SQL = "SELECT customer_id, name, email, city FROM customers WHERE customer_id = ?"
CUSTOMER_ORDERS_SQL = (
    "SELECT o.order_id, o.order_date, o.status, o.total, "
    "group_concat(i.qty || ' x ' || p.name, ', ') AS items FROM orders o "
    "JOIN order_items i USING (order_id) JOIN products p USING (sku) "
    "WHERE o.customer_id = ? GROUP BY o.order_id ORDER BY o.order_id"
)


def _node(node_id: str, text: str, sql: list[str], params: list):
    from llama_index.core.schema import TextNode

    metadata = {"source": "sql", "sql": "; ".join(sql), "params": repr(params)}
    return TextNode(
        id_=node_id,
        text=text,
        metadata=metadata,
        excluded_llm_metadata_keys=list(metadata),
        excluded_embed_metadata_keys=list(metadata),
    )


class SQLSource:
    """Fixed, parameterized lookups over the read-only database, as context nodes.

    `db` defaults to the bundled database (`build_database()`), guarded to the tables of `TABLES`.
    """

    def __init__(self, db: ReadOnlyDatabase | None = None):
        self.db = db or ReadOnlyDatabase(build_database(), tables=TABLES)
        self._customers: list[dict] | None = None
        self._lock = threading.Lock()

    def customers(self) -> list[dict]:
        with self._lock:
            if self._customers is None:
                self._customers = self.db.query("SELECT customer_id, name, email FROM customers")
            return self._customers

    def order(self, order_id: int):
        """Status, items, totals and shipment of one order.

        >>> SQLSource().order(1042).text.splitlines()[1]          # doctest: +SKIP
        'The status of order 1042 is delivered.'
        """
        rows = self.db.query(ORDER_SQL, (order_id,))
        if not rows:
            return _node(
                f"sql:orders/{order_id}",
                f"There is no order {order_id} in the order database.",
                [ORDER_SQL],
                [order_id],
            )
        o = rows[0]
        items = self.db.query(ITEMS_SQL, (order_id,))
        lines = [
            f"Order {order_id} was placed on {o['order_date']} by {o['customer']} (customer {o['customer_id']}).",
            f"The status of order {order_id} is {o['status']}.",
            f"Order {order_id} contains "
            + "; ".join(f"{i['qty']} x {i['name']} ({i['sku']}) at ${i['unit_price']:.2f}" for i in items)
            + ".",
            f"Order {order_id} totals ${o['total']:.2f}: items ${o['subtotal']:.2f} plus "
            f"${o['shipping']:.2f} for {o['shipping_method']} shipping.",
        ]
        if o["carrier"]:  # one fact per sentence: an extractive answerer quotes one sentence
            lines.append(f"Order {order_id} shipped on {o['shipped_date']} with {o['carrier']}.")
            lines.append(f"The tracking number of order {order_id} is {o['tracking']}.")
            lines.append(
                f"Order {order_id} was delivered on {o['delivered_date']}."
                if o["delivered_date"]
                else f"Order {order_id} is expected to arrive by {o['expected_delivery']}."
            )
        return _node(f"sql:orders/{order_id}", "\n".join(lines), [ORDER_SQL, ITEMS_SQL], [order_id])

    def stock(self, sku: str):
        """Units in stock of one SKU, from the stock table's snapshot."""
        rows = self.db.query(STOCK_SQL, (sku,))
        if not rows:
            return _node(f"sql:stock/{sku}", f"There is no product {sku} in the catalog.", [STOCK_SQL], [sku])
        p = rows[0]
        text = (
            f"The {p['name']} ({p['sku']}) has {p['in_stock']} units in stock as of {p['as_of']}."
            if p["in_stock"]
            else f"The {p['name']} ({p['sku']}) is out of stock (0 units) as of {p['as_of']}; "
            f"new stock is expected on {p['restock_date']}."
        )
        return _node(f"sql:stock/{sku}", text, [STOCK_SQL], [sku])

    def customer_orders(self, customer_id: str):
        """A customer's orders with their items, statuses and totals."""
        who = self.db.query(CUSTOMER_SQL, (customer_id,))
        if not who:
            return _node(
                f"sql:customers/{customer_id}", f"There is no customer {customer_id}.", [CUSTOMER_SQL], [customer_id]
            )
        c, orders = who[0], self.db.query(CUSTOMER_ORDERS_SQL, (customer_id,))
        lines = [f"Customer {c['name']} ({c['customer_id']}, {c['city']}) has placed {len(orders)} orders."]
        lines += [
            f"Order {o['order_id']} on {o['order_date']} ({o['status']}, ${o['total']:.2f}): {o['items']}."
            for o in orders
        ]
        return _node(
            f"sql:customers/{customer_id}", "\n".join(lines), [CUSTOMER_SQL, CUSTOMER_ORDERS_SQL], [customer_id]
        )

    def lookup(self, question: str, entities, rules: list[str]) -> list:
        """The router's entry point: each named order and customer, and each named product's
        stock when the stock rule fired (a product named in passing is not a stock question).

        >>> from toolkit.demo.routing import find_entities          # doctest: +SKIP
        >>> [n.node_id for n in SQLSource().lookup("", find_entities("order 1042"), ["order"])]  # doctest: +SKIP
        ['sql:orders/1042']
        """
        nodes = [self.order(n) for n in entities.order_ids]
        nodes += [self.customer_orders(c) for c in entities.customer_ids]
        if "stock" in rules:
            nodes += [self.stock(sku) for sku in entities.skus]
        return nodes

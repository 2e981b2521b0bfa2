"""The bundled live service: a small loopback HTTP service for Tidewell's shipping status and
stock, and the source that reads it.

`live_api()` starts the service on 127.0.0.1 at a free port, in a background thread, for as
long as its `with` block runs; it serves the bundled structured data (the same CSVs as the
SQL source, structured.py):

    GET /shipping/<order_id>   {"order_id", "status", "carrier", "tracking", "shipped_date",
                                "expected_delivery", "delivered_date", "served_at"}
    GET /stock/<sku>           {"sku", "name", "in_stock", "restock_date", "served_at"}
    GET /health                {"ok": true}

`LiveAPISource` calls it through toolkit.retrieval.liveapi.LiveAPIClient (loopback only, with a
timeout) and turns each answer into a TextNode (`api:shipping/1042`, `api:stock/TW-DS1`) with
the time it was fetched in its metadata. A service that hangs is cut off by the timeout and one
that is down raises SourceUnavailableError, which the router records.

    >>> with live_api() as service:                                  # doctest: +SKIP
    ...     LiveAPISource(service.url).shipping(1042).node_id
    'api:shipping/1042'

The stdlib ThreadingHTTPServer is enough for a loopback demo service; a real deployment would
sit behind a proper web framework. Not here: the HTTP client itself (toolkit.retrieval.liveapi),
or deciding which questions need the service (routing.py).
"""

from __future__ import annotations

import contextlib
import csv
import threading
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path

from ..errors import ConfigError
from ..reliability.loopback import QuietHandler
from ..retrieval.liveapi import LiveAPIClient, utc_now
from .structured import structured_dir

__all__ = ["live_api", "LiveService", "LiveAPISource", "load_live_data"]


def load_live_data(csv_dir: str | Path | None = None) -> dict[str, dict]:
    """{"shipping": {order_id: record}, "stock": {sku: record}} from the structured CSVs."""
    folder = Path(csv_dir) if csv_dir else structured_dir()

    def rows(name: str) -> list[dict]:
        try:
            with (folder / f"{name}.csv").open(newline="", encoding="utf-8") as f:
                return list(csv.DictReader(f))
        except FileNotFoundError as exc:
            raise ConfigError(
                f"{folder / name}.csv is missing; run: python datasets/tidewell/build/make_structured.py"
            ) from exc

    shipments = {r["order_id"]: r for r in rows("shipments")}
    shipping = {}
    for order in rows("orders"):
        s = shipments.get(order["order_id"], {})
        shipping[order["order_id"]] = {
            "order_id": int(order["order_id"]),
            "status": order["status"],
            "carrier": s.get("carrier"),
            "tracking": s.get("tracking"),
            "shipped_date": s.get("shipped_date"),
            "expected_delivery": s.get("expected_delivery"),
            "delivered_date": s.get("delivered_date") or None,
        }
    names = {r["sku"]: r["name"] for r in rows("products")}
    stock = {
        r["sku"]: {
            "sku": r["sku"],
            "name": names.get(r["sku"], r["sku"]),
            "in_stock": int(r["in_stock"]),
            "restock_date": r["restock_date"] or None,
        }
        for r in rows("stock")
    }
    return {"shipping": shipping, "stock": stock}


class _Handler(QuietHandler):
    server: _Server
    # One request per connection: a kept-alive connection would let a stopped service still answer.
    protocol_version = "HTTP/1.0"

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        if self.server.delay_s:  # a slow back end, for timeout demonstrations; ends early on shutdown
            self.server.stopping.wait(self.server.delay_s)
        parts = self.path.strip("/").split("/")
        if parts == ["health"]:
            return self.send_json(200, {"ok": True})
        if len(parts) == 2 and parts[0] in ("shipping", "stock"):
            record = self.server.data[parts[0]].get(parts[1].upper() if parts[0] == "stock" else parts[1])
            if record is None:
                return self.send_json(404, {"error": f"no {parts[0]} record for {parts[1]}"})
            return self.send_json(200, {**record, "served_at": utc_now()})
        self.send_json(404, {"error": f"unknown path {self.path}; try /shipping/<order_id> or /stock/<sku>"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a handler still sleeping must not hold up shutdown

    def __init__(self, data: dict, delay_s: float):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.data, self.delay_s, self.stopping = data, delay_s, threading.Event()


@dataclass
class LiveService:
    url: str
    port: int
    server: _Server


@contextlib.contextmanager
def live_api(csv_dir: str | Path | None = None, delay_s: float = 0.0):
    """Serve shipping status and stock on 127.0.0.1 at a free port while the block runs.

    `delay_s` makes every answer wait that long (to show a timeout cutting off a hung service).

    >>> with live_api() as service:                      # doctest: +SKIP
    ...     service.url
    'http://127.0.0.1:40123'
    """
    server = _Server(load_live_data(csv_dir), delay_s)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="toolkit-live-api", daemon=True
    )
    thread.start()
    port = server.server_address[1]
    try:
        yield LiveService(f"http://127.0.0.1:{port}", port, server)
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class LiveAPISource(LiveAPIClient):
    """The shipping and stock endpoints of `live_api()`; answers become context nodes with a timestamp."""

    name = "api"
    start_hint = "start it with toolkit.demo.services.live_api()"

    def shipping(self, order_id: int):
        """The live shipping status of one order.

        >>> source.shipping(1042).text.splitlines()[0]          # doctest: +SKIP
        'Live shipping status of order 1042: delivered.'
        """
        record, url = self.get(f"/shipping/{order_id}")
        node_id = f"api:shipping/{order_id}"
        if record is None:
            return self.node(node_id, f"The shipping service has no record of order {order_id}.", url, None)
        lines = [f"Live shipping status of order {order_id}: {record['status']}."]
        if record["carrier"]:
            lines.append(
                f"Order {order_id} shipped on {record['shipped_date']} with {record['carrier']}, "
                f"tracking number {record['tracking']}."
            )
            lines.append(
                f"Order {order_id} was delivered on {record['delivered_date']}."
                if record["delivered_date"]
                else f"Order {order_id} is expected to arrive by {record['expected_delivery']}."
            )
        elif record["status"] == "cancelled":
            lines.append(f"Order {order_id} was cancelled, so it will not ship.")
        else:
            lines.append(f"Order {order_id} has not shipped yet.")
        return self.node(node_id, "\n".join(lines), url, record["served_at"])

    def stock(self, sku: str):
        """The live stock level of one SKU."""
        sku = sku.upper()
        record, url = self.get(f"/stock/{sku}")
        node_id = f"api:stock/{sku}"
        if record is None:
            return self.node(node_id, f"The stock service has no product {sku}.", url, None)
        text = (
            f"Live stock: the {record['name']} ({sku}) has {record['in_stock']} units in stock."
            if record["in_stock"]
            else f"Live stock: the {record['name']} ({sku}) is out of stock; "
            f"new stock is expected on {record['restock_date']}."
        )
        return self.node(node_id, text, url, record["served_at"])

    def lookup(self, question: str, entities, rules: list[str]) -> list:
        """The router's entry point: live shipping only when the shipping rule fired (an order
        named for its items needs no tracking), live stock only when the stock rule did."""
        nodes = [self.shipping(n) for n in entities.order_ids] if "shipping" in rules else []
        if "stock" in rules:
            nodes += [self.stock(sku) for sku in entities.skus]
        return nodes

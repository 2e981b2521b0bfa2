"""The live source: a small HTTP service for shipping status and stock, and the client that reads it.

`live_api()` starts the service on 127.0.0.1 at a free port, in a background thread, for as
long as its `with` block runs; it serves the bundled structured data (the same CSVs as the
SQL source):

    GET /shipping/<order_id>   {"order_id", "status", "carrier", "tracking", "shipped_date",
                                "expected_delivery", "delivered_date", "served_at"}
    GET /stock/<sku>           {"sku", "name", "in_stock", "restock_date", "served_at"}
    GET /health                {"ok": true}

`LiveAPISource` calls it with a timeout and turns each answer into a LlamaIndex TextNode
(`api:shipping/1042`, `api:stock/TW-DS1`) with the time it was fetched in its metadata. A
service that hangs is cut off by the timeout and one that is down raises
SourceUnavailableError, which the router records.

    >>> with live_api() as service:                                  # doctest: +SKIP
    ...     LiveAPISource(service.url).shipping(1042).node_id
    'api:shipping/1042'

The stdlib ThreadingHTTPServer is enough for a loopback demo service; a real deployment would
sit behind a proper web framework. Not here: retries (reliability.py's concern) or any
non-loopback address (refused: the toolkit reaches no network it did not start).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import threading
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from .errors import ConfigError, SourceUnavailableError
from .loopback import QuietHandler

__all__ = ["live_api", "LiveService", "LiveAPISource", "load_live_data"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def load_live_data(csv_dir: str | Path | None = None) -> dict[str, dict]:
    """{"shipping": {order_id: record}, "stock": {sku: record}} from the structured CSVs."""
    from .sql import structured_dir

    folder = Path(csv_dir) if csv_dir else structured_dir()

    def rows(name: str) -> list[dict]:
        try:
            with (folder / f"{name}.csv").open(newline="", encoding="utf-8") as f:
                return list(csv.DictReader(f))
        except FileNotFoundError as exc:
            raise ConfigError(f"{folder / name}.csv is missing; run: "
                              f"python datasets/tidewell/build/make_structured.py") from exc

    shipments = {r["order_id"]: r for r in rows("shipments")}
    shipping = {}
    for order in rows("orders"):
        s = shipments.get(order["order_id"], {})
        shipping[order["order_id"]] = {
            "order_id": int(order["order_id"]), "status": order["status"], "carrier": s.get("carrier"),
            "tracking": s.get("tracking"), "shipped_date": s.get("shipped_date"),
            "expected_delivery": s.get("expected_delivery"), "delivered_date": s.get("delivered_date") or None}
    names = {r["sku"]: r["name"] for r in rows("products")}
    stock = {r["sku"]: {"sku": r["sku"], "name": names.get(r["sku"], r["sku"]), "in_stock": int(r["in_stock"]),
                        "restock_date": r["restock_date"] or None} for r in rows("stock")}
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
            return self.send_json(200, {**record, "served_at": _now()})
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
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="toolkit-live-api", daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        yield LiveService(f"http://127.0.0.1:{port}", port, server)
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class LiveAPISource:
    """Calls the live service with a timeout; answers become context nodes with a timestamp."""

    name = "api"

    def __init__(self, base_url: str, timeout_s: float = 1.0):
        host = urlsplit(base_url).hostname
        if host not in LOOPBACK:
            raise ConfigError(f"the live API source only calls loopback services (127.0.0.1), not {host!r}; "
                              f"start one with toolkit.liveapi.live_api()")
        self.base_url, self.timeout_s = base_url.rstrip("/"), timeout_s
        self._client = None

    def _get(self, path: str) -> tuple[dict | None, str]:
        import httpx

        if self._client is None:  # one client, reused: building one costs about 25 ms (TLS setup)
            # trust_env=False: a proxy from the environment must never see loopback traffic
            self._client = httpx.Client(timeout=self.timeout_s, trust_env=False)
        url = f"{self.base_url}{path}"
        try:
            response = self._client.get(url)
        except httpx.TimeoutException as exc:
            raise SourceUnavailableError(f"the live API did not answer {path} within {self.timeout_s} s "
                                         f"(timed out); is the service overloaded or hung?") from exc
        except httpx.TransportError as exc:
            raise SourceUnavailableError(f"the live API at {self.base_url} is not reachable "
                                         f"({type(exc).__name__}); start it with toolkit.liveapi.live_api()") from exc
        if response.status_code == 404:
            return None, url
        if response.status_code != 200:
            raise SourceUnavailableError(f"the live API answered {path} with HTTP {response.status_code}")
        return response.json(), url

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _node(self, node_id: str, text: str, url: str, served_at: str | None):
        from llama_index.core.schema import TextNode

        metadata = {"source": "api", "url": url, "retrieved_at": _now(), "served_at": served_at or ""}
        return TextNode(id_=node_id, text=text, metadata=metadata,
                        excluded_llm_metadata_keys=list(metadata), excluded_embed_metadata_keys=list(metadata))

    def shipping(self, order_id: int):
        """The live shipping status of one order.

        >>> source.shipping(1042).text.splitlines()[0]          # doctest: +SKIP
        'Live shipping status of order 1042: delivered.'
        """
        record, url = self._get(f"/shipping/{order_id}")
        node_id = f"api:shipping/{order_id}"
        if record is None:
            return self._node(node_id, f"The shipping service has no record of order {order_id}.", url, None)
        lines = [f"Live shipping status of order {order_id}: {record['status']}."]
        if record["carrier"]:
            lines.append(f"Order {order_id} shipped on {record['shipped_date']} with {record['carrier']}, "
                         f"tracking number {record['tracking']}.")
            lines.append(f"Order {order_id} was delivered on {record['delivered_date']}." if record["delivered_date"]
                         else f"Order {order_id} is expected to arrive by {record['expected_delivery']}.")
        elif record["status"] == "cancelled":
            lines.append(f"Order {order_id} was cancelled, so it will not ship.")
        else:
            lines.append(f"Order {order_id} has not shipped yet.")
        return self._node(node_id, "\n".join(lines), url, record["served_at"])

    def stock(self, sku: str):
        """The live stock level of one SKU."""
        sku = sku.upper()
        record, url = self._get(f"/stock/{sku}")
        node_id = f"api:stock/{sku}"
        if record is None:
            return self._node(node_id, f"The stock service has no product {sku}.", url, None)
        text = (f"Live stock: the {record['name']} ({sku}) has {record['in_stock']} units in stock."
                if record["in_stock"] else
                f"Live stock: the {record['name']} ({sku}) is out of stock; "
                f"new stock is expected on {record['restock_date']}.")
        return self._node(node_id, text, url, record["served_at"])

"""The bundled live service: a real loopback service, its source, a hung service cut off by the
timeout, a down one."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from toolkit.demo.routing import find_entities
from toolkit.demo.services import LiveAPISource, live_api, load_live_data
from toolkit.demo.structured import build_database
from toolkit.errors import ConfigError, SourceUnavailableError
from toolkit.retrieval.sql import ReadOnlyDatabase


@pytest.fixture(scope="module")
def service():
    with live_api() as running:
        yield running


def test_shipping_status_becomes_a_timestamped_node(service):
    source = LiveAPISource(service.url)
    node = source.shipping(1042)
    assert node.node_id == "api:shipping/1042"
    assert node.text.splitlines() == [
        "Live shipping status of order 1042: delivered.",
        "Order 1042 shipped on 2023-03-24 with Harborline Parcel, tracking number HLP2774800964.",
        "Order 1042 was delivered on 2023-03-30.",
    ]
    assert node.metadata["url"] == f"{service.url}/shipping/1042"
    fetched = dt.datetime.fromisoformat(node.metadata["retrieved_at"])
    assert abs((dt.datetime.now(dt.UTC) - fetched).total_seconds()) < 60
    assert dt.datetime.fromisoformat(node.metadata["served_at"]) <= fetched
    assert source.shipping(1288).text.splitlines()[-1] == "Order 1288 is expected to arrive by 2024-12-18."
    assert source.shipping(1299).text.splitlines()[-1] == "Order 1299 was cancelled, so it will not ship."
    assert source.shipping(1300).text.splitlines()[-1] == "Order 1300 has not shipped yet."
    assert source.shipping(4321).text == "The shipping service has no record of order 4321."


def test_stock_levels(service):
    source = LiveAPISource(service.url)
    assert (
        source.stock("TW-DS1").text
        == "Live stock: the Drip Sentinel water-leak sensor (TW-DS1) has 226 units in stock."
    )
    node = source.stock("tw-cam-sol")
    assert node.node_id == "api:stock/TW-CAM-SOL"
    assert (
        node.text
        == "Live stock: the Sentry Cam solar panel (TW-CAM-SOL) is out of stock; new stock is expected on 2025-01-13."
    )
    assert source.stock("TW-NOPE").text == "The stock service has no product TW-NOPE."
    with httpx.Client(trust_env=False) as client:
        assert client.get(f"{service.url}/health").json() == {"ok": True}
        wrong = client.get(f"{service.url}/orders/1042")
    assert wrong.status_code == 404 and "try /shipping/<order_id>" in wrong.json()["error"]


def test_lookup_asks_for_shipping_and_stock_only_when_their_rules_fired(service):
    source = LiveAPISource(service.url)
    entities = find_entities("Has order 1299 shipped, and is the solar panel in stock?")
    nodes = source.lookup("", entities, ["order", "shipping", "stock"])
    assert [n.node_id for n in nodes] == ["api:shipping/1299", "api:stock/TW-CAM-SOL"]
    assert all(n.metadata["source"] == "api" for n in nodes)
    assert source.lookup("", entities, ["order"]) == []  # an order named for its items needs no tracking


def test_the_service_serves_the_same_data_as_the_database():
    data = load_live_data()
    db = ReadOnlyDatabase(build_database())
    statuses = {str(r["order_id"]): r["status"] for r in db.query("SELECT order_id, status FROM orders")}
    assert {k: v["status"] for k, v in data["shipping"].items()} == statuses
    stock = {r["sku"]: r["in_stock"] for r in db.query("SELECT sku, in_stock FROM stock")}
    assert {k: v["in_stock"] for k, v in data["stock"].items()} == stock


def test_a_hung_service_is_cut_off_by_the_timeout():
    with live_api(delay_s=30) as hung:  # every answer would take 30 s
        source = LiveAPISource(hung.url, timeout_s=0.2)
        with pytest.raises(SourceUnavailableError, match=r"did not answer /shipping/1042 within 0.2 s \(timed out\)"):
            source.shipping(1042)
        source.close()


def test_a_down_service_is_a_clear_failure():
    with live_api() as running:
        url = running.url
        source = LiveAPISource(url)
        assert source.stock("TW-HUB2").text.startswith("Live stock: the Tidewell Hub")
    with pytest.raises(
        SourceUnavailableError, match=r"is not reachable \(\w+Error\); start it with toolkit.demo.services"
    ):
        source.stock("TW-HUB2")


def test_only_loopback_services():
    with pytest.raises(ConfigError, match="only calls loopback services"):
        LiveAPISource("http://api.example.com/")
    assert LiveAPISource("http://localhost:9/").base_url == "http://localhost:9"

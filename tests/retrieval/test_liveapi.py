"""The live-API client against a tiny loopback service of its own: JSON and 404s, error answers,
a hung service cut off by the timeout, a down one, and loopback only."""

from __future__ import annotations

import datetime as dt
import threading
from http.server import ThreadingHTTPServer

import pytest

from toolkit.errors import ConfigError, SourceUnavailableError
from toolkit.reliability.loopback import QuietHandler
from toolkit.retrieval.liveapi import LiveAPIClient

HANG = threading.Event()  # set at teardown, so a sleeping handler ends with the test


class Handler(QuietHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        if self.path == "/greeting":
            return self.send_json(200, {"text": "hello", "served_at": "2024-12-16T09:00:00+00:00"})
        if self.path == "/broken":
            return self.send_json(503, {"error": "maintenance"})
        if self.path == "/html":
            body = b"<html>oops</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return self.wfile.write(body)
        if self.path == "/slow":
            HANG.wait(30)
        self.send_json(404, {"error": "no such thing"})


@pytest.fixture
def url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads, server.block_on_close = True, False
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    HANG.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    HANG.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


class Greeter(LiveAPIClient):
    name = "greeter"
    start_hint = "start the greeter first"


def test_json_answers_404s_and_timestamped_nodes(url):
    client = Greeter(url + "/")
    assert client.base_url == url
    record, called = client.get("/greeting")
    assert record == {"text": "hello", "served_at": "2024-12-16T09:00:00+00:00"} and called == f"{url}/greeting"
    assert client.get("/nothing") == (None, f"{url}/nothing")
    node = client.node("greeter:hello", record["text"], called, record["served_at"])
    assert node.node_id == "greeter:hello" and node.text == "hello"
    assert node.metadata["source"] == "greeter" and node.metadata["url"] == f"{url}/greeting"
    assert node.metadata["served_at"] == "2024-12-16T09:00:00+00:00"
    fetched = dt.datetime.fromisoformat(node.metadata["retrieved_at"])
    assert abs((dt.datetime.now(dt.UTC) - fetched).total_seconds()) < 60
    assert set(node.excluded_llm_metadata_keys) == set(node.metadata)  # none of it reaches the prompt
    assert client.node("x", "y", called, None).metadata["served_at"] == ""
    client.close()


def test_error_answers_are_an_unavailable_source(url):
    client = LiveAPIClient(url)
    with pytest.raises(SourceUnavailableError, match="the live API answered /broken with HTTP 503"):
        client.get("/broken")
    with pytest.raises(SourceUnavailableError, match="answered /html with something that is not JSON"):
        client.get("/html")
    client.close()


def test_a_hung_service_is_cut_off_by_the_timeout(url):
    client = LiveAPIClient(url, timeout_s=0.2)
    with pytest.raises(SourceUnavailableError, match=r"did not answer /slow within 0.2 s \(timed out\)"):
        client.get("/slow")
    client.close()


def test_a_down_service_names_how_to_start_it(url):
    client = Greeter(url)
    assert client.get("/greeting")[0]["text"] == "hello"
    client.close()
    with pytest.raises(
        SourceUnavailableError,
        match=r"the live API at http://127.0.0.1:9 is not reachable \(\w+Error\); "
        r"start the greeter first",
    ):
        Greeter("http://127.0.0.1:9").get("/greeting")  # the discard port: nothing listens there
    with pytest.raises(SourceUnavailableError, match=r"is not reachable \(\w+Error\); is the service running\?"):
        LiveAPIClient("http://127.0.0.1:9").get("/greeting")


def test_only_loopback_services():
    with pytest.raises(ConfigError, match="only calls loopback services .* not 'api.example.com'; start the greeter"):
        Greeter("http://api.example.com/")
    assert LiveAPIClient("http://localhost:9/").base_url == "http://localhost:9"
    assert LiveAPIClient("http://[::1]:9").base_url == "http://[::1]:9"

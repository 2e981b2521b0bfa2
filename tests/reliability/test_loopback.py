"""QuietHandler on a real loopback server: JSON replies, keep-alive, no request log, and a client
that hangs up ends its request quietly. Each check runs beside the stdlib handler it replaces."""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from toolkit.reliability.loopback import QuietHandler


class Hello(QuietHandler):
    def do_GET(self):
        if self.path == "/hang-up":
            raise BrokenPipeError("the client hung up mid-reply")
        self.send_json(200 if self.path != "/missing" else 404, {"hello": "world", "path": self.path})


class Loud(Hello):
    """The same handler with the stdlib's logging and error handling, as a control."""

    log_message = BaseHTTPRequestHandler.log_message
    handle = BaseHTTPRequestHandler.handle


@contextlib.contextmanager
def serving(handler):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    try:
        yield connection
    finally:
        connection.close()
        server.shutdown()
        server.server_close()
        thread.join(10)


def get(connection: http.client.HTTPConnection, path: str):
    connection.request("GET", path)
    response = connection.getresponse()
    return response, response.read()


def test_send_json_writes_status_headers_and_body():
    with serving(Hello) as connection:
        response, body = get(connection, "/a")
        assert (response.status, response.getheader("Content-Type")) == (200, "application/json")
        assert body == b'{"hello": "world", "path": "/a"}'
        assert response.getheader("Content-Length") == "32" == str(len(body))
        missing, body = get(connection, "/missing")
        assert (missing.status, json.loads(body)) == (404, {"hello": "world", "path": "/missing"})


def test_one_connection_serves_several_requests():
    with serving(Hello) as connection:
        get(connection, "/a")
        sock = connection.sock
        assert sock is not None  # HTTP/1.1: the server kept it open
        get(connection, "/b")
        assert connection.sock is sock


def test_requests_are_not_logged(capsys):
    with serving(Hello) as connection:
        get(connection, "/a")
    assert capsys.readouterr().err == ""
    with serving(Loud) as connection:
        get(connection, "/a")
    assert '"GET /a HTTP/1.1" 200' in capsys.readouterr().err


def test_a_client_that_hangs_up_ends_the_request_without_a_traceback(capsys):
    with serving(Hello) as connection:
        with pytest.raises(http.client.RemoteDisconnected):
            get(connection, "/hang-up")
        response, _ = get(connection, "/a")  # the server goes on serving
        assert response.status == 200
    assert capsys.readouterr().err == ""
    with serving(Loud) as connection:
        with pytest.raises(http.client.RemoteDisconnected):
            get(connection, "/hang-up")
    assert "BrokenPipeError: the client hung up mid-reply" in capsys.readouterr().err

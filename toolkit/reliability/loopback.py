"""What the toolkit's loopback HTTP services share: a quiet request handler that answers JSON.

The demo's live API (demo/services.py), the side-effect service (effects.py) and the fault-injecting proxy
(faults.py) are small stdlib servers bound to 127.0.0.1. Their handlers log nothing (the
notebooks' output stays clean; the services keep their own counts) and treat a client that hangs
up, killed or out of patience, as the end of that request rather than a traceback.

    >>> class Hello(QuietHandler):
    ...     def do_GET(self):
    ...         self.send_json(200, {"hello": "world"})

Not here: the services themselves, or serving anything beyond loopback.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

__all__ = ["QuietHandler"]


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except ConnectionError:  # the client hung up (killed, or gave up waiting): no one to answer
            pass

    def send_json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

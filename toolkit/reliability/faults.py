"""Seeded fault injection: make any LLM, embedding or HTTP call fail on purpose, and count it.

A FaultInjector draws one outcome per call from a seeded generator: pass through, or inject
latency, a timeout, a 429 with Retry-After, a 5xx, an output cut short (with or without the
provider saying so), JSON that parses but breaks its schema, a hang, a slow trickle or a
connection reset, at the configured rates. It counts every call and every fault, so a test can
check that each injected failure was seen, and retried, exactly once.

    >>> injector = FaultInjector.transient(0.3, seed=1, hang_s=0.01, trickle_s=0.01)
    >>> shout = injector.wrap(str.upper)
    >>> for _ in range(10):
    ...     try:
    ...         _ = shout("ok")
    ...     except Exception:
    ...         pass
    >>> injector.log[:5], injector.injected
    (['cut_short', 'ok', 'ok', 'ok', 'server_error'], 3)

No fault carries a marker: each looks like the real thing, so only a check of the output
itself, or a clock, can see it.
- 429 and 5xx are `httpx.HTTPStatusError`s with real responses (as LlamaIndex's clients raise them).
- timeout: the call runs, then its response is lost, as when a client's own timeout fires; this
  is the case that duplicates side effects.
- truncated: the output is cut and the response reports `finish_reason="length"`, as providers do.
- cut_short: the output is cut and nothing says so (the finish reason, if any, is left as it was).
  Only a parser or a validator can see it, and only when the format makes a cut visible: a
  prefix of a JSON object never parses, but a plain-text answer cut after a full sentence
  reads as a shorter answer.
- bad_schema: a JSON object reply that still parses, with one field's value of the wrong type
  (a string becomes a number, a list a string); only validation against the schema sees it.
- hang: the call runs, then its response is held `hang_s` (a real sleep) before it arrives;
  only a per-call timeout shorter than that sees it.
- trickle: the response arrives in `trickle_chunks` pieces over `trickle_s`; each piece comes
  well within a per-read timeout, so only a deadline on the whole call sees it.
- reset: the call runs, then the connection is reset mid-response (ConnectionResetError).

FaultProxy injects the same faults on the wire, in front of a real server on 127.0.0.1, so the
whole client stack sees them.

Not here: deciding what to retry (retry.py) and keeping side effects to once (effects.py).
"""

from __future__ import annotations

import functools
import http.client
import json
import random
import socket
import struct
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from ..errors import ConfigError
from .loopback import QuietHandler

__all__ = ["FaultInjector", "FaultProxy", "KINDS", "FAILURES", "break_schema"]

# The order fixes what a seed draws: new kinds go at the end, so old seeds keep their sequences.
KINDS = (
    "latency",
    "timeout",
    "rate_limit",
    "server_error",
    "truncated",
    "cut_short",
    "bad_schema",
    "hang",
    "trickle",
    "reset",
)
FAILURES = KINDS[1:]  # latency only slows a call down
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class FaultInjector:
    """Inject faults at `rates` (kind -> probability per call, summing to at most 1).

    >>> FaultInjector({"rate_limit": 0.1, "server_error": 0.2}).rates["server_error"]
    0.2
    """

    rates: dict[str, float]
    seed: int = 0
    latency_s: float = 0.05  # added to a call by a latency fault
    hang_s: float = 1.0  # a hang holds the response this long (give the retry policy a shorter timeout)
    trickle_s: float = 1.0  # a trickle delivers the response over this long...
    trickle_chunks: int = 10  # ...in this many pieces (on the wire, one gap is trickle_s / trickle_chunks)
    retry_after_s: float | None = 0.02
    status_codes: Sequence[int] = (500, 502, 503)
    counts: Counter = field(default_factory=Counter, init=False)
    log: list[str] = field(default_factory=list, init=False)  # the outcome of every call, in order

    def __post_init__(self) -> None:
        unknown = sorted(set(self.rates) - set(KINDS))
        if unknown:
            raise ConfigError(f"unknown fault kind(s) {unknown}; use: {', '.join(KINDS)}")
        if any(rate < 0 for rate in self.rates.values()) or sum(self.rates.values()) > 1 + 1e-9:
            raise ConfigError(f"fault rates must be non-negative and sum to at most 1, not {self.rates}")
        if min(self.hang_s, self.trickle_s, self.latency_s) < 0 or self.trickle_chunks < 1:
            raise ConfigError("latency_s, hang_s and trickle_s must not be negative, and trickle_chunks must be >= 1")
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()  # calls may come from many threads; draws stay in one sequence

    @classmethod
    def transient(cls, rate: float, kinds: Sequence[str] = FAILURES, **kwargs) -> FaultInjector:
        """Spread `rate` evenly over `kinds` (by default every failure kind).

        >>> FaultInjector.transient(0.3, kinds=("rate_limit", "server_error")).rates
        {'rate_limit': 0.15, 'server_error': 0.15}
        """
        return cls({kind: rate / len(kinds) for kind in kinds}, **kwargs)

    @property
    def injected(self) -> int:
        """How many calls failed on purpose (latency is not a failure)."""
        return sum(self.counts[kind] for kind in FAILURES)

    def summary(self) -> dict[str, int]:
        return {
            "calls": self.counts["calls"],
            "passed": self.counts["ok"],
            "injected": self.injected,
            **{kind: self.counts[kind] for kind in KINDS},
        }

    def draw(self) -> tuple[str, Any]:
        """The next outcome, "ok" or a fault kind, with its detail: a status code for a 5xx, the
        fraction kept for a cut (0.3-0.8), otherwise a number in [0, 1) (bad_schema: which field)."""
        with self._lock:
            u, detail = self._random.random(), self._random.random()
            kind, edge = "ok", 0.0
            for name in KINDS:
                edge += self.rates.get(name, 0.0)
                if u < edge:
                    kind = name
                    break
            self.counts["calls"] += 1
            self.counts[kind] += 1
            self.log.append(kind)
        if kind == "server_error":
            return kind, self.status_codes[int(detail * len(self.status_codes))]
        if kind in ("truncated", "cut_short", "reset"):
            return kind, 0.3 + 0.5 * detail  # where a cut falls: 30-80% of the output
        return kind, detail

    def wrap(self, fn: Callable) -> Callable:
        """`fn` with faults: the same arguments and, when no fault is drawn, the same result."""

        @functools.wraps(fn)
        def faulty(*args, **kwargs):
            kind, detail = self.draw()
            if kind in ("rate_limit", "server_error"):  # refused up front: the call never ran
                raise _http_error(429 if kind == "rate_limit" else detail, self.retry_after_s)
            if kind == "latency":
                time.sleep(self.latency_s)
            value = fn(*args, **kwargs)
            if kind == "timeout":  # the call ran, but its response is lost
                raise TimeoutError("injected timeout: the call ran but its response never arrived")
            if kind == "reset":  # the call ran; the connection dropped while its response came back
                raise ConnectionResetError(104, "Connection reset by peer")
            if kind == "hang":  # the response arrives, late: a real sleep, for a real timeout to cut
                time.sleep(self.hang_s)
            if kind == "trickle":  # piece by piece; in process only the total shows
                for _ in range(self.trickle_chunks):
                    time.sleep(self.trickle_s / self.trickle_chunks)
            if kind in ("truncated", "cut_short", "bad_schema"):
                return _corrupt(value, kind, detail)
            return value

        return faulty

    def wrap_object(self, target: Any, methods: Sequence[str]) -> Any:
        """A stand-in for `target` whose `methods` carry faults; everything else is passed through."""
        found = {name: self.wrap(getattr(target, name)) for name in methods if hasattr(target, name)}
        if not found:
            raise ConfigError(f"{type(target).__name__} has none of the methods {list(methods)} to inject faults into")
        return _Faulty(target, found)

    def wrap_llm(self, llm: Any) -> Any:
        """A LlamaIndex LLM whose `chat` and `complete` carry faults."""
        return self.wrap_object(llm, ("chat", "complete"))

    def wrap_embedding(self, embed_model: Any) -> Any:
        """A LlamaIndex embedding model whose embedding calls carry faults."""
        return self.wrap_object(embed_model, ("get_query_embedding", "get_text_embedding", "get_text_embedding_batch"))


class _Faulty:
    def __init__(self, target: Any, methods: dict[str, Callable]):
        self._target, self._methods = target, methods

    def __getattr__(self, name: str) -> Any:
        return self._methods[name] if name in self._methods else getattr(self._target, name)


def _http_error(status: int, retry_after_s: float | None):
    import httpx

    headers = {}
    if status == 429 and retry_after_s is not None:
        # Whole seconds go in Retry-After; finer waits in retry-after-ms, as OpenAI sends them.
        headers = (
            {"Retry-After": str(int(retry_after_s))}
            if float(retry_after_s).is_integer()
            else {"retry-after-ms": str(int(retry_after_s * 1000))}
        )
    request = httpx.Request("POST", "http://127.0.0.1/injected")
    response = httpx.Response(status, headers=headers, request=request)
    return httpx.HTTPStatusError(f"injected: {status} {response.reason_phrase}", request=request, response=response)


def _cut(text, fraction: float):
    return text[: max(1, int(len(text) * fraction))]


def _wrong_type(value: Any) -> Any:
    """A value of another JSON type, one that a schema's lax parsing does not turn back:
    a string becomes its length, a list the text of its items, anything else a list of itself."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return [value]


def break_schema(text: str, pick: float = 0.0) -> str:
    """The JSON object `text` with one field (chosen by `pick` in [0, 1)) given a value of the wrong type.

    >>> break_schema('{"answer": "30 days", "sources": [1, 2]}', pick=0.0)
    '{"answer": 7, "sources": [1, 2]}'
    >>> break_schema('{"answer": "30 days", "sources": [1, 2]}', pick=0.5)
    '{"answer": "30 days", "sources": "1, 2"}'
    """
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        data = None
    if not isinstance(data, dict) or not data:
        raise ConfigError(
            "a bad_schema fault needs a reply that is a JSON object with fields; leave bad_schema out of the rates "
            "for calls that answer in plain text"
        )
    name = list(data)[min(int(pick * len(data)), len(data) - 1)]
    return json.dumps({**data, name: _wrong_type(data[name])})


def _corrupt(value: Any, kind: str, detail: float) -> Any:
    """A cut (truncated, cut_short) or schema-breaking copy of a chat/completion response, text,
    bytes or an embedding."""
    from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse

    if isinstance(value, str):
        return break_schema(value, detail) if kind == "bad_schema" else _cut(value, detail)
    if isinstance(value, bytes):
        return (
            _corrupt(value.decode("utf-8", "replace"), kind, detail).encode()
            if kind == "bad_schema"
            else _cut(value, detail)
        )
    if isinstance(value, (ChatResponse, CompletionResponse)):
        text = value.message.content if isinstance(value, ChatResponse) else value.text
        raw = value.raw if isinstance(value.raw, dict) else {}
        if kind == "truncated":  # what a provider reports for an output cut short; cut_short reports nothing
            raw = {**raw, "choices": [{"finish_reason": "length"}]}
        text = _corrupt(text or "", kind, detail)
        if isinstance(value, ChatResponse):
            return ChatResponse(message=ChatMessage(role="assistant", content=text), raw=raw)
        return CompletionResponse(text=text, raw=raw)
    if kind != "bad_schema" and isinstance(value, list) and value and all(isinstance(x, float) for x in value):
        return _cut(value, detail)  # one embedding, too short
    if kind != "bad_schema" and isinstance(value, list) and value and all(isinstance(x, list) for x in value):
        return value[:-1]  # a batch of them, one missing
    raise ConfigError(
        f"cannot inject a {kind} output into a {type(value).__name__}; leave {kind} out of the rates for this call"
    )


class FaultProxy:
    """A loopback HTTP proxy in front of a real server, injecting faults from `injector`.

    >>> with FaultProxy("http://127.0.0.1:8000", FaultInjector.transient(0.3)) as proxy:  # doctest: +SKIP
    ...     llm = OpenAILike(model="smol", api_base=proxy.url + "/v1", api_key="unused")

    On the wire: 429 (with Retry-After) and 5xx come back as JSON error bodies and the upstream
    is never asked. Every other fault forwards the request first, so the upstream acts, and then:
    timeout closes the connection without a reply; truncated sends part of the body under the
    full Content-Length and hangs up; cut_short sends part of the body under its own, matching
    Content-Length (a whole HTTP reply whose body no longer parses); bad_schema sends the JSON
    body with one field of the wrong type (a body that is not a JSON object is sent as `{}`);
    hang holds the connection open, silent, for `hang_s`, then closes it; trickle sends the
    whole body in `trickle_chunks` pieces spread over `trickle_s`; reset sends part of the body
    and then resets the connection (a TCP RST: SO_LINGER 0, then close). Bodies are buffered, so
    streamed responses arrive whole. Both ends stay on loopback.
    """

    def __init__(self, upstream: str, injector: FaultInjector, *, port: int = 0, upstream_timeout_s: float = 120):
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or parsed.hostname not in LOOPBACK:
            raise ConfigError(f"FaultProxy forwards only to http:// on loopback (127.0.0.1), not {upstream!r}")
        self.upstream = (parsed.hostname, parsed.port or 80)
        self.injector, self.upstream_timeout_s = injector, upstream_timeout_s
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _proxy_handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="fault-proxy")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def forward(self, method: str, path: str, headers, body: bytes) -> tuple[int, list, bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=self.upstream_timeout_s)
        try:
            keep = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
            connection.request(method, path, body=body or None, headers=keep)
            response = connection.getresponse()
            data = response.read()  # http.client undoes chunked encoding
            return response.status, [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP], data
        finally:
            connection.close()


_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "host",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
}


def _proxy_handler(proxy: FaultProxy) -> type:
    class Handler(QuietHandler):
        def _reply(self, status: int, headers: list, body: bytes, length: int | None = None) -> None:
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            self.wfile.write(body)

        def _trickle(self, status: int, headers: list, body: bytes) -> None:
            self._reply(status, headers, b"", length=len(body))
            pieces, gap = proxy.injector.trickle_chunks, proxy.injector.trickle_s / proxy.injector.trickle_chunks
            size = -(-len(body) // pieces)  # ceiling division: every byte goes out
            for start in range(0, max(len(body), 1), max(size, 1)):
                time.sleep(gap)
                self.wfile.write(body[start : start + size])
                self.wfile.flush()

        def _reset(self, status: int, headers: list, body: bytes, fraction: float) -> None:
            self._reply(status, headers, _cut(body, fraction), length=len(body))
            self.wfile.flush()
            # Linger 0: close() sends a RST, not a FIN, so the client's next read fails with a reset.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True

        def _error(self, status: int, message: str, headers: list | None = None) -> None:
            body = json.dumps({"error": {"message": message, "type": "injected", "code": status}}).encode()
            self._reply(status, [("Content-Type", "application/json")] + (headers or []), body)

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            kind, detail = proxy.injector.draw()
            if kind == "rate_limit":
                after = proxy.injector.retry_after_s
                headers = (
                    []
                    if after is None
                    else [("retry-after-ms", str(int(after * 1000))), ("Retry-After", str(max(1, round(after))))]
                )
                return self._error(429, "injected rate limit", headers)
            if kind == "server_error":
                return self._error(detail, f"injected server error {detail}")
            if kind == "latency":
                time.sleep(proxy.injector.latency_s)
            status, headers, data = proxy.forward(self.command, self.path, self.headers, body)
            if kind == "timeout":  # the upstream did the work; the reply never comes
                self.close_connection = True
                return
            if kind == "hang":  # connected, silent, then gone
                time.sleep(proxy.injector.hang_s)
                self.close_connection = True
                return
            if kind == "truncated":
                self.close_connection = True
                return self._reply(status, headers, _cut(data, detail), length=len(data))
            if kind == "cut_short":
                return self._reply(status, headers, _cut(data, detail))
            if kind == "bad_schema":
                try:
                    data = break_schema(data.decode("utf-8"), detail).encode()
                except (ConfigError, UnicodeDecodeError):
                    data = b"{}"
                return self._reply(status, headers, data)
            if kind == "trickle":
                return self._trickle(status, headers, data)
            if kind == "reset":
                return self._reset(status, headers, data, detail)
            self._reply(status, headers, data)

        do_GET = do_POST = do_PUT = do_DELETE = _handle

    return Handler

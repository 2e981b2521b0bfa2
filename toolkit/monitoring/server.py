"""The pipeline served over HTTP with FastAPI and uvicorn: `POST /ask`, `POST /feedback`,
`GET /metrics` (Prometheus text format, from prometheus_client).

    python -m toolkit serve --pipeline notebooks/pipelines/09_measuring_what_matters.yaml

    >>> app = create_app(pipeline)                              # doctest: +SKIP
    >>> with serve_in_thread(app) as url:                       # doctest: +SKIP
    ...     httpx.post(url + "/ask", json={"question": "How long do I have to return an item?"}).json()["run_id"]

- `/ask {"question": "..."}` returns what `ask --json` prints, plus `run_id`; every run lands in
  the pipeline's run store (one is opened under TOOLKIT_HOME when the configuration names none).
- `/feedback {"run_id": "...", "up": true, "comment": "..."}`: an unknown run id is a 404.
- Bodies are validated by pydantic; malformed JSON or a wrong field is a 422 with a message, a
  body over `max_body_bytes` a 413 (counted as it streams in, so a lying Content-Length does not
  get past it).
- Bound to anything but loopback, the server refuses to start without a token; with a token,
  every request needs `Authorization: Bearer TOKEN` (compared in constant time).
- One pipeline answers one question at a time (a lock): the embedded models are not
  thread-safe, and on 2 cores a second concurrent answer only slows the first. The load test
  (loadtest.py) measures what that means for throughput and tail latency.

Not here: the load test, the dashboard.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import threading
import time

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigError, ToolkitError
from ..tracking import RunStore, RunStoreError

__all__ = [
    "AskBody",
    "FeedbackBody",
    "create_app",
    "serve",
    "serve_in_thread",
    "is_loopback",
    "MAX_BODY_BYTES",
    "MAX_QUESTION_CHARS",
    "check_bind",
]

MAX_BODY_BYTES = 64 * 1024
MAX_QUESTION_CHARS = 4000


class AskBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run_id: str = Field(min_length=1, max_length=64)
    up: bool
    comment: str = Field("", max_length=2000)


def is_loopback(host: str) -> bool:
    """Whether `host` only listens on this machine.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _BodyLimit:
    """ASGI middleware: a 413 once a request body passes `limit` bytes, declared or streamed."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await _reply(send, 413, f"the body is larger than {self.limit} bytes; send a shorter question")
        # Read the body here, up to the limit, before the app sees any of it: nothing has been
        # sent yet, so a 413 is still possible, and the app gets the body whole.
        chunks, seen, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                return await _reply(send, 413, f"the body is larger than {self.limit} bytes; send a shorter question")
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, delivered = b"".join(chunks), False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _reply(send, status: int, message: str) -> None:
    import json

    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(pipeline, *, token: str | None = None, max_body_bytes: int = MAX_BODY_BYTES):
    """A FastAPI app that serves `pipeline` (see the module docstring)."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

    if pipeline.store is None:  # feedback needs the runs it refers to
        pipeline.store = RunStore(pipeline.settings.home / "runs.sqlite")
    pipeline.origin = "server"
    store: RunStore = pipeline.store
    lock = threading.Lock()

    registry = CollectorRegistry()
    requests = Counter("toolkit_requests", "HTTP requests", ["endpoint", "status"], registry=registry)
    latency = Histogram(
        "toolkit_ask_seconds",
        "seconds per answered /ask",
        buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32),
        registry=registry,
    )
    step_seconds = Counter("toolkit_step_seconds", "seconds spent per step", ["step"], registry=registry)
    runs = Counter("toolkit_runs", "runs by status", ["status"], registry=registry)
    cost = Counter("toolkit_cost_usd", "dollars the runs cost", registry=registry)
    cache_hits = Counter("toolkit_cache_hits", "runs a response cache answered", registry=registry)
    feedback = Counter("toolkit_feedback", "user feedback", ["thumbs"], registry=registry)

    app = FastAPI(title="llm-pipeline-toolkit", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def authorize_and_count(request: Request, call_next):
        if token is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                requests.labels(request.url.path, "401").inc()
                return JSONResponse({"error": "send Authorization: Bearer <token>"}, status_code=401)
        response = await call_next(request)
        requests.labels(request.url.path, str(response.status_code)).inc()
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        problem = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid body"}
        where = ".".join(str(p) for p in problem.get("loc", ()) if p != "body") or "body"
        example = '{"question": "..."}' if request.url.path == "/ask" else '{"run_id": "...", "up": true}'
        return JSONResponse({"error": f"{where}: {problem['msg']}; send JSON like {example}"}, status_code=422)

    @app.post("/ask")
    def ask(body: AskBody):
        with lock:
            try:
                answer = pipeline.ask(body.question)
            except ToolkitError as exc:
                record = pipeline.records[-1]
                runs.labels("error").inc()
                return JSONResponse({"error": str(exc), "run_id": record.run_id}, status_code=400)
            except Exception as exc:  # a provider or library failure: the run is recorded, the server stays up
                record = pipeline.records[-1]
                runs.labels("error").inc()
                return JSONResponse({"error": f"{type(exc).__name__}: {exc}", "run_id": record.run_id}, status_code=500)
        r = answer.record
        latency.observe(r.total_s)
        step_seconds.labels("retrieve").inc(r.retrieve_s)
        step_seconds.labels("generate").inc(r.generate_s)
        from ..tracking import status_of

        runs.labels(status_of(r)).inc()
        cost.inc(r.cost_usd)
        if r.get("cache.hit"):
            cache_hits.inc()
        return {**answer.to_dict(), "run_id": r.run_id}

    @app.post("/feedback")
    def give_feedback(body: FeedbackBody):
        try:
            number = store.add_feedback(body.run_id, up=body.up, comment=body.comment)
        except RunStoreError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        feedback.labels("up" if body.up else "down").inc()
        return {"ok": True, "feedback_id": number}

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return _BodyLimit(app, max_body_bytes)


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve beyond loopback without a token."""
    if not is_loopback(host) and not token:
        raise ConfigError(
            f"serving on {host} reaches other machines: set a token (--token or TOOLKIT_SERVE_TOKEN), "
            f"or bind to 127.0.0.1"
        )


def serve(pipeline, host: str = "127.0.0.1", port: int = 8000, *, token: str | None = None) -> None:
    """Serve until interrupted (what `python -m toolkit serve` runs)."""
    import uvicorn

    check_bind(host, token)
    uvicorn.run(create_app(pipeline, token=token), host=host, port=port, log_level="warning")


@contextlib.contextmanager
def serve_in_thread(app, host: str = "127.0.0.1", port: int = 0, *, token: str | None = None):
    """Run an app on a free port in a background thread; yield its base URL; stop it after.

    The server keeps slow clients from holding others up (uvicorn serves each connection on its
    event loop); `timeout_keep_alive` closes idle ones."""
    import uvicorn

    check_bind(host, token)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_keep_alive=5, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ToolkitError(f"the server did not start on {host}:{port}; is the port free?")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)

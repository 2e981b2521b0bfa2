"""Side effects that happen once: idempotency keys and a SQLite side-effect ledger.

A pipeline step with a side effect (open a support ticket, write a CRM note, send a
notification) gets an idempotency key derived from the request and the step. The ledger
records each key's step and result, so the step runs at most once across retries, across
concurrent duplicates (threads and processes) and across a process killed mid-pipeline and
resumed: a key already done returns its stored result; a key another live worker holds is
waited for; a key whose holder died (or whose lease ran out) is taken over. Workers on several
machines share one PostgreSQL ledger instead (effects_postgres.side_effect_ledger picks by location).

    >>> ledger = SideEffectLedger(tmp_path / "effects.db")
    >>> key = idempotency_key({"request_id": "r-1", "question": "Where is order 1042?"}, "open_ticket")
    >>> key
    'open_ticket:85261b78b30bed83ca2428b636e16ee5'
    >>> ledger.record(key, "tickets", {"request_id": "r-1"})
    {'id': 1, 'kind': 'tickets', 'replayed': False}

Two ways to make a step exactly once, both here:
- `record`: the effect is a row in this database, written in the same transaction that marks
  the key done. A crash leaves both or neither.
- `once`: the effect lives elsewhere (an HTTP service). The key travels with the request; a
  service that honours it (EffectService does, like Stripe's Idempotency-Key) makes a re-send
  after an ambiguous failure (a timeout, a crash between the call and the ledger's commit)
  harmless. A service that ignores keys can still duplicate in that one window: the ledger
  narrows it to a crash or a lost response, it cannot close it alone.

Not here: retrying (retry.py) and injecting faults (faults.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from contextlib import closing
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ConfigError, EffectInProgressError, LedgerCorruptError, MalformedOutputError
from ..files import write_transaction
from .loopback import QuietHandler
from .retry import call_with_timeout

__all__ = ["idempotency_key", "SideEffectLedger", "EffectService", "post_effect", "support_steps", "EFFECT_KINDS"]

SCHEMA = "toolkit-effects-1"
EFFECT_KINDS = ("tickets", "crm_notes", "notifications")
_HOST = socket.gethostname()

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS effects (
    key TEXT PRIMARY KEY, step TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('pending', 'done')),
    owner TEXT, lease_until REAL, result TEXT, runs INTEGER NOT NULL DEFAULT 0, done_at REAL);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, scope TEXT NOT NULL, tier TEXT NOT NULL,
    number INTEGER NOT NULL, outcome TEXT NOT NULL, error TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, key TEXT UNIQUE, payload TEXT NOT NULL, created_at REAL NOT NULL);
"""


def idempotency_key(request: Mapping[str, Any] | str, step: str) -> str:
    """`step:` and 32 hex digits of SHA-256 over the step and the canonical JSON of the request.

    >>> idempotency_key({"request_id": "r-1", "question": "Where is order 1042?"}, "open_ticket")
    'open_ticket:85261b78b30bed83ca2428b636e16ee5'

    Equal requests give equal keys, whatever their key order. Two requests that are meant to
    act twice (the same question from two customers) must differ: put a request id in them.
    """
    if not step or not isinstance(step, str):
        raise ConfigError("idempotency_key needs a step name, for example 'open_ticket'")
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return f"{step}:" + hashlib.sha256(f"{step}\n{canonical}".encode()).hexdigest()[:32]


def _alive(owner: str | None) -> bool:
    """Whether the process named in an owner tag (`host:pid:token`) may still be running."""
    if not owner:
        return False  # released by a worker whose action failed
    host, pid, _ = owner.split(":", 2)
    if host != _HOST:
        return True  # another machine: only its lease can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


class SideEffectLedger:
    """A SQLite ledger of side-effect keys, their results, and every attempt made."""

    def __init__(self, path: str | Path, *, lease_s: float = 60.0, poll_s: float = 0.01):
        self.path, self.lease_s, self.poll_s = Path(path), lease_s, poll_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with closing(self._connect()) as db:
                if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                    raise sqlite3.DatabaseError("quick_check failed")
                db.execute("PRAGMA journal_mode=WAL")  # readers never block the one writer
                db.executescript("BEGIN IMMEDIATE;" + _TABLES + "COMMIT;")
                db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA,))
                schema = db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise LedgerCorruptError(
                f"side-effect ledger {self.path} is damaged ({exc}); it is not trusted, since re-running from a "
                f"bad ledger could repeat side effects: move it aside, restore a backup, and reconcile with the "
                f"systems it wrote to"
            ) from exc
        if schema != SCHEMA:
            raise LedgerCorruptError(
                f"{self.path} is not a side-effect ledger (schema {schema!r}, expected {SCHEMA!r}); give a new path"
            )

    @property
    def where(self) -> str:
        """What another worker opens to share this ledger (the file's path)."""
        return str(self.path)

    def _connect(self) -> sqlite3.Connection:
        # One connection per operation: safe across threads, and nothing stays open after a fork.
        db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        db.execute("PRAGMA busy_timeout = 60000")
        return db

    def _transaction(self):
        """One write transaction: two workers never both see a key free."""
        return write_transaction(self._connect())

    def record(self, key: str, kind: str, payload: Mapping[str, Any]) -> dict:
        """Write one side effect (a row of `kind`) exactly once, atomically with its ledger entry;
        a repeated key returns the first result with `replayed` True."""
        if kind not in EFFECT_KINDS:
            raise ConfigError(f"unknown side-effect kind {kind!r}; use one of: {', '.join(EFFECT_KINDS)}")
        with self._transaction() as db:
            row = db.execute("SELECT result FROM effects WHERE key = ? AND status = 'done'", (key,)).fetchone()
            if row is not None:
                return {**json.loads(row[0]), "replayed": True}
            cursor = db.execute(
                "INSERT INTO records (kind, key, payload, created_at) VALUES (?, ?, ?, ?)",
                (kind, key, json.dumps(payload, sort_keys=True), time.time()),
            )
            result = {"id": cursor.lastrowid, "kind": kind}
            db.execute(
                "INSERT OR REPLACE INTO effects (key, step, status, result, runs, done_at) "
                "VALUES (?, ?, 'done', ?, 1, ?)",
                (key, key.split(":", 1)[0], json.dumps(result), time.time()),
            )
        return {**result, "replayed": False}

    def once(self, key: str, action: Callable[[str], Any], *, wait_s: float | None = None) -> Any:
        """Run `action(key)` unless `key` is done (then return its stored result); JSON results only.

        A key held by a live worker is waited for, up to `wait_s` (default: the lease), then
        EffectInProgressError (transient: a retry waits again). A failed action releases the key,
        so a retry runs it again with the same key for the target to deduplicate.
        """
        owner = f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        deadline = time.monotonic() + (self.lease_s if wait_s is None else wait_s)
        while True:
            state, value = self._claim(key, owner)
            if state == "done":
                return value
            if state == "claimed":
                break
            if time.monotonic() >= deadline:
                raise EffectInProgressError(
                    f"side effect {key} is still being run by {value}; retry later, or wait "
                    f"{self.lease_s:.0f} s for its lease to expire if that worker is stuck"
                )
            time.sleep(self.poll_s)
        try:
            result = action(key)
            payload = json.dumps(result)
        except BaseException:
            with self._transaction() as db:  # release: the next claim takes over at once (and counts a run)
                db.execute(
                    "UPDATE effects SET owner = NULL, lease_until = 0 WHERE key = ? AND owner = ? "
                    "AND status = 'pending'",
                    (key, owner),
                )
            raise
        with self._transaction() as db:
            db.execute(
                "UPDATE effects SET status = 'done', result = ?, done_at = ?, lease_until = NULL "
                "WHERE key = ? AND owner = ?",
                (payload, time.time(), key, owner),
            )
        return result

    def _claim(self, key: str, owner: str) -> tuple[str, Any]:
        now = time.time()
        with self._transaction() as db:
            row = db.execute("SELECT status, owner, lease_until, result FROM effects WHERE key = ?", (key,)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO effects (key, step, status, owner, lease_until, runs) VALUES (?, ?, 'pending', ?, ?, 1)",
                    (key, key.split(":", 1)[0], owner, now + self.lease_s),
                )
                return "claimed", None
            status, holder, lease_until, result = row
            if status == "done":
                return "done", json.loads(result)
            if (lease_until or 0) < now or not _alive(holder):  # its worker died or went quiet: take over
                db.execute(
                    "UPDATE effects SET owner = ?, lease_until = ?, runs = runs + 1 WHERE key = ?",
                    (owner, now + self.lease_s, key),
                )
                return "claimed", None
            return "held", holder

    def log_attempt(self, attempt, scope: str = "") -> None:
        """Store one reliability.Attempt; pass as `RetryPolicy(on_attempt=ledger.log_attempt)`."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO attempts (at, scope, tier, number, outcome, error) VALUES (?, ?, ?, ?, ?, ?)",
                (time.time(), scope, attempt.tier, attempt.number, attempt.outcome, attempt.error),
            )

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Read-only SQL over the ledger's tables (meta, effects, attempts, records)."""
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=60)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    def stats(self) -> dict[str, int]:
        """Counts: effects done and pending, actions run, attempts made and failed, records written."""
        ((done, pending, runs),) = self.query(
            "SELECT COALESCE(SUM(status = 'done'), 0), "
            "COALESCE(SUM(status = 'pending'), 0), COALESCE(SUM(runs), 0) FROM effects"
        )
        ((attempts, failed),) = self.query("SELECT COUNT(*), COALESCE(SUM(outcome != 'ok'), 0) FROM attempts")
        ((records,),) = self.query("SELECT COUNT(*) FROM records")
        return {
            "done": done,
            "pending": pending,
            "runs": runs,
            "attempts": attempts,
            "failed_attempts": failed,
            "records": records,
        }


class EffectService:
    """A loopback HTTP service that stands in for a ticketing/CRM/notification system.

    `POST /tickets` (or /crm_notes, /notifications) with a JSON body creates a record and
    answers 201 `{"id": ..., "kind": ..., "replayed": false}`. With an `Idempotency-Key`
    header, a repeated key returns the first record (200, `"replayed": true`); without one,
    every POST creates a new record, as a naive system does. `GET /tickets` lists them.
    Records live in SQLite at `path`, so they outlast the processes that post them.
    """

    def __init__(self, path: str | Path, *, port: int = 0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(self.path) as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS records (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, "
                "key TEXT UNIQUE, payload TEXT NOT NULL, created_at REAL NOT NULL)"
            )
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _service_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="effect-service")
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def create(self, kind: str, payload: dict, key: str | None) -> tuple[int, dict]:
        with self._lock, sqlite3.connect(self.path) as db:
            if key is not None:
                row = db.execute("SELECT id FROM records WHERE key = ?", (key,)).fetchone()
                if row is not None:
                    return 200, {"id": row[0], "kind": kind, "replayed": True}
            cursor = db.execute(
                "INSERT INTO records (kind, key, payload, created_at) VALUES (?, ?, ?, ?)",
                (kind, key, json.dumps(payload, sort_keys=True), time.time()),
            )
            return 201, {"id": cursor.lastrowid, "kind": kind, "replayed": False}

    def records(self, kind: str | None = None) -> list[dict]:
        with sqlite3.connect(self.path) as db:
            rows = db.execute(
                "SELECT id, kind, key, payload FROM records WHERE ? IS NULL OR kind = ? ORDER BY id", (kind, kind)
            ).fetchall()
        return [{"id": i, "kind": k, "key": key, **json.loads(p)} for i, k, key, p in rows]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> EffectService:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _service_handler(service: EffectService) -> type:
    class Handler(QuietHandler):
        def do_POST(self) -> None:
            kind = self.path.strip("/")
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if kind not in EFFECT_KINDS:
                return self.send_json(404, {"error": f"unknown kind {kind!r}"})
            try:
                payload = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                return self.send_json(400, {"error": "body is not JSON"})
            self.send_json(*service.create(kind, payload, self.headers.get("Idempotency-Key")))

        def do_GET(self) -> None:
            kind = self.path.strip("/")
            self.send_json(200, service.records(kind if kind in EFFECT_KINDS else None))

    return Handler


class Receipt(BaseModel):
    """What an EffectService answers for a POST; a reply of any other shape is not trusted."""

    model_config = ConfigDict(extra="forbid", strict=True)
    id: int
    kind: str
    replayed: bool


def post_effect(
    url: str,
    kind: str,
    payload: Mapping[str, Any],
    key: str | None = None,
    timeout_s: float = 10.0,
    deadline_s: float | None = None,
) -> dict:
    """POST one side effect to an EffectService (urllib: no client library needed); the key, if
    given, travels as the `Idempotency-Key` header. HTTP errors raise urllib.error.HTTPError; a
    reply that is not a whole receipt (`{"id", "kind", "replayed"}`) raises MalformedOutputError.

    `timeout_s` bounds each socket read, as every HTTP client's timeout does, so a reply that
    trickles in a byte at a time never trips it; `deadline_s` bounds the whole call
    (CallTimeoutError; the request may still land, which is why the key matters).
    """
    if deadline_s is not None:
        return call_with_timeout(post_effect, deadline_s, url, kind, payload, key, timeout_s)
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    request = urllib.request.Request(
        f"{url.rstrip('/')}/{kind}", data=json.dumps(payload).encode(), headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        body = response.read()
    try:
        return Receipt.model_validate_json(body).model_dump()
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise MalformedOutputError(
            f"the {kind} service's reply is not a receipt ({'.'.join(map(str, problem['loc'])) or 'body'}: "
            f"{problem['msg']}); retrying with the same key is safe"
        ) from None


def support_steps(
    ledger: SideEffectLedger, url: str, request: Mapping[str, Any], *, post: Callable = post_effect, retry=None
) -> dict[str, dict]:
    """The example workflow's side effects for one request, each at most once: open a ticket
    and send a notification on the EffectService at `url`, write a CRM note in the ledger.

    >>> support_steps(ledger, service.url, {"request_id": "r-1", "question": "Where is my order?"})  # doctest: +SKIP
    {'open_ticket': {'id': 1, 'kind': 'tickets', 'replayed': False}, ...}

    `post` makes the HTTP call (wrap it with a FaultInjector to test); `retry`, a
    reliability.RetryPolicy, retries each step on its own, so a failed notification never
    re-opens the ticket.
    """

    def step(name: str, run: Callable, *args):
        return run(*args) if retry is None else retry.run([(name, run)], args).value  # attempts named by step

    def remote(kind: str, name: str) -> Callable[[str], dict]:
        return lambda key: post(url, kind, {**request, "step": name}, key=key)

    return {
        "open_ticket": step(
            "open_ticket", ledger.once, idempotency_key(request, "open_ticket"), remote("tickets", "open_ticket")
        ),
        "write_crm_note": step(
            "write_crm_note",
            ledger.record,
            idempotency_key(request, "write_crm_note"),
            "crm_notes",
            {**request, "step": "write_crm_note"},
        ),
        "send_notification": step(
            "send_notification",
            ledger.once,
            idempotency_key(request, "send_notification"),
            remote("notifications", "send_notification"),
        ),
    }

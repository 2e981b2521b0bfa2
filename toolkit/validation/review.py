"""The review queue: where answers the pipeline is not sure of wait for a person.

A validator whose policy is "escalate", or a confidence below the threshold, hands the item
here instead of showing it. The queue is a small protocol (`ReviewQueue`: submit, pending, get,
decide), so a team can put its own ticket system behind it; `SqliteReviewQueue` is the bundled
one, a SQLite file under the toolkit home that several processes can share.

    >>> queue = SqliteReviewQueue(tmp_path / "review" / "queue.sqlite")
    >>> item_id = queue.submit(ReviewItem.new("How long?", "90 days", run_id="run-1",
    ...                                       reasons=["90 is not 30"], priority=0.5))
    >>> queue.submit(ReviewItem.new("How long?", "90 days", run_id="run-1")) == item_id
    True
    >>> queue.decide(item_id, "edited", reviewer="ana", answer="30 days").state
    'edited'
    >>> [case["label"] for case in load_cases(queue.cases_path)]
    ['edited']

States: pending, then approved, edited (the reviewer's answer replaces the draft) or rejected.
The same run submitted twice is one item (the key is the run id when there is one, else the
question, answer, validator and rule), so rerunning a notebook or a batch never floods the queue.
Every decision is kept in a history table and becomes an evaluation case, one JSON line in
`cases.jsonl` beside the queue (the feedback loop: `load_cases`). A second decision on an item
is refused unless forced; a damaged file is moved aside and named, never emptied.
Not here: when to escalate (the pipeline's decision step) or the screen a reviewer works
(toolkit.notebook.review_widget, `python -m toolkit review`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from ..errors import ReviewQueueError
from ..files import write_atomic, write_transaction

__all__ = [
    "ReviewItem",
    "ReviewQueue",
    "SqliteReviewQueue",
    "STATES",
    "DECISIONS",
    "SCHEMA_VERSION",
    "default_queue_path",
    "default_cases_path",
    "load_cases",
    "case_from",
]

STATES = ("pending", "approved", "edited", "rejected")
DECISIONS = STATES[1:]
SCHEMA_VERSION = 1  # PRAGMA user_version; a file with another number is refused, not rewritten
LABELS = {"approved": "correct", "rejected": "incorrect", "edited": "edited"}

_TABLES = """
CREATE TABLE IF NOT EXISTS items (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,           -- submission order
    id TEXT NOT NULL UNIQUE,
    key TEXT NOT NULL UNIQUE,                        -- what makes two submissions one item
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    run_id TEXT NOT NULL DEFAULT '',
    pipeline_version TEXT NOT NULL DEFAULT '',
    context TEXT NOT NULL DEFAULT '[]',              -- JSON: [{"source": ..., "text": ...}]
    signals TEXT NOT NULL DEFAULT '{}',              -- JSON: {name: float}
    reasons TEXT NOT NULL DEFAULT '[]',              -- JSON: [str]
    priority REAL NOT NULL DEFAULT 0,
    validator TEXT NOT NULL DEFAULT '',
    rule TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'edited', 'rejected')),
    final_answer TEXT NOT NULL DEFAULT '',
    reviewer TEXT NOT NULL DEFAULT '',
    decided TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS items_queue ON items (state, priority DESC, seq);
CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id TEXT NOT NULL REFERENCES items (id),
    decision TEXT NOT NULL,
    answer TEXT NOT NULL DEFAULT '',
    reviewer TEXT NOT NULL,
    decided TEXT NOT NULL,
    previous TEXT NOT NULL,                          -- the state it replaced (pending, unless forced)
    forced INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS decisions_item ON decisions (item_id, seq);
"""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


@dataclass
class ReviewItem:
    """One answer held for review: why it was held, what it drew on, and what the reviewer decided."""

    id: str
    question: str
    answer: str
    run_id: str = ""
    pipeline_version: str = ""
    context: list[dict] = field(default_factory=list)  # [{"source": "policies/returns.md", "text": "..."}]
    signals: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    priority: float = 0.0  # higher = reviewed sooner
    validator: str = ""
    rule: str = ""
    created: str = ""
    state: str = "pending"
    final_answer: str = ""  # the answer that stands: the draft if approved, the reviewer's if edited
    reviewer: str = ""
    decided: str = ""

    @property
    def key(self) -> str:
        """What makes two submissions one item: the run id, else question, answer, validator and rule."""
        text = (
            f"run\x1f{self.run_id}"
            if self.run_id
            else "\x1f".join([self.question, self.answer, self.validator, self.rule])
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @property
    def sources(self) -> list[str]:
        return [c.get("source", "") for c in self.context]

    @classmethod
    def new(
        cls,
        question: str,
        answer: str,
        *,
        run_id: str = "",
        pipeline_version: str = "",
        context: list[dict] | None = None,
        signals: dict[str, float] | None = None,
        reasons: list[str] | None = None,
        priority: float = 0.0,
        validator: str = "",
        rule: str = "",
    ) -> ReviewItem:
        """A fresh pending item; its id comes from its key, so it is stable across reruns."""
        for number, passage in enumerate(context or []):
            if not isinstance(passage, dict) or not {"source", "text"} <= set(passage):
                raise ReviewQueueError(f"context[{number}] must be a dict with 'source' and 'text' (got {passage!r})")
        item = cls(
            "",
            question,
            answer,
            run_id=run_id,
            pipeline_version=pipeline_version,
            context=[{"source": str(p["source"]), "text": str(p["text"])} for p in context or []],
            signals={str(k): float(v) for k, v in (signals or {}).items()},
            reasons=[str(r) for r in reasons or []],
            priority=float(priority),
            validator=validator,
            rule=rule,
            created=_now(),
        )
        item.id = f"r-{item.key[:12]}"
        return item


@runtime_checkable
class ReviewQueue(Protocol):
    """What escalation and the review screens need from a review queue."""

    def submit(self, item: ReviewItem) -> str: ...
    def pending(self, limit: int = 50, offset: int = 0) -> list[ReviewItem]: ...
    def count(self, state: str = "pending") -> int: ...
    def get(self, item_id: str) -> ReviewItem: ...
    def decide(
        self, item_id: str, decision: str, *, reviewer: str, answer: str | None = None, force: bool = False
    ) -> ReviewItem: ...


def default_queue_path(settings=None) -> Path:
    """`<toolkit home>/review/queue.sqlite`."""
    from ..config import load_settings

    return (settings or load_settings()).home / "review" / "queue.sqlite"


def default_cases_path(settings=None) -> Path:
    """`<toolkit home>/review/cases.jsonl`: reviewed cases, kept with the state, not the bundled data."""
    return default_queue_path(settings).with_name("cases.jsonl")


def case_from(item: ReviewItem, *, decision_seq: int = 0) -> dict:
    """The evaluation case a decision makes, in the bundled questions' format plus provenance.

    An approved draft is gold ("correct"); an edited answer is gold ("edited"); a rejected draft
    is a known wrong answer ("incorrect"), so its `answer` is empty and `draft_answer` keeps it.
    """
    gold = {"approved": item.answer, "edited": item.final_answer, "rejected": ""}[item.state]
    return {
        "id": item.id,
        "question": item.question,
        "answer": gold,
        "aliases": [],
        "sources": list(dict.fromkeys(item.sources)),
        "answerable": item.state != "rejected" or None,  # a rejection says the draft is wrong, not why
        "label": LABELS[item.state],
        "draft_answer": item.answer,
        "reviewer": item.reviewer,
        "decided": item.decided,
        "decision": decision_seq,
        "run_id": item.run_id,
        "pipeline_version": item.pipeline_version,
        "signals": item.signals,
    }


def load_cases(path: str | Path) -> list[dict]:
    """The reviewed cases in `path`, one per item: a forced re-decision supersedes the earlier one.
    A missing file is no cases; a damaged line is refused with its number."""
    path = Path(path)
    if not path.exists():
        return []
    cases: dict[str, dict] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            case = json.loads(line)
            if not isinstance(case, dict) or not {"id", "question", "label"} <= set(case):
                raise ValueError("not an object with id, question and label")
        except ValueError as exc:
            raise ReviewQueueError(
                f"{path}, line {number}: not a review case ({exc}); rebuild the file with "
                f"SqliteReviewQueue(...).rebuild_cases()"
            ) from exc
        cases.pop(case["id"], None)  # the latest decision goes last, in decision order
        cases[case["id"]] = case
    return list(cases.values())


class SqliteReviewQueue:
    """A review queue in one SQLite file (WAL, a busy timeout), safe for concurrent processes.

    `cases_path` (default: `cases.jsonl` beside the queue) receives one evaluation case per
    decision. Pages are queried one at a time, so a screen over 10,000 items stays fast.
    """

    def __init__(self, path: str | Path, *, cases_path: str | Path | None = None, timeout_s: float = 60.0):
        self.path = Path(path).expanduser()
        if self.path.suffix == ".jsonl":
            raise ReviewQueueError(
                f"{self.path}: review queues are SQLite files now; name it "
                f"{self.path.with_suffix('.sqlite').name} (validation.queue in a pipeline file)"
            )
        self.cases_path = Path(cases_path) if cases_path else self.path.with_name("cases.jsonl")
        self.timeout_s = timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._open()

    # -- the file ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # One connection per operation: nothing stays open across a fork, and no thread sharing.
        db = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        db.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
        return db

    def _open(self) -> None:
        try:
            with self._reading() as db:
                if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                    raise sqlite3.DatabaseError("PRAGMA quick_check failed")
                version = db.execute("PRAGMA user_version").fetchone()[0]
                tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if version == 0 and tables - {"sqlite_sequence"}:
                    raise ReviewQueueError(
                        f"{self.path} is a SQLite file but not a review queue (tables: "
                        f"{', '.join(sorted(tables))}); give the queue a path of its own"
                    )
                if version not in (0, SCHEMA_VERSION):
                    raise ReviewQueueError(
                        f"{self.path} has review-queue schema {version}; this toolkit reads schema "
                        f"{SCHEMA_VERSION}: use a toolkit version that matches, or give a new queue path"
                    )
                db.execute("PRAGMA journal_mode=WAL")  # readers never block the one writer
                db.executescript(f"BEGIN IMMEDIATE; {_TABLES} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
        except sqlite3.DatabaseError as exc:
            aside = self._move_aside()
            raise ReviewQueueError(
                f"review queue {self.path} is damaged ({exc}); it was moved aside to {aside} and nothing "
                f"was deleted: inspect or restore it from there, or go on with a new empty queue"
            ) from exc

    def _move_aside(self) -> Path:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        os.replace(self.path, aside)
        for suffix in ("-wal", "-shm"):  # a WAL that belongs to the damaged file goes with it
            extra = Path(str(self.path) + suffix)
            if extra.exists():
                os.replace(extra, Path(str(aside) + suffix))
        return aside

    def _transaction(self):
        """One write transaction: two reviewers never both see an item pending."""
        return write_transaction(self._connect())

    def _reading(self):
        """A connection for one read, closed afterwards."""
        return closing(self._connect())

    @property
    def where(self) -> str:
        """What another process opens to share this queue."""
        return str(self.path)

    # -- reading ----------------------------------------------------------------------------

    _COLUMNS = [name for name in ReviewItem.__dataclass_fields__]
    _LOCK_ROW = ""  # BEGIN IMMEDIATE already holds the whole file's write lock

    def _item(self, row: tuple) -> ReviewItem:
        data = dict(zip(self._COLUMNS, row, strict=True))
        for name in ("context", "signals", "reasons"):
            data[name] = json.loads(data[name])
        return ReviewItem(**data)

    def _select(self, where: str, params: tuple = (), tail: str = "") -> list[ReviewItem]:
        sql = f"SELECT {', '.join(self._COLUMNS)} FROM items WHERE {where} {tail}"
        with self._reading() as db:
            return [self._item(row) for row in db.execute(sql, params)]

    def __len__(self) -> int:
        with self._reading() as db:
            return db.execute("SELECT COUNT(*) FROM items").fetchone()[0]

    def count(self, state: str = "pending") -> int:
        """Items in `state` ("pending" by default; "all" for every item)."""
        if state == "all":
            return len(self)
        self._check_state(state)
        with self._reading() as db:
            return db.execute("SELECT COUNT(*) FROM items WHERE state = ?", (state,)).fetchone()[0]

    def pending(self, limit: int = 50, offset: int = 0) -> list[ReviewItem]:
        """One page of pending items, highest priority first, then oldest first."""
        return self.page("pending", limit=limit, offset=offset)

    def page(self, state: str = "pending", *, limit: int = 50, offset: int = 0) -> list[ReviewItem]:
        """One page of items in `state` ("all" for every state), in review order."""
        if limit < 0 or offset < 0:
            raise ReviewQueueError(f"limit and offset must be 0 or more (got {limit}, {offset})")
        if state == "all":
            return self._select("TRUE", (limit, offset), "ORDER BY seq LIMIT ? OFFSET ?")
        self._check_state(state)
        return self._select("state = ?", (state, limit, offset), "ORDER BY priority DESC, seq LIMIT ? OFFSET ?")

    def get(self, item_id: str) -> ReviewItem:
        found = self._select("id = ?", (item_id,))
        if not found:
            raise ReviewQueueError(
                f"no review item {item_id!r} in {self.where}; list them with `python -m toolkit review list`"
            )
        return found[0]

    def history(self, item_id: str | None = None) -> list[dict]:
        """Every decision, oldest first (one item's when `item_id` is given)."""
        sql = "SELECT seq, item_id, decision, answer, reviewer, decided, previous, forced FROM decisions"
        names = ["seq", "item_id", "decision", "answer", "reviewer", "decided", "previous", "forced"]
        with self._reading() as db:
            rows = db.execute(
                sql + (" WHERE item_id = ? ORDER BY seq" if item_id else " ORDER BY seq"), (item_id,) if item_id else ()
            )
            return [dict(zip(names, row, strict=True)) | {"forced": bool(row[-1])} for row in rows]

    def frame(self, state: str = "all"):
        """The queue as a DataFrame, one row per item, in submission order (context as a source list)."""
        import pandas as pd

        with self._reading() as db:
            where = "" if state == "all" else "WHERE state = ?"
            if state != "all":
                self._check_state(state)
            rows = db.execute(
                f"SELECT {', '.join(self._COLUMNS)} FROM items {where} ORDER BY seq", () if state == "all" else (state,)
            ).fetchall()
        records = []
        for row in rows:
            record = asdict(self._item(row))
            record["context"] = [c["source"] for c in record["context"]]
            records.append(record)
        return pd.DataFrame(records, columns=self._COLUMNS)

    @staticmethod
    def _check_state(state: str) -> None:
        if state not in STATES:
            raise ReviewQueueError(f"state must be one of {', '.join(STATES)} or 'all' (got {state!r})")

    # -- writing ----------------------------------------------------------------------------

    def submit(self, item: ReviewItem) -> str:
        """Add a pending item; an item with the same key (same run, or same question, answer and
        rule) is not added again, whatever its state, and its id is returned."""
        return self.submit_many([item])[0]

    def submit_many(self, items: list[ReviewItem]) -> list[str]:
        """`submit` for a batch, in one transaction (one disk sync instead of one per item)."""
        names = self._COLUMNS
        rows = []
        for item in items:
            if not item.id:
                raise ReviewQueueError("a review item needs an id: make it with ReviewItem.new(...)")
            values = asdict(item)
            for name in ("context", "signals", "reasons"):
                values[name] = json.dumps(values[name], ensure_ascii=False)
            values.update(state="pending", final_answer="", reviewer="", decided="")
            rows.append((item.key, *(values[n] for n in names)))
        with self._transaction() as db:
            db.executemany(
                f"INSERT INTO items (key, {', '.join(names)}) VALUES (?, {', '.join('?' * len(names))}) "
                f"ON CONFLICT (key) DO NOTHING",
                rows,
            )
            return [db.execute("SELECT id FROM items WHERE key = ?", (row[0],)).fetchone()[0] for row in rows]

    def decide(
        self, item_id: str, decision: str, *, reviewer: str, answer: str | None = None, force: bool = False
    ) -> ReviewItem:
        """Record a decision: "approved" (the draft stands), "edited" (give `answer`) or "rejected".

        The reviewer and the time are kept on the item and in the history; the decision is
        appended to `cases_path` as an evaluation case. A decided item is refused unless `force`.
        """
        if decision not in DECISIONS:
            raise ReviewQueueError(f"decision must be one of {', '.join(DECISIONS)} (got {decision!r})")
        if not reviewer or not reviewer.strip():
            raise ReviewQueueError("a decision needs the reviewer's name: decide(..., reviewer='ana')")
        if decision == "edited" and not (answer or "").strip():
            raise ReviewQueueError("an 'edited' decision needs the corrected answer: decide(..., answer='...')")
        if decision != "edited" and answer is not None:
            raise ReviewQueueError(f"only an 'edited' decision takes an answer (got {decision!r} with one)")
        with self._transaction() as db:
            row = db.execute(
                f"SELECT state, reviewer, decided, answer FROM items WHERE id = ?{self._LOCK_ROW}", (item_id,)
            ).fetchone()
            if row is None:
                raise ReviewQueueError(
                    f"no review item {item_id!r} in {self.where}; list them with `python -m toolkit review list`"
                )
            state, before, when, draft = row
            if state != "pending" and not force:
                raise ReviewQueueError(
                    f"review item {item_id!r} was already {state} by {before} at {when}; "
                    f"pass force=True (--force) to change it; the history keeps both decisions"
                )
            now, final = _now(), (answer.strip() if decision == "edited" else draft if decision == "approved" else "")
            db.execute(
                "UPDATE items SET state = ?, final_answer = ?, reviewer = ?, decided = ? WHERE id = ?",
                (decision, final, reviewer.strip(), now, item_id),
            )
            seq = db.execute(
                "INSERT INTO decisions (item_id, decision, answer, reviewer, decided, previous, forced) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq",
                (item_id, decision, final if decision == "edited" else "", reviewer.strip(), now, state, int(force)),
            ).fetchone()[0]
        item = self.get(item_id)
        try:
            self._append_case(case_from(item, decision_seq=seq))
        except OSError as exc:
            raise ReviewQueueError(
                f"the decision on {item_id} is recorded, but its case could not be written to "
                f"{self.cases_path} ({exc}); free the disk, then run {type(self).__name__}({self.where!r})"
                f".rebuild_cases()"
            ) from exc
        return item

    def _append_case(self, case: dict) -> None:
        # One write() of a whole line on an O_APPEND file, under a lock: writers in other
        # processes never interleave, and a reader never sees half a line.
        from filelock import FileLock

        if self.cases_path is None:  # a queue in a database keeps its cases there (cases())
            return
        line = (json.dumps(case, ensure_ascii=False) + "\n").encode("utf-8")
        self.cases_path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.cases_path) + ".lock", timeout=self.timeout_s):
            fd = os.open(self.cases_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)

    def cases(self) -> list[dict]:
        """The evaluation cases of every decided item, made from the queue itself (one per item)."""
        with self._reading() as db:
            last = dict(db.execute("SELECT item_id, MAX(seq) FROM decisions GROUP BY item_id"))
        decided = self._select("state != 'pending'", (), "ORDER BY decided, seq")
        return [case_from(item, decision_seq=last.get(item.id, 0)) for item in decided]

    def rebuild_cases(self) -> Path:
        """Rewrite `cases_path` atomically from the queue (after a failed append, or to compact it)."""
        from filelock import FileLock

        if self.cases_path is None:
            raise ReviewQueueError("this queue writes no cases file; give it cases_path=... to have one")
        with FileLock(str(self.cases_path) + ".lock", timeout=self.timeout_s):
            text = "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in self.cases())
            return write_atomic(self.cases_path, text)

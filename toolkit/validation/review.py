"""The review queue: where answers that failed a check wait for a person.

A validator whose policy is "escalate" hands the item here instead of showing it. The queue is
a small protocol (`ReviewQueue`: submit, pending, get, resolve), so a team can put its own
ticket system behind it; `JsonlReviewQueue` is the bundled one, one JSON object per item in a
`.jsonl` file under the toolkit home.

    >>> queue = JsonlReviewQueue(tmp_path / "review.jsonl")
    >>> item_id = queue.submit(ReviewItem.new("How long?", "90 days", validator="business_rules",
    ...                                       rule="return_window", reason="90 is not 30"))
    >>> [i.id for i in queue.pending()] == [item_id]
    True
    >>> queue.resolve(item_id, verdict="corrected", answer="30 days", reviewer="ana").status
    'resolved'

Submitting the same question, answer and failed rule again returns the open item's id instead of
adding a duplicate, so rerunning a notebook or a batch does not flood the queue. Every change
rewrites the file atomically (temporary file, then rename) under a lock, so a crash never
leaves half an item. Not here: the review widget and the feedback loop (a later notebook).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from ..errors import ReviewQueueError
from ..files import write_atomic

__all__ = ["ReviewItem", "ReviewQueue", "JsonlReviewQueue", "VERDICTS", "default_queue_path"]

VERDICTS = ("approved", "corrected", "rejected")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class ReviewItem:
    """One answer held for review, with why it was held and (later) what the reviewer decided."""

    id: str
    question: str
    answer: str
    validator: str
    rule: str
    reason: str
    sources: list[str] = field(default_factory=list)  # the retrieved source ids the answer drew on
    created: str = ""
    status: str = "open"  # open | resolved
    verdict: str = ""  # approved | corrected | rejected, once resolved
    corrected_answer: str = ""
    reviewer: str = ""
    resolved: str = ""

    @property
    def key(self) -> str:
        """What makes two submissions the same item: question, answer and the failed rule."""
        text = "\x1f".join([self.question, self.answer, self.validator, self.rule])
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    @classmethod
    def new(
        cls, question: str, answer: str, *, validator: str, rule: str, reason: str, sources: list[str] | None = None
    ) -> ReviewItem:
        """A fresh open item; its id is derived from its key, so it is stable across reruns."""
        item = cls("", question, answer, validator, rule, reason, list(sources or []), created=_now())
        item.id = f"r-{item.key[:10]}"
        return item


@runtime_checkable
class ReviewQueue(Protocol):
    """What `escalate` needs from a review queue."""

    def submit(self, item: ReviewItem) -> str: ...
    def pending(self) -> list[ReviewItem]: ...
    def get(self, item_id: str) -> ReviewItem: ...
    def resolve(self, item_id: str, *, verdict: str, answer: str = "", reviewer: str = "") -> ReviewItem: ...


def default_queue_path(settings=None) -> Path:
    """`<toolkit home>/review/queue.jsonl`."""
    from ..config import load_settings

    return (settings or load_settings()).home / "review" / "queue.jsonl"


class JsonlReviewQueue:
    """A review queue in one JSONL file: one item per line, in submission order."""

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()

    def __len__(self) -> int:
        return len(self._read())

    def _read(self) -> list[ReviewItem]:
        if not self.path.exists():
            return []
        items = []
        names = set(ReviewItem.__dataclass_fields__)
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict) or set(data) - names:
                    raise ValueError(
                        f"unexpected fields {sorted(set(data) - names) if isinstance(data, dict) else data!r}"
                    )
                items.append(ReviewItem(**data))
            except (ValueError, TypeError) as exc:
                raise ReviewQueueError(
                    f"{self.path}, line {number}: not a review item ({exc}); fix or remove that line"
                ) from exc
        return items

    def _write(self, items: list[ReviewItem]) -> None:
        write_atomic(self.path, "".join(json.dumps(asdict(item), ensure_ascii=False) + "\n" for item in items))

    def _lock(self):
        from filelock import FileLock

        self.path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.path) + ".lock", timeout=60)

    def submit(self, item: ReviewItem) -> str:
        """Add an item (or return the id of the open item with the same key)."""
        with self._lock():
            items = self._read()
            for existing in items:
                if existing.status == "open" and existing.key == item.key:
                    return existing.id
            if any(existing.id == item.id for existing in items):  # a resolved twin: a new id
                item.id = f"{item.id}-{len(items)}"
            items.append(item)
            self._write(items)
        return item.id

    def items(self) -> list[ReviewItem]:
        """Every item, open and resolved, in submission order."""
        return self._read()

    def pending(self) -> list[ReviewItem]:
        return [item for item in self._read() if item.status == "open"]

    def get(self, item_id: str) -> ReviewItem:
        for item in self._read():
            if item.id == item_id:
                return item
        raise ReviewQueueError(f"no review item {item_id!r} in {self.path}; list them with .pending()")

    def resolve(self, item_id: str, *, verdict: str, answer: str = "", reviewer: str = "") -> ReviewItem:
        """Close an item: approved (the answer stands), corrected (give `answer`) or rejected."""
        if verdict not in VERDICTS:
            raise ReviewQueueError(f"verdict must be one of {', '.join(VERDICTS)} (got {verdict!r})")
        if verdict == "corrected" and not answer.strip():
            raise ReviewQueueError("a 'corrected' verdict needs the corrected answer: resolve(..., answer='...')")
        with self._lock():
            items = self._read()
            for item in items:
                if item.id == item_id:
                    if item.status == "resolved":
                        raise ReviewQueueError(
                            f"review item {item_id!r} was already resolved ({item.verdict}) "
                            f"by {item.reviewer or 'someone'}"
                        )
                    item.status, item.verdict, item.reviewer, item.resolved = "resolved", verdict, reviewer, _now()
                    item.corrected_answer = answer if verdict == "corrected" else ""
                    self._write(items)
                    return item
        raise ReviewQueueError(f"no review item {item_id!r} in {self.path}; list them with .pending()")

    def frame(self):
        """The queue as a DataFrame, one row per item."""
        import pandas as pd

        return pd.DataFrame([asdict(i) for i in self._read()], columns=list(ReviewItem.__dataclass_fields__))

"""The review queue: submit and deduplicate, decide (states, history, force), refuse unknown ids and
damaged files, page through pending items, stay whole under concurrent writers and reviewers, and
turn every decision into an evaluation case. The tests of the interface run over both engines
(the `where` fixture: a SQLite file, then a real PostgreSQL)."""

from __future__ import annotations

import json
import multiprocessing
import re
import sqlite3
from pathlib import Path

import pytest

from toolkit.errors import ReviewQueueError
from toolkit.validation.review import (
    SCHEMA_VERSION,
    ReviewItem,
    ReviewQueue,
    SqliteReviewQueue,
    default_cases_path,
    default_queue_path,
    load_cases,
)
from toolkit.validation.review_postgres import review_queue

QUESTION = "How long do I have to return an item?"
CONTEXT = [{"source": "policies/returns.md", "text": "You can return an item within 30 days of delivery."}]


def item(answer: str = "You have 90 days.", run_id: str = "", priority: float = 0.5, **kw) -> ReviewItem:
    return ReviewItem.new(
        QUESTION,
        answer,
        run_id=run_id,
        pipeline_version="v-abc",
        context=CONTEXT,
        signals={"top_score": 0.71, "confidence": 0.42},
        reasons=["confidence 0.42 below 0.80"],
        priority=priority,
        validator="confidence",
        rule="threshold",
        **kw,
    )


def open_queue(where: str, folder: Path):
    """The queue at `where`, its cases file in `folder` whatever the engine (a SQLite queue keeps
    it beside its file; a database queue writes one only when told where)."""
    if where.endswith(".sqlite"):
        return review_queue(folder / "review" / "queue.sqlite")
    return review_queue(where, cases_path=folder / "review" / "cases.jsonl")


@pytest.fixture
def queue(where, tmp_path):
    """One queue per engine: a SQLite file, then a real PostgreSQL."""
    return open_queue(where, tmp_path)


def test_submit_get_and_the_fields_round_trip(queue):
    assert isinstance(queue, ReviewQueue)
    assert (queue.count(), len(queue), queue.pending()) == (0, 0, [])
    item_id = queue.submit(item(run_id="run-1"))
    got = queue.get(item_id)
    assert item_id.startswith("r-") and len(item_id) == 14
    assert (got.question, got.answer, got.run_id, got.pipeline_version) == (
        QUESTION,
        "You have 90 days.",
        "run-1",
        "v-abc",
    )
    assert got.context == CONTEXT and got.sources == ["policies/returns.md"]
    assert got.signals == {"top_score": 0.71, "confidence": 0.42}
    assert (got.reasons, got.priority, got.validator, got.rule) == (
        ["confidence 0.42 below 0.80"],
        0.5,
        "confidence",
        "threshold",
    )
    assert (got.state, got.final_answer, got.reviewer, got.decided) == ("pending", "", "", "")
    assert queue.count() == 1 and queue.count("approved") == 0 and queue.count("all") == 1


def test_the_same_run_twice_is_one_item(queue):
    first = queue.submit(item(run_id="run-1"))
    # same run id, even with a different answer: one item
    assert queue.submit(item("Another draft.", run_id="run-1")) == first
    # no run id: question + answer + validator + rule is the key
    second = queue.submit(item())
    assert queue.submit(item()) == second != first
    third = queue.submit(item("You have 60 days."))
    assert len({first, second, third}) == 3 and len(queue) == 3
    # a decided item is still the same item: resubmitting it does not reopen it
    queue.decide(second, "rejected", reviewer="bo")
    assert queue.submit(item()) == second and queue.get(second).state == "rejected" and len(queue) == 3


def test_decisions_states_history_and_force(queue):
    approved = queue.submit(item("a", priority=0.1))
    edited = queue.submit(item("b", priority=0.2))
    rejected = queue.submit(item("c", priority=0.3))

    assert queue.decide(approved, "approved", reviewer="ana").final_answer == "a"
    done = queue.decide(edited, "edited", reviewer=" ana ", answer=" You have 30 days. ")
    assert (done.state, done.final_answer, done.reviewer) == ("edited", "You have 30 days.", "ana")
    assert done.decided.endswith("+00:00")
    assert queue.decide(rejected, "rejected", reviewer="bo").final_answer == ""
    assert [queue.count(s) for s in ("pending", "approved", "edited", "rejected")] == [0, 1, 1, 1]

    with pytest.raises(
        ReviewQueueError, match=rf"review item '{approved}' was already approved by ana at .*force=True"
    ):
        queue.decide(approved, "rejected", reviewer="bo")
    assert queue.get(approved).state == "approved"  # the refused decision changed nothing
    forced = queue.decide(approved, "rejected", reviewer="bo", force=True)
    assert (forced.state, forced.reviewer, forced.final_answer) == ("rejected", "bo", "")

    history = queue.history(approved)
    assert [(h["decision"], h["reviewer"], h["previous"], h["forced"]) for h in history] == [
        ("approved", "ana", "pending", False),
        ("rejected", "bo", "approved", True),
    ]
    assert [h["item_id"] for h in queue.history()] == [approved, edited, rejected, approved]
    assert queue.history()[1]["answer"] == "You have 30 days."


def test_bad_decisions_are_refused_with_what_to_do(queue):
    item_id = queue.submit(item())
    with pytest.raises(ReviewQueueError, match=rf"no review item 'r-nope' in {re.escape(queue.where)}; list them"):
        queue.decide("r-nope", "approved", reviewer="ana")
    with pytest.raises(ReviewQueueError, match=r"no review item 'r-nope'"):
        queue.get("r-nope")
    with pytest.raises(ReviewQueueError, match=r"decision must be one of approved, edited, rejected \(got 'ok'\)"):
        queue.decide(item_id, "ok", reviewer="ana")
    with pytest.raises(ReviewQueueError, match=r"'edited' decision needs the corrected answer"):
        queue.decide(item_id, "edited", reviewer="ana", answer="  ")
    with pytest.raises(ReviewQueueError, match=r"needs the reviewer's name"):
        queue.decide(item_id, "approved", reviewer=" ")
    with pytest.raises(ReviewQueueError, match=r"only an 'edited' decision takes an answer"):
        queue.decide(item_id, "approved", reviewer="ana", answer="x")
    with pytest.raises(ReviewQueueError, match=r"state must be one of pending, approved, edited, rejected or 'all'"):
        queue.count("open")
    with pytest.raises(ReviewQueueError, match=r"context\[0\] must be a dict with 'source' and 'text'"):
        ReviewItem.new("q", "a", context=[("policies/returns.md", "text")])
    assert queue.get(item_id).state == "pending" and queue.history() == []


def test_submit_many_is_submit_for_a_batch(queue):
    first = queue.submit(item("a", run_id="run-a"))
    ids = queue.submit_many([item("b", run_id="run-b"), item("a again", run_id="run-a"), item("b", run_id="run-b")])
    assert ids[1] == first and ids[0] == ids[2] != first
    assert len(queue) == 2 and [i.answer for i in queue.page("all")] == ["a", "b"]


def test_pages_are_in_priority_then_submission_order(queue):
    ids = [queue.submit(item(f"draft {n}", priority=p)) for n, p in enumerate([0.2, 0.9, 0.2, 0.5, 0.9])]
    order = [ids[1], ids[4], ids[3], ids[0], ids[2]]
    assert [i.id for i in queue.pending(limit=2)] == order[:2]
    assert [i.id for i in queue.pending(limit=2, offset=2)] == order[2:4]
    assert [i.id for i in queue.pending(limit=2, offset=4)] == order[4:]
    assert queue.pending(limit=2, offset=6) == []
    queue.decide(ids[1], "approved", reviewer="ana")
    assert [i.id for i in queue.pending(limit=10)] == order[1:]
    assert [i.id for i in queue.page("approved")] == [ids[1]]
    assert [i.id for i in queue.page("all", limit=3)] == ids[:3]  # every state, in submission order
    frame = queue.frame()
    assert list(frame.id) == ids and list(frame.state) == ["pending", "approved", "pending", "pending", "pending"]
    assert frame.context[0] == ["policies/returns.md"] and list(queue.frame("approved").id) == [ids[1]]


def test_every_decision_becomes_an_evaluation_case(queue, tmp_path):
    assert queue.cases_path == tmp_path / "review" / "cases.jsonl"
    assert load_cases(queue.cases_path) == []
    a = queue.submit(item("You have 30 days.", run_id="run-a"))
    e = queue.submit(item("You have 90 days.", run_id="run-e"))
    r = queue.submit(item("Ninety days.", run_id="run-r"))
    queue.decide(a, "approved", reviewer="ana")
    queue.decide(e, "edited", reviewer="ana", answer="30 days")
    decided = queue.decide(r, "rejected", reviewer="bo")

    lines = queue.cases_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and all(json.loads(line) for line in lines)
    cases = load_cases(queue.cases_path)
    assert [(c["id"], c["label"], c["answer"], c["draft_answer"], c["answerable"]) for c in cases] == [
        (a, "correct", "You have 30 days.", "You have 30 days.", True),
        (e, "edited", "30 days", "You have 90 days.", True),
        (r, "incorrect", "", "Ninety days.", None),
    ]
    last = cases[2]
    assert (last["question"], last["aliases"], last["sources"], last["reviewer"]) == (
        QUESTION,
        [],
        ["policies/returns.md"],
        "bo",
    )
    assert (last["run_id"], last["pipeline_version"], last["decided"]) == ("run-r", "v-abc", decided.decided)
    assert last["signals"] == {"top_score": 0.71, "confidence": 0.42} and last["decision"] == 3

    # a forced re-decision appends a line; load_cases keeps the latest per item
    queue.decide(r, "edited", reviewer="cy", answer="30 days", force=True)
    assert len(queue.cases_path.read_text(encoding="utf-8").splitlines()) == 4
    assert [(c["id"], c["label"], c["reviewer"]) for c in load_cases(queue.cases_path)] == [
        (a, "correct", "ana"),
        (e, "edited", "ana"),
        (r, "edited", "cy"),
    ]
    # the file can be rebuilt from the queue itself, one line per item
    queue.cases_path.write_text("", encoding="utf-8")
    queue.rebuild_cases()
    assert [(c["id"], c["label"], c["decision"]) for c in load_cases(queue.cases_path)] == [
        (a, "correct", 1),
        (e, "edited", 2),
        (r, "edited", 4),
    ]


def test_a_damaged_cases_line_is_refused_with_its_number(tmp_path):
    path = tmp_path / "cases.jsonl"
    path.write_text('{"id": "r-1", "question": "q", "label": "correct"}\n{"id": "r-2", "quest\n', encoding="utf-8")
    with pytest.raises(ReviewQueueError, match=r"cases.jsonl, line 2: not a review case .*rebuild_cases"):
        load_cases(path)


def test_a_corrupt_queue_file_is_moved_aside_never_emptied(tmp_path):
    path = tmp_path / "queue.sqlite"
    path.write_bytes(b"this is not a database, but someone's work\n" * 100)
    with pytest.raises(
        ReviewQueueError, match=r"is damaged \(.*\); it was moved aside to .*queue\.sqlite\.corrupt-"
    ) as info:
        SqliteReviewQueue(path)
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("queue.sqlite.corrupt-")]
    assert len(aside) == 1 and str(aside[0]) in str(info.value)
    assert aside[0].read_bytes() == b"this is not a database, but someone's work\n" * 100
    assert not path.exists()
    assert SqliteReviewQueue(path).count() == 0  # a new empty queue from here on


def test_a_queue_whose_pages_are_damaged_fails_the_quick_check(tmp_path):
    path = tmp_path / "queue.sqlite"
    queue = SqliteReviewQueue(path)
    queue.submit_many([item(f"draft {n} " + "x" * 200) for n in range(300)])
    with sqlite3.connect(path) as db:  # fold the WAL into the file, then damage a page in the middle
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    page = 4096
    data[3 * page : 5 * page] = b"\xff" * (2 * page)
    path.write_bytes(bytes(data))
    with pytest.raises(ReviewQueueError, match=r"moved aside to"):
        SqliteReviewQueue(path)
    assert not path.exists()


def test_schema_version_and_foreign_files(tmp_path):
    path = tmp_path / "queue.sqlite"
    SqliteReviewQueue(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 1
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.execute("PRAGMA user_version = 7")
    with pytest.raises(ReviewQueueError, match=r"has review-queue schema 7; this toolkit reads schema 1"):
        SqliteReviewQueue(path)
    assert path.exists()  # refused, not moved: the file is fine, the toolkit is the wrong one

    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE prices (sku TEXT)")
    with pytest.raises(ReviewQueueError, match=r"is a SQLite file but not a review queue \(tables: prices\)"):
        SqliteReviewQueue(other)
    assert other.exists()

    with pytest.raises(ReviewQueueError, match=r"review queues are SQLite files now; name it queue.sqlite"):
        SqliteReviewQueue(tmp_path / "queue.jsonl")


def _writer(where: str, folder: Path, worker: int, count: int) -> None:
    queue = open_queue(where, folder)
    for n in range(count):
        queue.submit(item(f"worker {worker} draft {n}", run_id=f"run-{worker}-{n}"))
        queue.submit(item(f"worker {worker} draft {n}", run_id=f"run-{worker}-{n}"))  # a retry: no duplicate


def _reviewer(where: str, folder: Path, name: str, ids: list[str], results) -> None:
    queue = open_queue(where, folder)
    won = []
    for item_id in ids:
        try:
            queue.decide(item_id, "approved", reviewer=name)
            won.append(item_id)
        except ReviewQueueError:
            pass  # the other reviewer was first
    results.put((name, won))


def test_concurrent_writers_and_reviewers_lose_and_duplicate_nothing(where, tmp_path):
    open_queue(where, tmp_path)
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_writer, args=(where, tmp_path, w, 50)) for w in range(4)]
    for p in writers:
        p.start()
    for p in writers:
        p.join(120)
    assert [p.exitcode for p in writers] == [0, 0, 0, 0]
    queue = open_queue(where, tmp_path)
    assert queue.count() == len(queue) == 200
    assert {i.run_id for i in queue.pending(limit=500)} == {f"run-{w}-{n}" for w in range(4) for n in range(50)}

    ids = [i.id for i in queue.pending(limit=500)][:60]
    results = context.Queue()
    reviewers = [
        context.Process(target=_reviewer, args=(where, tmp_path, name, ids, results)) for name in ("ana", "bo")
    ]
    for p in reviewers:
        p.start()
    won = dict(results.get(timeout=120) for _ in reviewers)
    for p in reviewers:
        p.join(60)
    assert sorted(won["ana"] + won["bo"]) == sorted(ids)  # each decided exactly once
    assert len(queue.history()) == 60 and queue.count("approved") == 60
    assert len(load_cases(queue.cases_path)) == 60
    assert len(queue.cases_path.read_text(encoding="utf-8").splitlines()) == 60


def test_default_paths_are_under_the_toolkit_home(toolkit_home):
    assert default_queue_path() == toolkit_home / "review" / "queue.sqlite"
    assert default_cases_path() == toolkit_home / "review" / "cases.jsonl"

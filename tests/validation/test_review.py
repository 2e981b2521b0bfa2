"""The JSONL review queue: submit, deduplicate, resolve, and refuse damaged files and bad verdicts."""

from __future__ import annotations

import json

import pytest

from toolkit.errors import ReviewQueueError
from toolkit.validation.review import JsonlReviewQueue, ReviewItem, ReviewQueue, default_queue_path


def item(answer: str = "You have 90 days.", rule: str = "return_window") -> ReviewItem:
    return ReviewItem.new(
        "How long do I have to return an item?",
        answer,
        validator="business_rules",
        rule=rule,
        reason="says 90, but items may be returned within 30 days",
        sources=["policies/returns.md"],
    )


def test_submit_pending_get_and_resolve(tmp_path):
    queue = JsonlReviewQueue(tmp_path / "review" / "queue.jsonl")
    assert isinstance(queue, ReviewQueue)
    assert queue.pending() == [] and len(queue) == 0

    first = queue.submit(item())
    second = queue.submit(item("You have 60 days."))
    assert first == item().id and first.startswith("r-") and len(first) == 12
    assert [i.id for i in queue.pending()] == [first, second]
    got = queue.get(first)
    assert (got.answer, got.rule, got.sources, got.status) == (
        "You have 90 days.",
        "return_window",
        ["policies/returns.md"],
        "open",
    )

    done = queue.resolve(first, verdict="corrected", answer="You have 30 days.", reviewer="ana")
    assert (done.status, done.verdict, done.corrected_answer, done.reviewer) == (
        "resolved",
        "corrected",
        "You have 30 days.",
        "ana",
    )
    assert done.resolved != ""
    assert [i.id for i in queue.pending()] == [second]
    # the file holds exactly the two items, one JSON object per line, the resolution persisted
    lines = (tmp_path / "review" / "queue.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["status"] for line in lines] == ["resolved", "open"]
    assert JsonlReviewQueue(tmp_path / "review" / "queue.jsonl").get(first).verdict == "corrected"
    assert list(queue.frame().columns)[:3] == ["id", "question", "answer"] and len(queue.frame()) == 2


def test_the_same_item_twice_is_not_a_duplicate(tmp_path):
    queue = JsonlReviewQueue(tmp_path / "q.jsonl")
    first = queue.submit(item())
    assert queue.submit(item()) == first
    assert len(queue) == 1
    # once resolved, the same failure again is a new item with a new id
    queue.resolve(first, verdict="rejected")
    again = queue.submit(item())
    assert again == f"{first}-1"
    assert [i.id for i in queue.pending()] == [again]


def test_bad_verdicts_and_unknown_ids_are_refused(tmp_path):
    queue = JsonlReviewQueue(tmp_path / "q.jsonl")
    item_id = queue.submit(item())
    with pytest.raises(ReviewQueueError, match=r"verdict must be one of approved, corrected, rejected \(got 'ok'\)"):
        queue.resolve(item_id, verdict="ok")
    with pytest.raises(ReviewQueueError, match="a 'corrected' verdict needs the corrected answer"):
        queue.resolve(item_id, verdict="corrected")
    with pytest.raises(ReviewQueueError, match="no review item 'r-nope'"):
        queue.get("r-nope")
    queue.resolve(item_id, verdict="approved", reviewer="bo")
    with pytest.raises(ReviewQueueError, match=r"already resolved \(approved\) by bo"):
        queue.resolve(item_id, verdict="rejected")


def test_a_damaged_file_is_reported_by_line_and_left_alone(tmp_path):
    path = tmp_path / "q.jsonl"
    queue = JsonlReviewQueue(path)
    queue.submit(item())
    good = path.read_text(encoding="utf-8")
    path.write_text(good + '{"id": "r-x", "question": "cut off', encoding="utf-8")
    with pytest.raises(ReviewQueueError, match=r"q.jsonl, line 2: not a review item"):
        queue.pending()
    with pytest.raises(ReviewQueueError, match="line 2"):
        queue.submit(item("other"))
    assert path.read_text(encoding="utf-8") == good + '{"id": "r-x", "question": "cut off'  # nothing lost
    path.write_text(good + '{"id": "r-y", "colour": "red"}\n', encoding="utf-8")
    with pytest.raises(ReviewQueueError, match=r"line 2: not a review item \(unexpected fields \['colour'\]\)"):
        queue.pending()


def test_no_temporary_files_are_left_behind(tmp_path):
    queue = JsonlReviewQueue(tmp_path / "q.jsonl")
    for n in range(3):
        queue.submit(item(f"answer {n}"))
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["q.jsonl"]


def test_default_queue_path_is_under_the_toolkit_home(toolkit_home):
    assert default_queue_path() == toolkit_home / "review" / "queue.jsonl"

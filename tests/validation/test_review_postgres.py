"""What only the PostgreSQL review queue has: the choice by location, and cases kept in the
database when no cases file is given.

tests/validation/test_review.py runs the whole queue suite over it too; tests/storage/test_postgres.py
checks that a newer schema is refused, for every store."""

from __future__ import annotations

import pytest

from toolkit.errors import ReviewQueueError
from toolkit.validation.review import ReviewItem, SqliteReviewQueue
from toolkit.validation.review_postgres import PostgresReviewQueue, review_queue


def test_the_location_picks_the_queue(tmp_path, postgres_url):
    assert type(review_queue(tmp_path / "queue.sqlite")) is SqliteReviewQueue
    shared = review_queue(postgres_url)
    assert type(shared) is PostgresReviewQueue and shared.where == postgres_url
    item_id = shared.submit(ReviewItem.new("How long?", "90 days", run_id="run-1"))
    assert review_queue(postgres_url).get(item_id).answer == "90 days"  # another handle, same rows


def test_without_a_cases_file_the_cases_stay_in_the_database(postgres_url):
    queue = review_queue(postgres_url)
    item_id = queue.submit(ReviewItem.new("How long?", "90 days", run_id="run-1"))
    queue.decide(item_id, "edited", reviewer="ana", answer="30 days")
    assert [(c["id"], c["label"], c["answer"]) for c in queue.cases()] == [(item_id, "edited", "30 days")]
    with pytest.raises(ReviewQueueError, match="writes no cases file; give it cases_path="):
        queue.rebuild_cases()

"""The feedback buttons store a vote and a comment on the run, and show a refusal instead of raising."""

import pytest

from toolkit.notebook import FeedbackWidget
from toolkit.steps import RunRecord
from toolkit.tracking import RunStore


@pytest.fixture
def store(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    store.record(RunRecord("r1", "2026-12-02T00:00:00+00:00", "How long?", answer="30 days."))
    return store


def test_a_vote_and_its_comment_land_on_the_run(store):
    widget = FeedbackWidget(store, "r1")
    widget.comment.value = "  too short  "
    assert widget.down() == 1
    widget.up_button.click()
    rows = store.outcomes("feedback")[["run_id", "value", "comment"]].values.tolist()
    assert rows == [["r1", "down", "too short"], ["r1", "up", ""]]
    assert widget.status.value == "Thanks: stored as feedback #2 (2 on this answer)."
    assert widget.comment.value == ""


def test_an_unknown_run_or_a_long_comment_is_shown_not_raised(store):
    assert FeedbackWidget(store, "nope").up() is None
    widget = FeedbackWidget(store, "r1")
    widget.comment.value = "x" * 2001
    assert widget.up() is None and "at most 2,000 characters" in widget.status.value
    assert len(store.outcomes("feedback")) == 0

"""The review widget driven without a browser: its buttons, its command box and its pages act on a
real queue; the supporting sentences are marked by a small pure function."""

from __future__ import annotations

import pytest

from toolkit.notebook.review_widget import ReviewWidget, mark_support
from toolkit.validation.review import ReviewItem, SqliteReviewQueue, load_cases

RETURNS = (
    "You can return an item within 30 days of delivery. Refunds go to the original payment method. "
    "Opened thermostats have no restocking fee."
)


def seed(queue: SqliteReviewQueue, count: int) -> list[str]:
    """`count` items; item n has priority (count - n) / count, so they come out in submission order."""
    with_context = [{"source": "policies/returns.md", "text": RETURNS}]
    return queue.submit_many(
        [
            ReviewItem.new(
                f"Question {n}?",
                f"You have {n} days to return it.",
                run_id=f"run-{n}",
                context=with_context,
                signals={"confidence": 0.25},
                reasons=[f"reason <{n}>"],
                priority=(count - n) / count,
            )
            for n in range(count)
        ]
    )


@pytest.fixture
def queue(tmp_path):
    return SqliteReviewQueue(tmp_path / "queue.sqlite")


def test_mark_support_marks_the_sentences_sharing_the_answers_content_words():
    assert mark_support(RETURNS, "You have 30 days to return it.") == (
        "<mark>You can return an item within 30 days of delivery.</mark> Refunds go to the original payment "
        "method. Opened thermostats have no restocking fee."
    )
    # half of {thermostat, restock, fee} is 2 terms: "fee" alone is not enough
    assert mark_support("A fee applies. No restocking fee for thermostats.", "No restocking fee on a thermostat.") == (
        "A fee applies. <mark>No restocking fee for thermostats.</mark>"
    )
    assert mark_support(RETURNS, "I don't know.") == RETURNS  # no content words: no marks
    assert (
        mark_support("<script>x()</script> 30 days.", "30 days")
        == "<mark>&lt;script&gt;x()&lt;/script&gt; 30 days.</mark>"
    )
    assert mark_support("", "30 days") == ""


def test_it_shows_the_first_item_with_reasons_signals_and_marked_context(queue):
    ids = seed(queue, 3)
    widget = ReviewWidget(queue, page_size=2)
    assert widget.current.id == ids[0] and [i.id for i in widget.items] == ids[:2]
    assert widget.position.value.startswith("<b>Item 1 of 3 pending</b>")
    assert "<b>Question:</b> Question 0?" in widget.question.value
    assert "<b>Draft answer:</b> You have 0 days to return it." in widget.question.value
    assert "<li>reason &lt;0&gt;</li>" in widget.why.value and "confidence = 0.25 · priority 1.00" in widget.why.value
    assert "<mark>You can return an item within 30 days of delivery.</mark>" in widget.context.value
    assert widget.answer_box.value == "You have 0 days to return it."
    assert (widget.previous_button.disabled, widget.next_button.disabled) == (True, False)


def test_buttons_decide_and_the_next_item_slides_in(queue):
    ids = seed(queue, 4)
    widget = ReviewWidget(queue, page_size=2)
    widget.approve_button.click()  # no reviewer yet: refused, nothing changes
    assert "Type your name in the Reviewer box first" in widget.status.value
    assert queue.count() == 4 and queue.history() == []

    widget.reviewer.value = "ana"
    assert "Reviewing as ana." in widget.status.value
    widget.approve_button.click()
    assert queue.get(ids[0]).state == "approved" and queue.get(ids[0]).reviewer == "ana"
    assert widget.current.id == ids[1] and widget.position.value.startswith("<b>Item 1 of 3 pending</b>")
    assert f"{ids[0]}: approved by ana." in widget.status.value

    widget.edit_button.click()  # the box still holds the draft: refused
    assert "The answer is unchanged" in widget.status.value and queue.get(ids[1]).state == "pending"
    widget.answer_box.value = "You have 30 days."
    widget.edit_button.click()
    assert (queue.get(ids[1]).state, queue.get(ids[1]).final_answer) == ("edited", "You have 30 days.")

    widget.reject_button.click()
    assert queue.get(ids[2]).state == "rejected" and widget.current.id == ids[3]
    widget.reject_button.click()
    assert widget.current is None and widget.position.value == "<b>Nothing is waiting for review.</b>"
    assert all(b.disabled for b in (widget.approve_button, widget.edit_button, widget.reject_button))
    assert [(c["id"], c["label"], c["reviewer"]) for c in load_cases(queue.cases_path)] == [
        (ids[0], "correct", "ana"),
        (ids[1], "edited", "ana"),
        (ids[2], "incorrect", "ana"),
        (ids[3], "incorrect", "ana"),
    ]


def test_the_command_box_is_the_keyboard(queue):
    ids = seed(queue, 5)
    widget = ReviewWidget(queue, page_size=2, reviewer="bo")
    for key in ["n", "n", "n"]:  # across a page boundary
        widget.command_box.value = key
        assert widget.command_box.value == ""  # cleared, ready for the next key
    assert widget.current.id == ids[3] and widget.offset == 2
    widget.command_box.value = "p"
    assert widget.current.id == ids[2]
    widget.command_box.value = "a"
    assert queue.get(ids[2]).state == "approved" and widget.current.id == ids[3]
    widget.answer_box.value = "Thirty days."
    widget.command_box.value = "e"
    assert queue.get(ids[3]).final_answer == "Thirty days."
    widget.command_box.value = "R"
    assert queue.get(ids[4]).state == "rejected"
    widget.command_box.value = "x"
    assert "Unknown command 'x'" in widget.status.value
    assert [queue.get(i).state for i in ids] == ["pending", "pending", "approved", "edited", "rejected"]


def test_a_decision_made_elsewhere_is_shown_not_overwritten(queue):
    ids = seed(queue, 2)
    widget = ReviewWidget(queue, reviewer="ana")
    queue.decide(ids[0], "rejected", reviewer="bo")  # another reviewer, a moment earlier
    assert widget.approve() is False
    assert "already rejected by bo" in widget.status.value
    assert queue.get(ids[0]).state == "rejected" and widget.current.id == ids[1]


class CountingQueue(SqliteReviewQueue):
    """The real queue, recording how many items each read returned."""

    reads: list[int]

    def pending(self, limit=50, offset=0):
        page = super().pending(limit, offset)
        self.reads.append(len(page))
        return page


def test_a_thousand_items_are_read_one_page_at_a_time(tmp_path):
    queue = CountingQueue(tmp_path / "queue.sqlite")
    queue.reads = []
    seed(queue, 1000)
    widget = ReviewWidget(queue, page_size=10, reviewer="ana")
    for _ in range(12):
        widget.next()
    widget.approve()
    assert widget.position.value.startswith("<b>Item 13 of 999 pending</b>")
    assert queue.reads == [10, 10, 10] and max(queue.reads) == 10  # open, next page, refresh after approving

"""Thumbs up or down, with an optional comment, on an answer a notebook just got: the same
`RunStore.add_feedback` that the server's `POST /feedback` calls.

    >>> answer = pipeline.ask("How long is the warranty?")     # doctest: +SKIP
    >>> FeedbackWidget(pipeline.store, answer.record.run_id)    # doctest: +SKIP

Plain ipywidgets (two buttons, a text box, a status line), so it renders in every front end that
renders them. Each button is also a method (`up`, `down`), so a test drives it without a browser.
A second vote on the same answer is stored too (the store keeps every piece of feedback; the
metrics count each), and the status line says how many this answer has.
"""

from __future__ import annotations

import html

from ..errors import ToolkitError

__all__ = ["FeedbackWidget"]


class FeedbackWidget:
    """Feedback buttons for one stored run; `widget` is the ipywidgets box (shown by display)."""

    def __init__(self, store, run_id: str):
        import ipywidgets as w

        self.store, self.run_id = store, run_id
        self.up_button = w.Button(description="👍 Helpful", button_style="success")
        self.down_button = w.Button(description="👎 Not helpful", button_style="danger")
        self.comment = w.Text(description="Comment", placeholder="optional: what was wrong or missing")
        self.status = w.HTML()
        self.up_button.on_click(lambda _: self.up())
        self.down_button.on_click(lambda _: self.down())
        self.widget = w.VBox([w.HBox([self.up_button, self.down_button]), self.comment, self.status])
        self.widget.add_class("toolkit-feedback")

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def up(self) -> int | None:
        return self._send(True)

    def down(self) -> int | None:
        return self._send(False)

    def _send(self, up: bool) -> int | None:
        """Store the vote and the comment; a refusal (unknown run, a comment too long) is shown, not raised."""
        try:
            feedback_id = self.store.add_feedback(self.run_id, up=up, comment=self.comment.value.strip())
        except ToolkitError as exc:
            self.status.value = f"<span style='color:#b00'>Not stored: {html.escape(str(exc))}</span>"
            return None
        mine = self.store.outcomes("feedback")
        count = int((mine.run_id == self.run_id).sum()) if len(mine) else 0
        self.comment.value = ""
        self.status.value = f"Thanks: stored as feedback #{feedback_id} ({count} on this answer)."
        return feedback_id

"""A review screen for the queue in a notebook: page through pending items, approve, edit or reject.

    >>> ReviewWidget(queue)          # doctest: +SKIP

It shows one item at a time: the question, the draft answer, why it was held (reasons and
signals), and the context with the sentences that support the answer marked. Buttons approve,
edit (the text box) or reject it, under the name typed in the reviewer field. The keyboard works
through the command box: type `a` (approve), `e` (save the edit), `r` (reject), `n` (next) or
`p` (previous) and press Enter. ipywidgets has no key bindings of its own, and a text box keeps
to plain ipywidgets, so it works in every front end that renders them (JupyterLab, Notebook,
VS Code) with no extra extension to install; `ipyevents` would need its own front-end extension.

Only one page of items is read at a time (`queue.pending(limit, offset)` and a count), so it
stays quick on a queue of thousands. Every action is also a method (`approve`, `edit`, `reject`,
`next`, `previous`, `command`), so a test drives it without a browser.
Not here: the queue itself (toolkit.validation.review) or the command line (`python -m toolkit review`).
"""

from __future__ import annotations

import html
import math

from ..errors import ReviewQueueError
from ..validation.checks import content_terms, split_sentences

__all__ = ["ReviewWidget", "mark_support"]


def mark_support(text: str, answer: str, *, share: float = 0.5) -> str:
    """`text` as HTML with each sentence that holds at least `share` of the answer's content
    terms (stemmed words, numbers) wrapped in `<mark>`; everything is escaped.

    >>> mark_support("Returns take 30 days. Shipping is free.", "You have 30 days to return it.")
    '<mark>Returns take 30 days.</mark> Shipping is free.'
    >>> mark_support("A <b> tag.", "I don't know.")
    'A &lt;b&gt; tag.'
    """
    wanted = frozenset().union(*content_terms(answer))
    need = max(1, math.ceil(share * len(wanted)))
    parts = []
    for sentence in split_sentences(text):
        shown = html.escape(sentence)
        parts.append(
            f"<mark>{shown}</mark>"
            if wanted and len(wanted & frozenset().union(*content_terms(sentence))) >= need
            else shown
        )
    return " ".join(parts)


class ReviewWidget:
    """The review screen over a `ReviewQueue`; `widget` is the ipywidgets box (shown by display)."""

    def __init__(self, queue, *, page_size: int = 10, reviewer: str = ""):
        import ipywidgets as w

        self.queue, self.page_size = queue, page_size
        self.offset, self.index, self.items, self.total = 0, 0, [], 0
        self.position = w.HTML()
        self.question = w.HTML()
        self.why = w.HTML()
        self.context = w.HTML(layout=w.Layout(max_height="18em", overflow="auto"))
        self.answer_box = w.Textarea(description="Answer", layout=w.Layout(width="auto", height="5em"))
        self.reviewer = w.Text(value=reviewer, description="Reviewer", placeholder="your name")
        self.approve_button = w.Button(description="Approve", button_style="success", tooltip="the draft stands (a)")
        self.edit_button = w.Button(
            description="Save edit", button_style="info", tooltip="the text box replaces it (e)"
        )
        self.reject_button = w.Button(description="Reject", button_style="danger", tooltip="the draft is wrong (r)")
        self.previous_button = w.Button(description="◀ Previous", tooltip="(p)")
        self.next_button = w.Button(description="Next ▶", tooltip="(n)")
        # continuous_update=False: the value arrives on Enter (or leaving the box), one command at a time.
        self.command_box = w.Text(
            description="Keys", placeholder="a / e / r / n / p, then Enter", continuous_update=False
        )
        self.status = w.HTML()
        self.approve_button.on_click(lambda _: self.approve())
        self.edit_button.on_click(lambda _: self.edit())
        self.reject_button.on_click(lambda _: self.reject())
        self.previous_button.on_click(lambda _: self.previous())
        self.next_button.on_click(lambda _: self.next())
        self.command_box.observe(self._on_command, names="value")
        self.reviewer.observe(self._on_reviewer, names="value")
        buttons = w.HBox(
            [self.approve_button, self.edit_button, self.reject_button, self.previous_button, self.next_button]
        )
        self.widget = w.VBox(
            [
                self.position,
                self.question,
                self.why,
                self.context,
                self.answer_box,
                self.reviewer,
                buttons,
                self.command_box,
                self.status,
            ]
        )
        self.widget.add_class("toolkit-review")
        self.refresh()

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    # -- reading ----------------------------------------------------------------------------

    @property
    def current(self):
        """The item on screen, or None when nothing is pending."""
        return self.items[self.index] if self.items else None

    def refresh(self) -> None:
        """Read the current page again (other reviewers may have decided items) and redraw."""
        self.total = self.queue.count()
        if self.offset >= self.total:  # the page emptied under us: step back to the last one
            self.offset = max(0, (self.total - 1) // self.page_size * self.page_size)
        self.items = self.queue.pending(limit=self.page_size, offset=self.offset)
        self.index = min(self.index, max(0, len(self.items) - 1))
        self._draw()

    def _draw(self) -> None:
        item = self.current
        for button in (self.approve_button, self.edit_button, self.reject_button):
            button.disabled = item is None
        self.previous_button.disabled = self.offset + self.index == 0
        self.next_button.disabled = item is None or self.offset + self.index + 1 >= self.total
        if item is None:
            self.position.value = "<b>Nothing is waiting for review.</b>"
            self.question.value = self.why.value = self.context.value = ""
            self.answer_box.value = ""
            return
        e = html.escape
        self.position.value = (
            f"<b>Item {self.offset + self.index + 1} of {self.total} pending</b> · <code>{e(item.id)}</code>"
        )
        self.question.value = f"<p><b>Question:</b> {e(item.question)}</p><p><b>Draft answer:</b> {e(item.answer)}</p>"
        reasons = "".join(f"<li>{e(r)}</li>" for r in item.reasons)
        signals = ", ".join(f"{e(k)} = {v:.3g}" for k, v in item.signals.items())
        self.why.value = (f"<p><b>Held because:</b></p><ul>{reasons}</ul>" if reasons else "") + (
            f"<p><b>Signals:</b> {signals} · priority {item.priority:.2f}</p>" if signals else ""
        )
        passages = "".join(
            f"<p><b>[{n}] {e(p['source'])}</b><br>{mark_support(p['text'], item.answer)}</p>"
            for n, p in enumerate(item.context, 1)
        )
        self.context.value = f"<div class='toolkit-review-context'>{passages or '<i>no context</i>'}</div>"
        self.answer_box.value = item.answer

    # -- acting -----------------------------------------------------------------------------

    def _say(self, message: str, error: bool = False) -> None:
        colour = "#b00020" if error else "#1b5e20"
        self.status.value = f"<span style='color:{colour}'>{html.escape(message, quote=False)}</span>"

    def _decide(self, decision: str, answer: str | None = None) -> bool:
        item = self.current
        if item is None:
            self._say("Nothing to decide: the queue has no pending items.", error=True)
            return False
        if not self.reviewer.value.strip():
            self._say("Type your name in the Reviewer box first: every decision records who made it.", error=True)
            return False
        try:
            self.queue.decide(item.id, decision, reviewer=self.reviewer.value, answer=answer)
        except ReviewQueueError as exc:  # e.g. someone else decided it a moment ago
            self._say(str(exc), error=True)
            self.refresh()
            return False
        self._say(f"{item.id}: {decision} by {self.reviewer.value.strip()}.")
        self.refresh()  # the decided item leaves the pending page; the next one slides in
        return True

    def approve(self) -> bool:
        """The draft answer stands."""
        return self._decide("approved")

    def reject(self) -> bool:
        """The draft answer is wrong."""
        return self._decide("rejected")

    def edit(self, answer: str | None = None) -> bool:
        """The text box's answer (or `answer`) replaces the draft."""
        text = (self.answer_box.value if answer is None else answer).strip()
        if self.current is not None and text == self.current.answer.strip():
            self._say("The answer is unchanged: edit it in the Answer box, or approve the draft.", error=True)
            return False
        return self._decide("edited", text)

    def next(self) -> None:
        if self.index + 1 < len(self.items):
            self.index += 1
        elif self.offset + len(self.items) < self.total:
            self.offset, self.index = self.offset + self.page_size, 0
            self.items = self.queue.pending(limit=self.page_size, offset=self.offset)
            if not self.items:  # others decided the rest meanwhile
                self.refresh()
                return
        self._draw()

    def previous(self) -> None:
        if self.index > 0:
            self.index -= 1
        elif self.offset > 0:
            self.offset = max(0, self.offset - self.page_size)
            self.items = self.queue.pending(limit=self.page_size, offset=self.offset)
            self.index = len(self.items) - 1
        self._draw()

    def command(self, text: str) -> None:
        """One keyboard command: a(pprove), e(dit), r(eject), n(ext), p(revious)."""
        key = text.strip().lower()[:1]
        actions = {"a": self.approve, "e": self.edit, "r": self.reject, "n": self.next, "p": self.previous}
        if key not in actions:
            self._say(f"Unknown command {text.strip()!r}: type a, e, r, n or p and press Enter.", error=True)
            return
        actions[key]()

    def _on_reviewer(self, change) -> None:
        # Says back the name the kernel holds: the front end may still be sending keystrokes.
        name = change["new"].strip()
        self._say(f"Reviewing as {name}." if name else "Type your name in the Reviewer box.", error=not name)

    def _on_command(self, change) -> None:
        if change["new"]:
            self.command(change["new"])
            self.command_box.value = ""  # ready for the next key; this change ("") is ignored

"""The review widget in a real browser: JupyterLab on loopback, Debian's headless Chromium driven by
Selenium (the `lab` and `browser` fixtures of tests/notebook/conftest.py, which says when it
skips), a review notebook over a seeded queue. Approve is clicked and the keyboard box is used;
then the queue file and the cases file must show the decisions.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

NOTEBOOK_CODE = """\
from toolkit.notebook import ReviewWidget
from toolkit.validation.review import SqliteReviewQueue

ReviewWidget(SqliteReviewQueue("queue.sqlite"), page_size=5)
"""


def _seed(folder: Path) -> list[str]:
    from toolkit.validation.review import ReviewItem, SqliteReviewQueue

    queue = SqliteReviewQueue(folder / "queue.sqlite")
    context = [{"source": "policies/returns.md", "text": "You can return an item within 30 days of delivery."}]
    return queue.submit_many(
        [
            ReviewItem.new(
                f"How long do I have to return item {n}?",
                "You have 30 days.",
                run_id=f"browser-run-{n}",
                pipeline_version="v-browser",
                context=context,
                signals={"confidence": 0.4},
                reasons=["confidence 0.40 below 0.80"],
                priority=1.0 - n / 10,
            )
            for n in range(3)
        ]
    )


def _row(root: Path, item_id: str) -> tuple:
    with sqlite3.connect(root / "queue.sqlite") as db:
        return db.execute("SELECT state, reviewer, final_answer FROM items WHERE id = ?", (item_id,)).fetchone()


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def _until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_approve_and_the_keyboard_in_jupyterlab(lab, browser):
    ids = _seed(lab.root)
    lab.write_notebook("review.ipynb", NOTEBOOK_CODE)
    with lab.explained(browser, ".toolkit-review"):
        _review_in_the_browser(lab, browser, ids)


def _review_in_the_browser(lab, browser, ids):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec

    root = lab.root
    wait = lab.run_notebook(browser, "review.ipynb")

    approve = wait.until(
        ec.element_to_be_clickable(
            (By.XPATH, "//*[contains(@class,'toolkit-review')]//button[normalize-space()='Approve']")
        )
    )
    assert "Item 1 of 3 pending" in browser.find_element(By.CSS_SELECTOR, ".toolkit-review").text
    marked = browser.find_elements(By.CSS_SELECTOR, ".toolkit-review mark")
    assert [m.text for m in marked] == ["You can return an item within 30 days of delivery."]

    reviewer = browser.find_element(By.CSS_SELECTOR, ".toolkit-review input[placeholder='your name']")
    reviewer.send_keys("browser-ana")
    # ipywidgets may hold back value updates while the kernel is busy, but not a click: wait
    # until the kernel says the whole name back before clicking.
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".toolkit-review"), "Reviewing as browser-ana."))
    approve.click()
    assert _until(
        lambda: _row(root, ids[0])[0] == "approved" and _row(root, ids[0]), 60, "the approval in the queue"
    ) == (
        "approved",
        "browser-ana",
        "You have 30 days.",
    )
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".toolkit-review"), "Item 1 of 2 pending"))

    keys = browser.find_element(By.CSS_SELECTOR, ".toolkit-review input[placeholder^='a / e / r']")
    keys.send_keys("r", Keys.ENTER)  # the keyboard path: reject the item now on screen
    _until(lambda: _row(root, ids[1])[0] == "rejected", 60, "the rejection typed in the command box")
    assert _row(root, ids[2])[0] == "pending"

    # The decision commits first, then its case line is appended (rebuild_cases redoes the file
    # from the decisions): wait for the line, not only the row.
    lines = _until(lambda: len(_lines(root / "cases.jsonl")) == 2 and _lines(root / "cases.jsonl"), 60, "two cases")
    cases = [json.loads(line) for line in lines]
    assert [(c["id"], c["label"], c["reviewer"], c["run_id"]) for c in cases] == [
        (ids[0], "correct", "browser-ana", "browser-run-0"),
        (ids[1], "incorrect", "browser-ana", "browser-run-1"),
    ]
    with sqlite3.connect(root / "queue.sqlite") as db:
        assert db.execute("SELECT item_id, decision, reviewer FROM decisions ORDER BY seq").fetchall() == [
            (ids[0], "approved", "browser-ana"),
            (ids[1], "rejected", "browser-ana"),
        ]

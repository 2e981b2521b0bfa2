"""The review widget in a real browser: JupyterLab on loopback, Debian's headless Chromium driven by
Selenium, a review notebook over a seeded queue. Approve is clicked and the keyboard box is used;
then the queue file and the cases file must show the decisions.

Skipped only on a developer's machine without chromium; under CI (the `CI` variable set) a missing
browser fails the test, so it never passes by not running. `.ci/run` installs chromium and
chromium-driver with apt-get. Nothing is downloaded: the driver is Debian's /usr/bin/chromedriver,
given to Selenium explicitly, and Selenium Manager is kept offline.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from conftest import PROJECT, TOOLKIT_VARIABLES

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
NOTEBOOK_CODE = """\
from toolkit.notebook import ReviewWidget
from toolkit.validation.review import SqliteReviewQueue

ReviewWidget(SqliteReviewQueue("queue.sqlite"), page_size=5)
"""


def _need_browser():
    missing = [name for name, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)) if not path]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install -e '.[test]')")
    if missing:
        message = f"the browser test needs {', '.join(missing)}: apt-get install chromium chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set, so this is a failure, not a skip)")
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def _write_notebook(path: Path) -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(NOTEBOOK_CODE)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on a free loopback port with a token, serving a folder with the notebook and queue."""
    _need_browser()
    root = tmp_path / "lab"
    root.mkdir()
    ids = _seed(root)
    _write_notebook(root / "review.ipynb")
    port, token = _free_port(), uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if k not in TOOLKIT_VARIABLES}
    env.update(
        PYTHONPATH=str(PROJECT),  # the kernel imports this checkout's toolkit
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",  # and runs this Python
        TOOLKIT_HOME=str(tmp_path / "home"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "jupyter-workspaces"),
        HF_HUB_OFFLINE="1",
    )
    log = open(tmp_path / "lab.log", "w")  # noqa: SIM115 (closed below, after the server)
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # a first start on a busy 2-core machine is slow
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"JupyterLab did not start:\n{(tmp_path / 'lab.log').read_text()[-3000:]}")
            time.sleep(0.3)
        yield base, token, root, ids, tmp_path / "lab.log"
    finally:
        server.terminate()  # the server shuts its kernels down on SIGTERM
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait(10)
        log.close()


@pytest.fixture
def browser(monkeypatch):
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never fetch a driver or a browser
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


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
    try:
        _review_in_the_browser(lab, browser)
    except Exception as exc:  # say what the page and the server showed, not only what timed out
        from selenium.webdriver.common.by import By

        shown = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".toolkit-review, .jp-OutputArea-output")]
        raise AssertionError(f"{exc}\n--- page ---\n{shown}\n--- lab log ---\n{lab[-1].read_text()[-2000:]}") from exc


def _review_in_the_browser(lab, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    base, token, root, ids, _ = lab
    browser.get(f"{base}/lab/tree/review.ipynb?token={token}&reset")
    wait = WebDriverWait(browser, 90)  # generous: a busy CI machine starts kernels slowly
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".jp-Notebook .jp-Cell")))
    wait.until(lambda d: d.execute_script(
        "const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
        "return !!(w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel);"
    ))  # fmt: skip
    browser.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells')")

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

"""Shared by the browser tests (the review widget, the playground): JupyterLab on loopback and
Debian's headless Chromium driven by Selenium, both offline.

    def test_it(lab, browser):
        lab.write_notebook("it.ipynb", "print('hi')")
        wait = lab.run_notebook(browser, "it.ipynb")

Skipped only on a developer's machine without chromium; under CI (the `CI` variable set) a missing
browser fails the test, so it never passes by not running. `.ci/run` installs chromium and
chromium-driver with apt-get. Nothing is downloaded: the driver is Debian's /usr/bin/chromedriver,
given to Selenium explicitly, and Selenium Manager is kept offline.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import PROJECT, TOOLKIT_VARIABLES

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


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


@dataclass
class Lab:
    """A running JupyterLab: its address, token, the folder it serves and its log."""

    base: str
    token: str
    root: Path
    log: Path

    def write_notebook(self, name: str, code: str) -> None:
        """A notebook of one code cell in the served folder."""
        import nbformat

        notebook = nbformat.v4.new_notebook()
        notebook.cells = [nbformat.v4.new_code_cell(code)]
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(notebook, self.root / name)

    def run_notebook(self, browser, name: str):
        """Open `name` in the browser, wait for its kernel, run all cells; return a WebDriverWait."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        browser.get(f"{self.base}/lab/tree/{name}?token={self.token}&reset")
        wait = WebDriverWait(browser, 90)  # generous: a busy CI machine starts kernels slowly
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".jp-Notebook .jp-Cell")))
        wait.until(lambda d: d.execute_script(
            "const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
            "return !!(w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel);"
        ))  # fmt: skip
        browser.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        return wait

    @contextlib.contextmanager
    def explained(self, browser, selector: str):
        """On a failure, say what the page (`selector` and the outputs) and the server showed, not only
        what timed out."""
        try:
            yield
        except Exception as exc:
            from selenium.webdriver.common.by import By

            shown = [e.text for e in browser.find_elements(By.CSS_SELECTOR, f"{selector}, .jp-OutputArea-output")]
            raise AssertionError(
                f"{exc}\n--- page ---\n{shown}\n--- lab log ---\n{self.log.read_text()[-2000:]}"
            ) from exc


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on a free loopback port with a token, serving an empty folder (`lab.root`)."""
    _need_browser()
    root = tmp_path / "lab"
    root.mkdir()
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
    log_path = tmp_path / "lab.log"
    log = open(log_path, "w")  # noqa: SIM115 (closed below, after the server)
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
                raise AssertionError(f"JupyterLab did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield Lab(base, token, root, log_path)
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
    """Headless Chromium through Debian's chromedriver, 1400 x 1000."""
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

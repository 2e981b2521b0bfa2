"""The `regression` fixture, as a team's suite uses it: the template's own test file, run by pytest
in the suite's folder, passes on the unchanged pipeline; the fixture's check fails, with the
explanation, on a changed one. Then a missing recording is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import PROJECT, write_files
from toolkit.__main__ import main
from toolkit.evaluation.pytest_plugin import Regression

CORPUS = {
    "hours.md": "# Hours\n\nThe library opens at 9 am and closes at 6 pm on weekdays.\n",
    "cards.md": "# Library cards\n\nA library card is free for every resident of the county.\n",
}
QUESTIONS = [
    dict(
        id="l1",
        question="When does the library open?",
        answer="9 am",
        aliases=[],
        sources=["hours.md"],
        category="hours",
        difficulty="easy",
        answerable=True,
    ),
    dict(
        id="l2",
        question="How much is a library card?",
        answer="free",
        aliases=[],
        sources=["cards.md"],
        category="cards",
        difficulty="easy",
        answerable=True,
    ),
]


def pytest_in(folder):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "test_regression.py", "-q", "-p", "no:cacheprovider", "-p", "no:nbval"],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_template_test_passes_then_fails_with_the_explanation(tmp_path):
    corpus = write_files(tmp_path / "library", CORPUS)
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS), encoding="utf-8")
    folder = tmp_path / "suite"
    assert main(["regress", "init", str(folder), "--corpus", str(corpus), "--questions", str(questions)]) == 0

    done = pytest_in(folder)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout

    # The fixture's check in this process (a second pytest run would only reload the models):
    (corpus / "hours.md").write_text("# Hours\n\nOpening hours change with the seasons.\n", encoding="utf-8")
    with pytest.raises(AssertionError, match=r"(?s)FAIL: the pipeline regressed.*l1 correct -> "):
        Regression().check(folder).assert_holds()

    (folder / "replay.json").unlink()
    assert main(["regress", "check", str(folder)]) == 2  # refused: no recording, and no model call made

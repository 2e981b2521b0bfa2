"""A pytest fixture for a team's regression suite: the same check as `python -m toolkit regress check`.

Import it into the suite's conftest.py (the template's does), then a test is three lines:

    from toolkit.evaluation.pytest_plugin import regression   # in conftest.py

    def test_pipeline_holds_its_baseline(regression):
        regression.check(Path(__file__).parent).assert_holds()

`assert_holds` fails the test with the whole explanation: which metric dropped, by how much,
with its interval, which questions flipped, and which requests missed the replay recording.
It is a fixture to import, not an auto-loaded plugin, so it never runs in a project that did
not ask for it.

Not here: the check itself (suite.py, regression.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .regression import Report
from .suite import check_suite

__all__ = ["regression", "Regression"]


class Regression:
    """What the fixture gives a test: `check(folder)` returns the suite's Report."""

    def check(self, folder: str | Path, **options) -> Report:
        return check_suite(Path(folder), **options)


@pytest.fixture
def regression() -> Regression:
    return Regression()

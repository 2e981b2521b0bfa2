"""The nbval sanitize configuration masks timings, paths, run ids and timestamps, and nothing that
names a pipeline (configuration versions stay compared)."""

from __future__ import annotations

import re

from nbval.plugin import get_sanitize_patterns

from conftest import PROJECT

CONFIG = PROJECT / "notebooks" / "nbval_sanitize.cfg"


def sanitize(text: str) -> str:
    for regex, replace in get_sanitize_patterns(CONFIG.read_text(encoding="utf-8")):
        text = re.sub(regex, replace, text)
    return text


def test_the_configuration_is_passed_to_nbval():
    pyproject = (PROJECT / "pyproject.toml").read_text(encoding="utf-8")
    assert "--nbval-sanitize-with=notebooks/nbval_sanitize.cfg" in pyproject
    assert len(get_sanitize_patterns(CONFIG.read_text(encoding="utf-8"))) == 4


def test_what_varies_is_masked():
    assert sanitize("no cache: 162.2 s, exact: 63 s, in 12ms") == "no cache: <seconds>, exact: <seconds>, in <seconds>"
    assert sanitize("index: /tmp/tmpab12/indexes/tidewell done") == "index: <path> done"
    assert sanitize("{'run_id': '3f2a9c81d0e4', 'x': 1}") == "{'run_id': '<run id>', 'x': 1}"
    assert sanitize("at 2026-12-01T21:09:44+00:00.") == "at <timestamp>."


def test_what_names_a_pipeline_is_kept():
    line = "07_cost_and_caching 761bed089c3e: 24 questions, accuracy 0.333, 5 days, $0.07"
    assert sanitize(line) == line

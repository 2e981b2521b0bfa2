"""setup_notebook: seeds, offline switches, display options and quiet libraries, then the Settings.
Every global it touches is restored after each test."""

from __future__ import annotations

import logging
import os
import random
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest

from toolkit.notebook.setup import setup_notebook

OFFLINE = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM")
QUIETED = ("httpx", "sentence_transformers", "transformers", "pypdf")
DISPLAY = ("display.max_colwidth", "display.width", "display.precision")


@pytest.fixture
def restored(monkeypatch):
    """The globals setup_notebook changes, put back as they were."""
    for name in OFFLINE:
        monkeypatch.delenv(name, raising=False)
    levels = {name: logging.getLogger(name).level for name in QUIETED}
    display = {name: pd.get_option(name) for name in DISPLAY}
    with warnings.catch_warnings(), matplotlib.rc_context():
        yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    for name, value in display.items():
        pd.set_option(name, value)


def test_returns_the_settings_with_its_seed_and_arguments(restored, toolkit_home):
    settings = setup_notebook(seed=3, top_k=5)
    assert (settings.seed, settings.top_k, settings.home) == (3, 5, toolkit_home)


def test_seeds_the_random_generators(restored):
    setup_notebook(seed=7)
    assert random.random() == random.Random(7).random()
    assert np.random.rand() == np.random.RandomState(7).rand()


def test_goes_offline_unless_told_otherwise(restored, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # a value the user set is kept
    setup_notebook()
    assert [os.environ[name] for name in OFFLINE] == ["0", "1", "false"]


def test_display_options_quiet_loggers_and_figures(restored):
    setup_notebook()
    assert [pd.get_option(name) for name in DISPLAY] == [80, 120, 3]
    assert [logging.getLogger(name).level for name in QUIETED] == [logging.ERROR] * 4
    assert (
        list(matplotlib.rcParams["figure.figsize"]),
        matplotlib.rcParams["figure.dpi"],
        matplotlib.rcParams["svg.hashsalt"],
    ) == ([7.0, 3.5], 100.0, "toolkit")


def test_deprecation_and_future_warnings_are_silenced_and_others_are_not(restored):
    setup_notebook()
    with warnings.catch_warnings(record=True) as seen:
        warnings.warn("old API", DeprecationWarning, stacklevel=1)
        warnings.warn("new default", FutureWarning, stacklevel=1)
        warnings.warn("look here", UserWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ["look here"]

"""Notebook helpers: the setup cell, checkpoints, the headless tour and its report, the playground,
the review screen.

    >>> checkpoint("hit_rate@3", 0.9, at_least=0.8)
    checkpoint hit_rate@3 = 0.9000 (needs >= 0.8): PASS

Not here: comparing outputs with the committed baseline (nbval does that under pytest).
"""

from .feedback_widget import FeedbackWidget
from .playground import Playground
from .review_widget import ReviewWidget, mark_support
from .setup import setup_notebook
from .tour import checkpoint, format_scorecard, run_tour

__all__ = [
    "setup_notebook",
    "checkpoint",
    "run_tour",
    "format_scorecard",
    "Playground",
    "ReviewWidget",
    "mark_support",
    "FeedbackWidget",
]

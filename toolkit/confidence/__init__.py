"""Confidence: signals read from a run, one calibrated score, and the measures that say whether
it tells right answers from wrong ones.

    >>> type_match("How much is the Hub?", "The Hub costs $129.")
    1.0

Not here: what the pipeline does with the score (the Score and Decide steps, toolkit.steps) and
the review queue escalated answers wait in (toolkit.validation.review).
"""

from .calibration import CalibrationError, Calibrator
from .metrics import (
    auroc,
    auroc_interval,
    expected_calibration_error,
    reliability,
    risk_coverage,
    selective_report,
    threshold_for_accuracy,
)
from .policy import DECISIONS, check_thresholds, decide
from .self_check import self_check, verdict_score
from .signals import SIGNALS, agreement, logprob_signals, missing, retrieval_signals, type_match

__all__ = [
    "SIGNALS",
    "DECISIONS",
    "decide",
    "check_thresholds",
    "Calibrator",
    "CalibrationError",
    "agreement",
    "type_match",
    "retrieval_signals",
    "logprob_signals",
    "missing",
    "self_check",
    "verdict_score",
    "auroc",
    "auroc_interval",
    "selective_report",
    "expected_calibration_error",
    "reliability",
    "risk_coverage",
    "threshold_for_accuracy",
]

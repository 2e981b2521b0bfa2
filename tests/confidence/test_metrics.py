"""Confidence measures on hand-worked cases."""

import math

from toolkit.confidence import auroc, expected_calibration_error, reliability, risk_coverage, threshold_for_accuracy


def test_auroc_counts_right_over_wrong_pairs():
    # pairs (right, wrong): (0.9, 0.7) yes, (0.9, 0.2) yes, (0.4, 0.7) no, (0.4, 0.2) yes -> 3/4
    assert auroc([0.9, 0.4, 0.7, 0.2], [1, 1, 0, 0]) == 0.75
    assert math.isnan(auroc([0.9, 0.4], [1, 1]))


def test_reliability_and_ece():
    table = reliability([0.95, 0.85, 0.15, 0.05], [1, 0, 0, 0], bins=2)
    assert table.runs.tolist() == [2, 2]
    assert table.accuracy.tolist() == [0.0, 0.5]
    # bin 0: |0.10 - 0| = 0.10; bin 1: |0.90 - 0.5| = 0.40; weighted equally -> 0.25
    assert round(expected_calibration_error([0.95, 0.85, 0.15, 0.05], [1, 0, 0, 0], bins=2), 6) == 0.25


def test_risk_coverage_answers_the_most_confident_first():
    curve = risk_coverage([0.2, 0.9, 0.5, 0.7], [0, 1, 1, 0])
    assert curve.coverage.tolist() == [0.25, 0.5, 0.75, 1.0]
    assert [round(a, 3) for a in curve.accuracy] == [1.0, 0.5, 0.667, 0.5]


def test_threshold_for_accuracy_takes_the_widest_coverage_that_meets_the_target():
    scores, correct = [0.9, 0.8, 0.7, 0.6, 0.5], [1, 1, 0, 1, 1]
    assert threshold_for_accuracy(scores, correct, 0.75) == 0.5  # 4 of 5 at 0.5
    assert threshold_for_accuracy(scores, correct, 0.9) == 0.8
    assert threshold_for_accuracy([0.9], [0], 0.9) == 1.0  # nothing meets it: answer nothing

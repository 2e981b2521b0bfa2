"""Confidence measures on hand-worked cases."""

import math

import numpy as np
import pytest

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


def test_the_auroc_interval_is_the_bootstrap_of_scikit_learns_auroc():
    from sklearn.metrics import roc_auc_score

    from toolkit.confidence import auroc_interval

    scores = [0.9, 0.8, 0.8, 0.7, 0.5, 0.5, 0.4, 0.3, 0.2, 0.1]  # ties, ranked as their average
    right = [1, 1, 0, 1, 0, 1, 0, 0, 1, 0]
    rng = np.random.default_rng(0)
    one_at_a_time = []
    for _ in range(200):
        i = rng.integers(0, 10, 10)
        y, p = np.asarray(right)[i], np.asarray(scores)[i]
        if 0 < y.sum() < 10:
            one_at_a_time.append(roc_auc_score(y, p))
    value, low, high = auroc_interval(scores, right, resamples=200, seed=0)
    # right-wrong pairs ordered, a tie counting half: 0.9 beats all 5 wrong, 0.8 4.5, 0.7 4, 0.5 3.5,
    # 0.2 1: 18 of 25
    assert value == 0.72
    assert low == pytest.approx(np.percentile(one_at_a_time, 2.5), abs=1e-12)
    assert high == pytest.approx(np.percentile(one_at_a_time, 97.5), abs=1e-12)
    assert all(math.isnan(x) for x in auroc_interval([0.5, 0.4], [1, 1]))  # one class: no AUROC at all

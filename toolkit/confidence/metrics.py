"""How well a confidence score tells right answers from wrong ones.

    >>> auroc([0.9, 0.8, 0.3, 0.2], [1, 1, 0, 0]), auroc([0.9, 0.8, 0.3, 0.2], [0, 1, 0, 1])
    (1.0, 0.25)
    >>> round(expected_calibration_error([0.9, 0.9, 0.1, 0.1], [1, 0, 0, 0], bins=10), 3)
    0.25
    >>> threshold_for_accuracy([0.9, 0.8, 0.7, 0.6], [1, 1, 0, 1], target=0.9)
    0.8

- AUROC: the chance that a right answer scores above a wrong one (0.5 is a coin).
- ECE: the gap between stated confidence and observed accuracy, averaged over equal-width bins
  weighted by their counts.
- Risk-coverage: answer the most confident share first; accuracy on what was answered.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "auroc",
    "auroc_interval",
    "expected_calibration_error",
    "reliability",
    "risk_coverage",
    "selective_report",
    "threshold_for_accuracy",
]


def auroc(scores: Sequence[float], correct: Sequence[int | bool]) -> float:
    """Area under the ROC curve (scikit-learn); NaN when only one class is present."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(correct, dtype=int)
    if y.min(initial=1) == y.max(initial=0):
        return float("nan")
    return float(roc_auc_score(y, np.asarray(scores, dtype=float)))


def reliability(scores: Sequence[float], correct: Sequence[int | bool], bins: int = 10):
    """Per equal-width bin: count, mean confidence, observed accuracy (a DataFrame)."""
    import pandas as pd

    p, y = np.asarray(scores, dtype=float), np.asarray(correct, dtype=float)
    which = np.minimum((p * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            rows.append(
                {
                    "bin": f"{b / bins:.1f}-{(b + 1) / bins:.1f}",
                    "runs": int(inside.sum()),
                    "confidence": float(p[inside].mean()),
                    "accuracy": float(y[inside].mean()),
                }
            )
    return pd.DataFrame(rows, columns=["bin", "runs", "confidence", "accuracy"])


def expected_calibration_error(scores: Sequence[float], correct: Sequence[int | bool], bins: int = 10) -> float:
    table = reliability(scores, correct, bins)
    if table.empty:
        return float("nan")
    return float((table.runs * (table.confidence - table.accuracy).abs()).sum() / table.runs.sum())


def risk_coverage(scores: Sequence[float], correct: Sequence[int | bool]):
    """Coverage and accuracy when only the top-scored answers are given (a DataFrame, one row per
    answer count; ties broken by order)."""
    import pandas as pd

    p, y = np.asarray(scores, dtype=float), np.asarray(correct, dtype=float)
    order = np.argsort(-p, kind="stable")
    answered = np.arange(1, len(p) + 1)
    return pd.DataFrame(
        {"threshold": p[order], "coverage": answered / len(p), "accuracy": np.cumsum(y[order]) / answered}
    )


def threshold_for_accuracy(scores: Sequence[float], correct: Sequence[int | bool], target: float) -> float:
    """The lowest score threshold whose answered set (score >= threshold) is at least `target`
    accurate; 1.0 (answer nothing) when none is."""
    p, y = np.asarray(scores, dtype=float), np.asarray(correct, dtype=float)
    best = 1.0
    for t in np.unique(p)[::-1]:
        answered = p >= t
        if y[answered].mean() >= target:
            best = float(t)
    return best


def _bootstrap(statistic, n: int, resamples: int, seed: int, confidence: float) -> tuple[float, float]:
    """Percentile interval of `statistic(indices)` over questions drawn with replacement."""
    rng = np.random.default_rng(seed)
    values = np.array([statistic(rng.integers(0, n, n)) for _ in range(resamples)], dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2 * 100
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


def auroc_interval(
    scores: Sequence[float],
    correct: Sequence[int | bool],
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """AUROC with a percentile-bootstrap interval over runs: (value, low, high).

    The resamples are scored all at once by the rank-sum identity, AUROC = (sum of the right
    answers' ranks - n1(n1+1)/2) / (n1 n0), ties ranked as their average: what scikit-learn gives
    one resample at a time (1,000 resamples of 120 runs: 0.02 s instead of 3.6 s)."""
    from scipy.stats import rankdata

    p, y = np.asarray(scores, dtype=float), np.asarray(correct, dtype=int)
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(p), (resamples, len(p)))  # the draws _bootstrap makes, in one array
    right = y[rows]
    n1 = right.sum(axis=1).astype(float)
    n0 = len(p) - n1
    with np.errstate(divide="ignore", invalid="ignore"):  # a one-class resample has no AUROC
        values = ((rankdata(p[rows], axis=1) * right).sum(axis=1) - n1 * (n1 + 1) / 2) / (n1 * n0)
    values = values[np.isfinite(values)]
    if not len(values):
        return auroc(p, y), float("nan"), float("nan")
    tail = (1 - confidence) / 2 * 100
    return auroc(p, y), float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


def selective_report(
    decisions: Sequence[str],
    correct: Sequence[int | bool],
    answerable: Sequence[bool],
    resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
):
    """What a decision policy did on a labelled set, each figure with a bootstrap interval over
    questions: the share answered, accuracy on the answered, the share escalated, and the share
    of unanswerable questions refused or escalated (a DataFrame, one row per figure).

    >>> report = selective_report(["answer", "answer", "escalate", "refuse"], [1, 0, 1, 1], [True, True, True, False])
    >>> report.value.round(3).tolist()
    [0.5, 0.5, 0.25, 1.0]
    """
    import pandas as pd

    d = np.asarray(decisions)
    y = np.asarray(correct, dtype=float)
    a = np.asarray(answerable, dtype=bool)

    def coverage(i):
        return float((d[i] == "answer").mean())

    def answered_accuracy(i):
        answered = d[i] == "answer"
        return float(y[i][answered].mean()) if answered.any() else float("nan")

    def escalated(i):
        return float((d[i] == "escalate").mean())

    def unanswerable_held(i):
        held = ~a[i]
        return float((d[i][held] != "answer").mean()) if held.any() else float("nan")

    everyone = np.arange(len(d))
    rows = []
    for name, statistic, base in [
        ("answered", coverage, "all questions"),
        ("accuracy when answered", answered_accuracy, "answered questions"),
        ("escalated", escalated, "all questions"),
        ("unanswerable refused or escalated", unanswerable_held, "unanswerable questions"),
    ]:
        low, high = _bootstrap(statistic, len(d), resamples, seed, confidence)
        rows.append({"figure": name, "value": statistic(everyone), "low": low, "high": high, "of": base})
    return pd.DataFrame(rows)

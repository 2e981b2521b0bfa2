"""Confidence intervals for the proportions the notebooks and benchmarks report.

    >>> [round(x, 3) for x in wilson(7, 24)]
    [0.149, 0.492]

Not here: paired bootstrap intervals on differences (experiments.compare).
"""

from __future__ import annotations

__all__ = ["wilson"]


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of k successes in n trials (scipy's binomtest); (0, 1) for n = 0.

    Wilson rather than the normal approximation: it stays inside [0, 1] and is not empty at 0 of n.

    >>> [round(x, 4) for x in wilson(0, 100)]
    [0.0, 0.037]
    """
    from scipy.stats import binomtest

    if n == 0:
        return (0.0, 1.0)
    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(ci.low), float(ci.high))

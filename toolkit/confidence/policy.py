"""The escalation policy: from a calibrated confidence to answer, escalate or refuse.

    >>> decide(0.91, "Returns take 30 days.", answer_at=0.8, refuse_below=0.2)
    ('answer', ['confidence 0.91 >= 0.80'])
    >>> decide(0.5, "Returns take 30 days.", answer_at=0.8)[0], decide(0.9, "I don't know.", answer_at=0.8)[0]
    ('escalate', 'refuse')

An answer that already declines is a refusal whatever its score: there is nothing to review.
Between `refuse_below` and `answer_at` a person decides, so the band is the review workload.
"""

from __future__ import annotations

from ..errors import ConfigError
from ..text import is_abstention

__all__ = ["DECISIONS", "decide", "check_thresholds"]

DECISIONS = ("answer", "escalate", "refuse")


def check_thresholds(answer_at: float, refuse_below: float) -> None:
    if not 0 <= refuse_below <= answer_at <= 1:
        raise ConfigError(
            f"need 0 <= refuse_below <= answer_at <= 1 (got refuse_below={refuse_below}, answer_at={answer_at})"
        )


def decide(score: float, answer: str, *, answer_at: float, refuse_below: float = 0.0) -> tuple[str, list[str]]:
    """(decision, reasons) for one answer and its calibrated confidence."""
    if is_abstention(answer):
        return "refuse", ["the answer declines"]
    if score >= answer_at:
        return "answer", [f"confidence {score:.2f} >= {answer_at:.2f}"]
    if score < refuse_below:
        return "refuse", [f"confidence {score:.2f} < {refuse_below:.2f}"]
    return "escalate", [f"confidence {score:.2f} < {answer_at:.2f}"]

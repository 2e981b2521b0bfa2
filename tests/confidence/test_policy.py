"""The Decide step: answer, escalate or refuse by the calibrated confidence."""

import pytest

from toolkit.errors import ToolkitError
from toolkit.steps import Decide, Run, RunRecord
from toolkit.validation import REFUSAL


def run_with(score, text="Returns take 30 days.", failed=()):
    run = Run("How long?", RunRecord("r1", "2026-12-01T00:00:00+00:00", "How long?"))
    run.text = text
    if score is not None:
        run.record.part("confidence")["score"] = score
    if failed:
        run.record.part("validate")["failed"] = list(failed)
    return run


@pytest.mark.parametrize(
    ("score", "decision", "text"),
    [
        (0.80, "answer", "Returns take 30 days."),  # at the threshold: answered
        (0.79, "escalate", "Returns take 30 days."),
        (0.20, "escalate", "Returns take 30 days."),  # at refuse_below: still a person's call
        (0.19, "refuse", REFUSAL),
    ],
)
def test_thresholds(score, decision, text):
    run = run_with(score)
    Decide(answer_at=0.8, refuse_below=0.2)(run)
    assert run.record.get("decide.decision") == decision and run.text == text
    assert run.record.get("decide.draft") == "Returns take 30 days."
    note = f"(Awaiting review: confidence {score:.2f}. A person will check this answer.)"
    assert (run.notes == [note]) == (decision == "escalate")


def test_an_answer_that_declines_is_a_refusal_whatever_the_score():
    run = run_with(0.99, text="I don't know.")
    Decide(answer_at=0.8)(run)
    assert run.record.get("decide.decision") == "refuse" and run.text == "I don't know."
    assert run.record.get("decide.reasons") == ["the answer declines"]


def test_reasons_name_the_failed_checks():
    run = run_with(0.5, failed=["grounding:support"])
    Decide(answer_at=0.8)(run)
    assert run.record.get("decide.reasons") == ["confidence 0.50 < 0.80", "failed grounding:support"]


def test_bad_thresholds_and_a_missing_score_are_refused():
    with pytest.raises(ToolkitError, match="need 0 <= refuse_below <= answer_at <= 1"):
        Decide(answer_at=0.3, refuse_below=0.5)
    with pytest.raises(ToolkitError, match=r"put Score\(calibrator\) before it"):
        Decide(answer_at=0.8)(run_with(None))

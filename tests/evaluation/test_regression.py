"""The regression check's decisions: tolerance from the baseline's interval, pass^k, flips, refusals."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from toolkit.errors import BaselineError
from toolkit.evaluation.regression import Baseline, compare_to_baseline, measure, outcomes, question_fingerprint

QUESTIONS = pd.DataFrame(
    [
        dict(id=f"q{i}", question=f"Question {i}?", answer="yes", aliases=[], sources=["a.md"], answerable=True)
        for i in range(1, 9)
    ]
)


def row(i: int, correct: bool, seen: bool = True, answer: str = "") -> dict:
    return {
        "id": f"q{i}",
        "question": f"Question {i}?",
        "answerable": True,
        "correct": correct,
        "passes": int(correct),
        "runs": 1,
        "seen_hit": seen,
        "abstained": False,
        "answer": answer or ("yes" if correct else "no"),
        "error": "",
    }


def baseline_of(rows, config=None) -> Baseline:
    return Baseline(
        pipeline="p",
        config_version="v1",
        config=config or {"retriever": {"top_k": 3}},
        questions=question_fingerprint(QUESTIONS),
        question_ids=list(QUESTIONS.id),
        repeats=1,
        model="extractive:quote",
        metrics=measure(rows),
        outcomes=rows,
    )


def test_a_drop_below_the_interval_regresses_and_names_the_flipped_question():
    before = baseline_of([row(i, True) for i in range(1, 9)])  # 8 of 8: the interval is [1, 1]
    assert before.metrics["accuracy"] == {"mean": 1.0, "ci_low": 1.0, "ci_high": 1.0, "questions": 8}
    after = baseline_of([row(i, i != 3) for i in range(1, 9)], config={"retriever": {"top_k": 1}})
    report = compare_to_baseline(before, after)
    assert (report.status, report.exit_code, report.passed) == ("regressed", 1, False)
    accuracy = report.metrics[0]
    assert (accuracy["metric"], accuracy["current"], accuracy["delta"]) == ("accuracy", 0.875, -0.125)
    assert accuracy["verdict"] == "dropped below its interval"
    assert report.flips == [
        {
            "id": "q3",
            "question": "Question 3?",
            "before": "correct",
            "after": "wrong",
            "baseline_answer": "yes",
            "answer": "no",
        }
    ]
    assert report.config_changes == ["retriever.top_k 3 -> 1"]
    text = str(report)
    assert "FAIL: the pipeline regressed" in text
    assert "accuracy       1.000 [1.000, 1.000] -> 0.875 (-0.125): dropped below its interval" in text
    assert "q3 correct -> wrong: Question 3?" in text
    with pytest.raises(AssertionError, match="q3 correct -> wrong"):
        report.assert_holds()


def test_a_drop_inside_the_interval_holds_but_still_lists_the_flip():
    # 4 of 8 correct: the bootstrap interval of the mean is wide, so one more wrong answer holds
    before = baseline_of([row(i, i <= 4) for i in range(1, 9)])
    low, high = before.metrics["accuracy"]["ci_low"], before.metrics["accuracy"]["ci_high"]
    assert low < 0.375 < 0.5 < high
    report = compare_to_baseline(before, baseline_of([row(i, i <= 3) for i in range(1, 9)]))
    assert (report.status, report.exit_code) == ("held", 0)
    assert [(f["id"], f["before"], f["after"]) for f in report.flips] == [("q4", "correct", "wrong")]
    assert "--update-baseline" in report.update_hint


def test_a_rise_above_the_interval_is_an_improvement_that_passes():
    before = baseline_of([row(i, i <= 2) for i in range(1, 9)])  # 2 of 8
    report = compare_to_baseline(before, baseline_of([row(i, True) for i in range(1, 9)]))
    assert (report.status, report.exit_code, report.metrics[0]["verdict"]) == ("improved", 0, "above its interval")
    assert "PASS: the pipeline improved on its baseline" in str(report)
    assert "python -m toolkit regress --pipeline FILE --questions FILE --baseline FILE --update-baseline" in str(report)


def test_a_lost_gold_document_is_a_flip_even_when_the_answer_stays_wrong():
    before = baseline_of([row(i, False, seen=True) for i in range(1, 9)])
    after = baseline_of([row(i, False, seen=i != 5) for i in range(1, 9)])
    report = compare_to_baseline(before, after)
    assert report.status == "regressed"  # seen_hit_rate 1.0 [1, 1] -> 0.875
    assert [(f["id"], f["before"], f["after"]) for f in report.flips] == [
        ("q5", "wrong, gold seen", "wrong, gold not seen")
    ]


def test_pass_k_needs_every_run_right():
    def run(correct):
        return pd.DataFrame(
            {
                "id": ["q1", "q2", "q3"],
                "question": ["a?", "b?", "c?"],
                "answerable": [True, True, False],
                "correct": correct,
                "seen_hit": [True, True, None],
                "abstained": [False, False, True],
                "answer": ["x", "y", "I don't know."],
                "error": ["", "", ""],
            }
        )

    rows = outcomes([run([True, True, True]), run([True, False, True]), run([True, True, True])])
    assert [(r["id"], r["correct"], r["passes"], r["runs"]) for r in rows] == [
        ("q1", True, 3, 3),
        ("q2", False, 2, 3),
        ("q3", True, 3, 3),
    ]
    metrics = measure(rows)
    assert metrics["accuracy"]["mean"] == round(2 / 3, 4)
    assert metrics["abstention"] == {"mean": 1.0, "ci_low": 1.0, "ci_high": 1.0, "questions": 1}
    assert metrics["seen_hit_rate"]["questions"] == 2
    from toolkit.evaluation.regression import _label

    assert _label(rows[1]) == "flaky (2/3)"


def test_a_baseline_from_another_question_set_or_schema_is_refused():
    rows = [row(i, True) for i in range(1, 9)]
    before = baseline_of(rows)
    other = baseline_of(rows)
    other.questions, other.question_ids = "0123456789ab", [*before.question_ids[1:], "q9"]
    with pytest.raises(BaselineError, match=r"question set .* \(8 questions\): 1 added \(q9\), 1 removed \(q1\)"):
        compare_to_baseline(before, other)
    other = baseline_of(rows)
    other.config_schema = "ffffffffffff"
    with pytest.raises(
        BaselineError, match=r"configuration schema .*; write the baseline again with --update-baseline"
    ):
        compare_to_baseline(before, other)


def test_a_baseline_round_trips_and_a_bad_file_is_refused(tmp_path):
    before = baseline_of([row(i, True) for i in range(1, 9)])
    path = before.save(tmp_path / "baseline.json")
    assert Baseline.load(path) == before
    with pytest.raises(BaselineError, match=r"no baseline at .*; write one with python -m toolkit regress"):
        Baseline.load(tmp_path / "absent.json")
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(BaselineError, match="is corrupt"):
        Baseline.load(path)
    path.write_text(json.dumps({"schema": "toolkit-regression-baseline/0"}), encoding="utf-8")
    with pytest.raises(
        BaselineError, match=r"not a baseline in format toolkit-regression-baseline/1 \(found 'toolkit-"
    ):
        Baseline.load(path)


def test_the_question_fingerprint_follows_the_gold_answers():
    changed = QUESTIONS.copy()
    changed.loc[0, "answer"] = "no"
    assert question_fingerprint(QUESTIONS) == question_fingerprint(QUESTIONS.iloc[::-1])  # order does not matter
    assert question_fingerprint(QUESTIONS) != question_fingerprint(changed)

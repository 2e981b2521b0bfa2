"""Reading a judge's verdicts, its agreement with human labels (worked by hand), and the labels."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from toolkit.errors import ConfigError
from toolkit.evaluation.judge import agreement_summary, load_judge_labels, parse_verdict


def test_verdicts_that_cannot_be_read_are_unmeasured():
    assert [
        parse_verdict(r)
        for r in [
            "CORRECT",
            "incorrect.",
            "**Correct**",
            " - Incorrect: no",
            "Yes",
            "The answer is correct",
            "",
            "Correctly",
        ]
    ] == [True, False, True, False, None, None, None, None]


def test_agreement_by_hand():
    frame = pd.DataFrame({"human": [True, True, False, False, True], "judge": [True, False, False, None, True]})
    # measured: human [T, T, F, T], judge [T, F, F, T]: agree 3/4; chance 3/4*1/2 + 1/4*1/2 = 1/2; kappa 0.5
    assert agreement_summary(frame) == {
        "labelled": 5,
        "measured": 4,
        "unmeasured": 1,
        "agreement": 0.75,
        "kappa": 0.5,
        "judge_says_correct": 0.5,
        "humans_say_correct": 0.6,
    }


def test_the_human_labels_match_the_evaluation_set():
    from toolkit.demo.datasets import load_questions

    labels = load_judge_labels()
    questions = load_questions().set_index("id")
    assert len(labels) >= 30 and set(labels.label) == {"correct", "incorrect"}
    for row in labels.itertuples():
        assert questions.loc[row.id, "answer"] == row.gold and questions.loc[row.id, "question"] == row.question


def test_markup_and_case_around_the_first_word_are_ignored():
    assert parse_verdict("*CORRECT* - same fact") is True
    assert parse_verdict("> Incorrect, the reference says 30 days") is False
    assert parse_verdict("Correct-ish") is True  # a hyphen ends the word
    assert parse_verdict("Incorrectly stated") is None  # a longer word is not the verdict
    assert parse_verdict(None) is None


def test_agreement_with_nothing_measured_is_not_a_number():
    summary = agreement_summary(pd.DataFrame({"human": [True, False], "judge": [None, None]}))
    assert {k: v for k, v in summary.items() if not isinstance(v, float) or not math.isnan(v)} == {
        "labelled": 2,
        "measured": 0,
        "unmeasured": 2,
        "humans_say_correct": 0.5,
    }
    assert all(math.isnan(summary[k]) for k in ("agreement", "kappa", "judge_says_correct"))


def test_kappa_by_hand_when_every_verdict_is_wrong_and_when_both_sides_are_constant():
    # observed agreement 0; chance 1/2 x 1/2 + 1/2 x 1/2 = 1/2; kappa (0 - 1/2) / (1 - 1/2) = -1
    opposite = agreement_summary(pd.DataFrame({"human": [True, False], "judge": [False, True]}))
    assert (opposite["agreement"], opposite["kappa"]) == (0.0, -1.0)
    # both sides always say correct: full agreement, and no variation for kappa to measure
    constant = agreement_summary(pd.DataFrame({"human": [True, True, True], "judge": [True, True, True]}))
    assert (constant["agreement"], constant["judge_says_correct"], constant["humans_say_correct"]) == (1.0, 1.0, 1.0)
    assert math.isnan(constant["kappa"])


def test_a_label_other_than_correct_or_incorrect_names_its_record(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text('{"id": "q001", "label": "correct"}\n\n{"id": "q002", "label": "maybe"}\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_judge_labels(path)
    assert str(info.value) == f"{path}, record 2: label must be 'correct' or 'incorrect'"

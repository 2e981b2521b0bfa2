"""String-match accuracy and retrieval hits, on hand-worked cases (normalisation and abstention: tests/test_text.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from toolkit.evaluation.answers import answer_correct, hit_at_k, sample_questions, summarize


@pytest.mark.parametrize(
    "answer, gold, aliases, correct",
    [
        ("It costs $1,299.00.", "$1299", [], True),  # thousands separator and .00 cents
        ("It costs $1299.", "$1,299.00", [], True),
        ("It costs $1,299.50.", "$1299", [], False),  # other cents are another price
        ("You have 30 days to return it.", "30 days", [], True),
        ("You have 130 days.", "30 days", [], False),  # whole words only
        ("You have 30 days.", "130 days", [], False),
        ("Firmware 5.12 fixed it.", "5.1", [], False),  # a decimal point is not a full stop
        ("Firmware 5.1 fixed it.", "5.12", [], False),
        ("It was fixed in 5.1.", "5.1", [], True),  # ...but a final full stop is
        ("Thirty days.", "30 days", ["thirty days"], True),  # an alias counts
        ("There is no restocking fee.", "no restocking fee", [], True),
        ("30 DAYS", "30 days", [], True),
        ("anything", "", [], False),  # an empty gold matches nothing
        ("anything", "...", [], False),
    ],
)
def test_answer_correct_for_answerable_questions(answer, gold, aliases, correct):
    assert answer_correct(answer, gold, aliases, True) is correct


def test_unanswerable_questions_need_an_abstention():
    assert answer_correct("I don't know.", "", [], False) is True
    assert answer_correct("It is 30 days.", "", [], False) is False
    # and an abstention on an answerable question is wrong
    assert answer_correct("I don't know.", "30 days", [], True) is False


@pytest.mark.parametrize(
    "retrieved, gold, k, hit",
    [
        (["a", "b", "c"], ["c"], 2, False),
        (["a", "b", "c"], ["c"], 3, True),
        (["a", "b", "c"], ["x", "a"], 1, True),
        (["a", "b", "c"], ["c"], 10, True),
        (["a", "b", "c"], ["a"], 0, False),
        (["a", "b", "c"], [], 3, False),
        ([], ["a"], 3, False),
    ],
)
def test_hit_at_k(retrieved, gold, k, hit):
    assert hit_at_k(retrieved, gold, k) is hit


def test_sample_questions():
    frame = pd.DataFrame({"id": [f"q{i:03d}" for i in range(1, 11)], "x": range(10)})
    assert sample_questions(frame, None) is frame
    assert sample_questions(frame, 10) is frame
    sample = sample_questions(frame, 4, seed=3)
    assert len(sample) == 4
    assert list(sample.id) == sorted(sample.id)
    assert list(sample.index) == [0, 1, 2, 3]
    assert list(sample_questions(frame, 4, seed=3).id) == list(sample.id)  # seeded: the same sample


def test_summarize():
    results = pd.DataFrame(
        {
            "category": ["policy", "policy", "product", "unanswerable"],
            "correct": [True, False, True, True],
            "hit": [True, True, False, None],
        }
    )
    overall = summarize(results)
    assert overall.loc["all"].to_dict() == {"questions": 4, "accuracy": 0.75, "hit_rate": 0.667}
    by = summarize(results, by="category")
    assert by.loc["policy", "questions"] == 2
    assert by.loc["policy", "accuracy"] == 0.5
    assert by.loc["policy", "hit_rate"] == 1.0
    assert by.loc["product", "hit_rate"] == 0.0
    assert by.loc["unanswerable", "accuracy"] == 1.0
    assert pd.isna(by.loc["unanswerable", "hit_rate"])

"""The scoreboard: hand-worked metrics, one row per notebook, replaced on a rerun, written atomically."""

import math

import pandas as pd

from toolkit.evaluation import Scoreboard, score


def results(**overrides):
    frame = pd.DataFrame(
        {
            "answerable": [True, True, True, False, False],
            "correct": [True, False, True, True, False],
            "seen_hit": [True, False, True, None, None],
            "abstained": [False, False, False, True, False],
            "action": ["pass", "refused", "fixed", "refused", "pass"],
            "original_correct": [True, False, False, False, False],
            "cache_hit": ["", "", "", "", "exact"],
            "latency_s": [1.0, 2.0, 3.0, 4.0, 0.1],
            "calls": [
                [{"kind": "llm", "input_tokens": 2000, "output_tokens": 100}],
                [
                    {"kind": "llm", "input_tokens": 1000, "output_tokens": 50},
                    {"kind": "reask", "input_tokens": 1100, "output_tokens": 50},
                ],
                [{"kind": "llm", "input_tokens": 1000, "output_tokens": 0}],
                [],
                [],
            ],
        }
    )
    return frame.assign(**overrides)


def test_score_by_hand():
    row = score(results())
    # accuracy 3/5; gold seen for 2 of 3 answerable; 1 of 2 unanswerable declined; of the 4 answers that
    # were wrong before validation (rows 2-5), 3 were changed; p95 of [0.1, 1, 2, 3, 4] is 3.8
    assert {
        k: row[k] for k in ("questions", "accuracy", "seen_hit_rate", "abstention", "wrong_caught", "p95_latency_s")
    } == {
        "questions": 5,
        "accuracy": 0.6,
        "seen_hit_rate": 0.667,
        "abstention": 0.5,
        "wrong_caught": 0.75,
        "p95_latency_s": 3.8,
    }
    # gpt-4o-mini at $0.15 / $0.60 per million: 5100 input and 200 output tokens over 5 queries
    # = (5100 x 0.15 + 200 x 0.60) / 1e6 / 5 = 0.000177 per query, 0.177 per 1,000
    assert row["usd_per_1k"] == 0.177
    # one cache hit among four answers that needed a generation (row 4 made no call)
    assert row["cache_savings"] == 0.25


def test_no_validation_means_no_wrong_caught():
    assert math.isnan(score(results(action=[""] * 5))["wrong_caught"])


def test_a_rerun_replaces_its_row_and_rows_stay_in_notebook_order(tmp_path):
    board = Scoreboard(tmp_path / "pipelines" / "scoreboard.csv")
    assert list(board.table().columns) == [
        "notebook",
        "pipeline",
        "questions",
        "accuracy",
        "seen_hit_rate",
        "abstention",
        "wrong_caught",
        "p95_latency_s",
        "usd_per_1k",
        "cache_savings",
        "note",
    ]
    board.add("03_prompt_architecture", results(), "0123456789ab")
    board.add("01_minimum_viable_pipeline", results(action=[""] * 5), "ba9876543210")
    table = board.add("03_prompt_architecture", results(correct=[True] * 5), "0123456789ab")
    assert list(table.notebook) == ["01_minimum_viable_pipeline", "03_prompt_architecture"]
    assert list(board.table().accuracy) == [0.6, 1.0]
    assert list(board.table().pipeline) == ["ba9876543210", "0123456789ab"]
    assert [p.name for p in (tmp_path / "pipelines").iterdir()] == ["scoreboard.csv"]
    assert Scoreboard.show(board.table()).splitlines()[1].split()[:4] == [
        "01_minimum_viable_pipeline",
        "ba9876543210",
        "5",
        "0.6",
    ]


def test_a_metric_measured_elsewhere_needs_its_note(tmp_path):
    import pytest

    board = Scoreboard(tmp_path / "scoreboard.csv")
    with pytest.raises(ValueError, match="need a note"):
        board.add("07_cost_and_caching", results(), "v", cache_savings=0.8)
    table = board.add("07_cost_and_caching", results(), "v", cache_savings=0.818, note="on the traffic trace")
    assert (table.cache_savings[0], table.note[0]) == (0.818, "on the traffic trace")
    assert (
        board.table().note.tolist() == ["on the traffic trace"] and math.isnan(board.table().wrong_caught[0]) is False
    )

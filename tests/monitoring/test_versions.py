"""Versions compared with paired-bootstrap intervals, the A/A check, the seeded user simulation,
and the dashboard, on stores whose numbers are worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from toolkit.monitoring import aa_check, compare_versions, simulate_outcomes, write_dashboard
from toolkit.steps import RunRecord
from toolkit.tracking import RunStore


def add(store, label, i, *, answer, total_s, question=None):
    r = RunRecord(f"{label}-{i}", f"2026-12-01T10:{i:02d}:00+00:00", question or f"q{i}", answer=answer)
    r.total_s, r.cost_usd = total_s, 0.001
    store.record(r, version=label, label=label)
    return r


@pytest.fixture
def store(tmp_path):
    """20 questions. A answers all; A2 is A again; B (faster) abstains on questions 0-7."""
    store = RunStore(tmp_path / "runs.sqlite")
    for i in range(20):
        add(store, "A", i, answer="30 days.", total_s=1.0 + i / 100)
        add(store, "A2", i, answer="30 days.", total_s=1.0 + i / 100)
        add(store, "B", i, answer="I don't know." if i < 8 else "30 days.", total_s=0.5 + i / 100)
    return store


def test_the_worse_version_is_flagged_with_an_interval_that_excludes_zero(store):
    table = compare_versions(store, "A", ["A2", "B"], n_resamples=1000)
    b = table.loc[("B", "completed")]
    assert (b.questions, b.baseline_mean, b["mean"], b.delta) == (20, 1.0, 0.6, -0.4)
    assert b.ci_high < 0 and b.flagged and b.worse
    fast = table.loc[("B", "latency_s")]
    assert fast.delta == -0.5 and fast.flagged and not fast.worse  # faster is flagged, and better
    assert not table.loc["A2"].flagged.any()  # every A/A difference is exactly zero
    check = aa_check(table, "A2")
    assert check == {"metrics": 8, "flagged": 0, "false_alarm_rate": 0.0, "bound": 0.05, "ok": True}


def test_satisfaction_pairs_only_runs_rated_in_both_versions(store):
    for i in range(20):
        store.add_feedback(f"A-{i}", up=True)
        if i % 2 == 0:
            store.add_feedback(f"B-{i}", up=i >= 8)
    row = compare_versions(store, "A", ["B"], n_resamples=1000).loc[("B", "satisfied")]
    # B rated on 0, 2, ..., 18: down on 0, 2, 4, 6 (abstained), up on 8..18
    assert (row.questions, row["mean"], row.delta) == (10, 0.6, -0.4)


QUESTIONS = pd.DataFrame(
    [
        {
            "id": "p1",
            "question": "q-policy",
            "answer": "30 days",
            "aliases": [],
            "category": "policy",
            "answerable": True,
        },
        {
            "id": "s1",
            "question": "q-shop",
            "answer": "$24.99",
            "aliases": [],
            "category": "product",
            "answerable": True,
        },
        {
            "id": "u1",
            "question": "q-none",
            "answer": "",
            "aliases": [],
            "category": "unanswerable",
            "answerable": False,
        },
    ]
)


def test_the_simulation_is_seeded_labelled_and_goes_through_the_store(tmp_path):
    def simulate(seed):
        store = RunStore(tmp_path / f"runs-{seed}.sqlite")
        for i in range(10):
            add(store, "A", 3 * i, answer="30 days.", total_s=1.0, question="q-policy")
            add(store, "A", 3 * i + 1, answer="It costs $19.", total_s=1.0, question="q-shop")
            add(store, "A", 3 * i + 2, answer="I don't know.", total_s=1.0, question="q-none")
        counts = simulate_outcomes(store, QUESTIONS, seed=seed)
        return store, counts

    store, counts = simulate(0)
    again, counts_again = simulate(0)
    assert counts == counts_again
    outcomes = store.outcomes()
    assert outcomes.drop(columns=["timestamp"]).equals(again.outcomes().drop(columns=["timestamp"]))
    assert outcomes.comment.str.startswith("simulated").all()
    assert counts["effect"] == 10  # every answered policy question acts; product questions do not
    effects = outcomes[outcomes.kind == "effect"]
    assert set(effects.value) == {"ok"}  # the policy answers are right
    reviews = outcomes[outcomes.kind == "review"].merge(store.runs()[["run_id", "question"]], on="run_id")
    assert set(reviews[reviews.question == "q-shop"].value) <= {"rejected"}  # the wrong price
    assert set(reviews[reviews.question == "q-policy"].value) <= {"approved"}
    assert "q-none" not in set(reviews.question)  # an abstention is not reviewed
    assert 0 < counts["feedback"] < 30


def test_the_dashboard_is_one_self_contained_file(store, tmp_path):
    scoreboard = tmp_path / "scoreboard.csv"
    scoreboard.write_text("notebook,pipeline,accuracy\n01_minimum_viable_pipeline,abc,0.25\n", encoding="utf-8")
    path = write_dashboard(store, tmp_path / "report" / "dashboard.html", scoreboard=scoreboard)
    page = path.read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == 3  # latency, cost, business; no confidence recorded
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "60 runs from the run store, 0 unreadable rows skipped" in page
    assert "01_minimum_viable_pipeline" in page and "Calibration appears once a confidence step runs" in page.replace(
        "calibration appears", "Calibration appears"
    )


def test_calibration_appears_once_confidence_is_recorded(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    for i in range(10):
        r = RunRecord(f"r{i}", f"2026-12-01T10:{i:02d}:00+00:00", "q", answer="30 days.")
        r.part("confidence")["score"] = i / 10
        store.record(r, version="A")
    page = write_dashboard(store, tmp_path / "dashboard.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 4 and "<h2>Calibration</h2>" in page


def test_report_command_writes_the_dashboard(store, tmp_path, capsys):
    from toolkit.__main__ import main

    out = tmp_path / "dash.html"
    assert main(["report", "--store", str(store.path), "--out", str(out)]) == 0
    assert out.is_file() and f"dashboard: {out}" in capsys.readouterr().out
    assert main(["report", "--store", str(tmp_path / "missing.sqlite")]) == 2
    assert "no run store at" in capsys.readouterr().err

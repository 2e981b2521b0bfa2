"""Versions compared with paired-bootstrap intervals and the A/A check, on stores whose numbers
are worked out by hand."""

from __future__ import annotations

from toolkit.monitoring import aa_check, compare_versions
from toolkit.tracking import RunStore


def test_the_worse_version_is_flagged_with_an_interval_that_excludes_zero(store):
    table = compare_versions(store, "A", ["A2", "B"], n_resamples=1000)
    b = table.loc[("B", "completed")]
    assert (b.questions, b.baseline_mean, b["mean"], b.delta) == (20, 1.0, 0.6, -0.4)
    assert b.ci_high < 0 and b.flagged and b.worse
    fast = table.loc[("B", "latency_s")]
    assert fast.delta == -0.5 and fast.flagged and not fast.worse  # faster is flagged, and better
    assert not table.loc["A2"].flagged.any()  # every A/A difference is exactly zero
    check = aa_check(store, "A", "A2", replicates=5)
    assert check["as_run_flagged"] == [] and check["comparisons"] == 40
    # every metric's paired differences are zero except latency, which is also zero: no flags
    assert (check["flagged"], check["false_alarm_rate"], check["ok"]) == (0, 0.0, True)


def test_satisfaction_pairs_only_runs_rated_in_both_versions(store):
    for i in range(20):
        store.add_feedback(f"A-{i}", up=True)
        if i % 2 == 0:
            store.add_feedback(f"B-{i}", up=i >= 8)
    row = compare_versions(store, "A", ["B"], n_resamples=1000).loc[("B", "satisfied")]
    # B rated on 0, 2, ..., 18: down on 0, 2, 4, 6 (abstained), up on 8..18
    assert (row.questions, row["mean"], row.delta) == (10, 0.6, -0.4)


def test_the_aa_check_counts_false_alarms_over_relabellings(tmp_path, add_run):
    """Latency that differs by noise only: the relabelled A/A flags it in about 5% of replicates
    or fewer, while the as-run comparison of a real shift is flagged."""
    import numpy as np

    store = RunStore(tmp_path / "runs.sqlite")
    noise = np.random.default_rng(3).normal(0, 0.1, size=(2, 30))
    for i in range(30):
        add_run(store, "A", i, answer="30 days.", total_s=1.0 + noise[0, i])
        add_run(store, "A2", i, answer="30 days.", total_s=1.3 + noise[1, i])  # a real shift of 0.3 s
    check = aa_check(store, "A", "A2", replicates=20)
    assert check["as_run_flagged"] == ["latency_s"]
    assert check["comparisons"] == 160 and check["false_alarm_rate"] <= 0.05

"""The dashboard's aggregates as SQL over the run store, for stores too large to load into a
DataFrame (benchmarks/bench_run_store.py times each on 1,000,000 generated runs).

    >>> latency_by_version(store)      # doctest: +SKIP
    {'5c5dfaa0863f': {'runs': 24, 'p50_s': 0.61, 'p95_s': 1.2, 'p99_s': 1.4}}

They read the store's rollups (counts and sums per version, day and status, kept by every
write) and its indexes, and agree with metrics.py's definitions (tests/tracking/test_aggregates.py
checks that on one store): completion is `answered` and not rejected in review; satisfaction is
the share of thumbs up among feedback rows (every row counts, where metrics.py keeps a run's
last one); percentiles are nearest-rank on the sorted latencies (numpy's "lower" method).

Not here: per-run values and paired comparisons (metrics.py, toolkit.monitoring).
"""

from __future__ import annotations

__all__ = ["latency_by_version", "rates_by_version", "cost_by_day", "completion_by_version", "satisfaction_by_version"]


def latency_by_version(store, quantiles=(50, 95, 99)) -> dict:
    """Per version: runs and nearest-rank latency percentiles, read off the (version, total_s) index."""
    out = {}
    for version, count in store.query("SELECT version, count(*) FROM runs GROUP BY version"):
        row = {"runs": count}
        for q in quantiles:
            offset = min(count - 1, int(q / 100 * (count - 1)))
            row[f"p{q}_s"] = store.query(
                "SELECT total_s FROM runs WHERE version=? ORDER BY total_s LIMIT 1 OFFSET ?", (version, offset)
            )[0][0]
        out[version] = row
    return out


def rates_by_version(store) -> dict:
    """Per version: runs, error, escalation and refusal rates, mean cost and mean latency per query."""
    rows = store.query(
        "SELECT version, sum(runs), sum(CASE WHEN status='error' THEN runs ELSE 0 END), sum(CASE WHEN status='escalated' THEN runs ELSE 0 END),"
        " sum(CASE WHEN status='refused' THEN runs ELSE 0 END), sum(cost_usd), sum(total_s) FROM rollup GROUP BY version"
    )
    out = {}
    for version, runs, errors, escalated, refused, cost, seconds in rows:
        if runs:
            out[version] = {
                "runs": runs,
                "error_rate": errors / runs,
                "escalation_rate": escalated / runs,
                "refusal_rate": refused / runs,
                "cost_per_query": cost / runs,
                "mean_latency_s": seconds / runs,
            }
    return out


def cost_by_day(store) -> dict:
    """Mean cost per query per UTC day (the timestamp's date)."""
    rows = store.query(
        "SELECT day, sum(cost_usd), sum(runs) FROM rollup GROUP BY day HAVING sum(runs) > 0 ORDER BY day"
    )
    return {day: cost / runs for day, cost, runs in rows}


def completion_by_version(store) -> dict:
    """Per version: the share of runs answered and not rejected in review (an answered run
    rejected twice counts once)."""
    answered = dict(
        store.query(
            "SELECT version, sum(CASE WHEN status='answered' THEN runs ELSE 0 END) FROM rollup GROUP BY version"
        )
    )
    totals = dict(store.query("SELECT version, sum(runs) FROM rollup GROUP BY version"))
    rejected = dict(
        store.query(
            "SELECT r.version, count(DISTINCT o.run_id) FROM outcomes o JOIN runs r USING (run_id)"
            " WHERE o.kind='review' AND o.value='rejected' AND r.status='answered' GROUP BY r.version"
        )
    )
    return {v: (answered[v] - rejected.get(v, 0)) / totals[v] for v in totals if totals[v]}


def satisfaction_by_version(store) -> dict:
    """Per version: (share of thumbs up, feedback rows)."""
    rows = store.query(
        "SELECT version, sum(CASE WHEN value='up' THEN n ELSE 0 END), sum(n) FROM outcome_rollup WHERE kind='feedback' GROUP BY version"
    )
    return {version: (up / n, n) for version, up, n in rows if n}

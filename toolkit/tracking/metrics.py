"""Operational and business metrics from the run store's rows.

`per_run` turns the store's runs, model calls and outcomes into one row per run with a value
for every metric; the tables and the version comparison aggregate those rows. The metrics do
not know where feedback came from: a real user's thumbs and a simulated one look the same.

Operational, per version (or any column):
    latency p50 / p95 / p99, overall and per timed step (retrieve, generate), in seconds;
    error_rate (the run raised); cost_per_query (the run's model calls, retries, re-asks and
    judge calls included, a cache hit costs nothing; priced as `priced_as` when given, a labelled
    projection); cache_hit_rate; escalation_rate.
Business:
    completion     answered (not an error, not refused), not escalated, and not rejected later
                   in review: the share of runs that finished the user's task;
    satisfaction   share of thumbs up among the runs that got feedback (the last feedback counts);
    downstream_error_rate  share of answered runs later rejected in review or whose side effect
                   acted on a wrong answer;
    revenue_impact a model, not a measurement: deflected tickets (completed runs) times a cost per
                   ticket, minus what the pipeline cost.

    >>> import pandas as pd
    >>> runs = pd.DataFrame({"run_id": ["a", "b"], "version": ["v1", "v1"], "status": ["answered", "escalated"],
    ...     "total_s": [1.0, 3.0], "retrieve_s": [0.1, 0.1], "generate_s": [0.5, 2.5], "cost_usd": [0.01, 0.03],
    ...     "error": ["", ""], "question": ["q1", "q2"], "timestamp": ["t", "t"], "label": ["", ""]})
    >>> outcomes = pd.DataFrame({"run_id": ["a"], "kind": ["feedback"], "value": ["up"]})
    >>> frame = per_run(runs, outcomes)
    >>> frame[["completed", "escalated", "satisfied"]].to_dict("list")
    {'completed': [1.0, 0.0], 'escalated': [0.0, 1.0], 'satisfied': [1.0, nan]}
    >>> float(business(frame).loc["v1", "satisfaction"]), float(operational(frame).loc["v1", "latency_p50_s"])
    (1.0, 2.0)

Not here: the run store (run_store.py), the comparison with intervals (toolkit.monitoring).
"""

from __future__ import annotations

import math

__all__ = ["per_run", "operational", "business", "revenue_impact", "check_slos", "SLO_METRICS", "METRICS"]

# The per-run metrics a comparison bootstraps, and whether a higher value is better.
METRICS = {
    "latency_s": False,
    "cost_usd": False,
    "error": False,
    "cache_hit": True,
    "escalated": False,
    "completed": True,
    "satisfied": True,
    "downstream_error": False,
}

# SLO name -> (the column of operational() or business() it reads, "max" or "min")
SLO_METRICS = {
    "p50_latency_s": ("latency_p50_s", "max"),
    "p95_latency_s": ("latency_p95_s", "max"),
    "p99_latency_s": ("latency_p99_s", "max"),
    "error_rate": ("error_rate", "max"),
    "cost_per_query": ("cost_per_query", "max"),
    "escalation_rate": ("escalation_rate", "max"),
    "completion": ("completion", "min"),
    "satisfaction": ("satisfaction", "min"),
    "downstream_error_rate": ("downstream_error_rate", "max"),
}


def per_run(runs, outcomes=None, ledger=None, *, projected: bool = False):
    """One row per run (indexed by run_id) with every metric of METRICS plus the step timings.

    `runs`, `outcomes` and `ledger` are `RunStore.runs()`, `.outcomes()` and `.ledger()`. With
    `projected=True`, `cost_usd` is the ledger's projected dollars (a free local run priced as the
    hosted model the ledger names: a labelled projection); otherwise what the runs cost."""
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame(
        {
            "run_id": runs["run_id"],
            "timestamp": runs["timestamp"],
            "version": runs["version"],
            "label": runs["label"] if "label" in runs else "",
            "question": runs["question"],
            "status": runs["status"],
            "latency_s": runs["total_s"].astype(float),
            "retrieve_s": runs["retrieve_s"].astype(float),
            "generate_s": runs["generate_s"].astype(float),
        }
    ).set_index("run_id")
    frame["error"] = (runs["status"] == "error").astype(float).to_numpy()
    frame["escalated"] = (runs["status"] == "escalated").astype(float).to_numpy()
    hits = runs["cache.hit"] if "cache.hit" in runs else pd.Series([""] * len(runs))
    frame["cache_hit"] = hits.fillna("").astype(bool).astype(float).to_numpy()
    if projected:
        spent = ledger.groupby("run_id")["projected_usd"].sum().to_dict() if ledger is not None and len(ledger) else {}
        frame["cost_usd"] = [spent.get(run_id, 0.0) for run_id in frame.index]
    else:
        frame["cost_usd"] = runs["cost_usd"].astype(float).to_numpy()

    rejected, wrong_effect, satisfied = set(), set(), {}
    if outcomes is not None and len(outcomes):
        rejected = set(outcomes.run_id[(outcomes.kind == "review") & (outcomes.value == "rejected")])
        wrong_effect = set(outcomes.run_id[(outcomes.kind == "effect") & (outcomes.value == "wrong")])
        feedback = outcomes[outcomes.kind == "feedback"]
        satisfied = dict(zip(feedback.run_id, (feedback.value == "up").astype(float)))  # the last one wins
    answered = (frame["status"] == "answered").to_numpy()
    later_wrong = np.array([run_id in rejected or run_id in wrong_effect for run_id in frame.index])
    in_review = np.array([run_id in rejected for run_id in frame.index])
    frame["completed"] = (answered & ~in_review).astype(float)
    frame["downstream_error"] = np.where(answered, later_wrong.astype(float), np.nan)
    frame["satisfied"] = [satisfied.get(run_id, math.nan) for run_id in frame.index]
    return frame


def _percentile(values, q: float) -> float:
    import numpy as np

    values = np.asarray(values, dtype=float)
    return float(np.percentile(values, q)) if len(values) else math.nan


def operational(frame, by: str = "version"):
    """Latency percentiles (overall and per step), error rate, cost per query, cache hit rate and
    escalation rate per value of `by`."""
    import pandas as pd

    rows = {}
    for key, group in frame.groupby(by, sort=False):
        row = {"runs": len(group)}
        for column, name in (("latency_s", "latency"), ("retrieve_s", "retrieve"), ("generate_s", "generate")):
            for q in (50, 95, 99):
                row[f"{name}_p{q}_s"] = _percentile(group[column], q)
        row.update(
            error_rate=group["error"].mean(),
            cost_per_query=group["cost_usd"].mean(),
            cache_hit_rate=group["cache_hit"].mean(),
            escalation_rate=group["escalated"].mean(),
        )
        rows[key] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(by)


def business(frame, by: str = "version", *, cost_per_ticket: float = 0.0):
    """Task completion, satisfaction (with how many runs were rated), downstream error rate, and
    with `cost_per_ticket` the revenue model per value of `by` (see revenue_impact)."""
    import pandas as pd

    rows = {}
    for key, group in frame.groupby(by, sort=False):
        rated = group["satisfied"].dropna()
        downstream = group["downstream_error"].dropna()
        row = {
            "runs": len(group),
            "completion": group["completed"].mean(),
            "satisfaction": rated.mean() if len(rated) else math.nan,
            "rated": len(rated),
            "downstream_error_rate": downstream.mean() if len(downstream) else math.nan,
        }
        if cost_per_ticket:
            row["revenue_impact_usd"] = revenue_impact(group, cost_per_ticket)["net_usd"]
        rows[key] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(by)


def revenue_impact(frame, cost_per_ticket: float) -> dict:
    """A model with stated assumptions, not a measurement: every completed run deflected one
    support ticket a person would otherwise have handled at `cost_per_ticket` dollars; the
    pipeline's cost is what its runs cost (`cost_usd`). Downstream errors are not priced here
    (their cost depends on the business); they are reported beside it.

    >>> import pandas as pd
    >>> revenue_impact(pd.DataFrame({"completed": [1.0, 1.0, 0.0], "cost_usd": [0.5, 0.5, 0.5]}), 4.0)["net_usd"]
    6.5
    """
    deflected = int(frame["completed"].sum())
    cost = float(frame["cost_usd"].sum())
    return {
        "runs": len(frame),
        "deflected_tickets": deflected,
        "cost_per_ticket_usd": cost_per_ticket,
        "saved_usd": deflected * cost_per_ticket,
        "pipeline_cost_usd": cost,
        "net_usd": round(deflected * cost_per_ticket - cost, 6),
        "assumptions": "each completed run deflects one ticket; downstream errors unpriced",
    }


def check_slos(slo: dict[str, float], operational_row, business_row=None):
    """Each objective beside what was measured; `ok` is False where it is broken (an alert).

    >>> import pandas as pd
    >>> check_slos({"p95_latency_s": 2.0}, pd.Series({"latency_p95_s": 2.5}))["ok"].tolist()
    [False]
    """
    import pandas as pd

    from ..errors import ConfigError

    measured = {**dict(operational_row), **(dict(business_row) if business_row is not None else {})}
    rows = []
    for name, objective in slo.items():
        if name not in SLO_METRICS:
            raise ConfigError(f"unknown SLO {name!r}; known: {', '.join(SLO_METRICS)}")
        column, direction = SLO_METRICS[name]
        value = measured.get(column, math.nan)
        ok = (value <= objective) if direction == "max" else (value >= objective)
        rows.append(
            {
                "slo": name,
                "objective": f"{'<=' if direction == 'max' else '>='} {objective:g}",
                "measured": value,
                "ok": bool(ok) if not (isinstance(value, float) and math.isnan(value)) else False,
            }
        )
    return pd.DataFrame(rows)

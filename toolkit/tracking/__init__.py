"""Tracking: the run store every run lands in, and the operational and business metrics read
from it.

    >>> from toolkit.tracking import RunStore, operational  # doctest: +SKIP

Not here: serving the pipeline, load tests, version comparison and the dashboard
(toolkit.monitoring), which sit above the pipeline.
"""

from .aggregates import (
    completion_by_version,
    cost_by_day,
    latency_by_version,
    rates_by_version,
    satisfaction_by_version,
)
from .metrics import (
    SLO_METRICS,
    business,
    check_slos,
    operational,
    per_run,
    revenue_impact,
)
from .run_store import SCHEMA_VERSION, RunStore, RunStoreError, status_of
from .run_store_postgres import PostgresRunStore, run_store

__all__ = [
    "RunStore",
    "PostgresRunStore",
    "run_store",
    "RunStoreError",
    "SCHEMA_VERSION",
    "status_of",
    "per_run",
    "operational",
    "business",
    "revenue_impact",
    "check_slos",
    "SLO_METRICS",
    "latency_by_version",
    "rates_by_version",
    "cost_by_day",
    "completion_by_version",
    "satisfaction_by_version",
]

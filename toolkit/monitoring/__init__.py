"""Monitoring: the pipeline served over HTTP, a bounded load test, a seeded user simulation,
versions compared with paired-bootstrap intervals (and the A/A check), and the HTML dashboard.

    >>> from toolkit.monitoring import create_app, serve_in_thread, load_test  # doctest: +SKIP

Not here: the run store and the metrics themselves (toolkit.tracking), which sit below the
pipeline so that every run can land in the store.
"""

from .dashboard import figures, write_dashboard
from .loadtest import load_test, saturation
from .server import MAX_BODY_BYTES, create_app, is_loopback, serve, serve_in_thread
from .simulation import SIMULATED, simulate_outcomes
from .versions import FALSE_ALARM_BOUND, aa_check, compare_versions, run_versions

__all__ = [
    "create_app",
    "serve",
    "serve_in_thread",
    "is_loopback",
    "MAX_BODY_BYTES",
    "load_test",
    "saturation",
    "simulate_outcomes",
    "SIMULATED",
    "run_versions",
    "compare_versions",
    "aa_check",
    "FALSE_ALARM_BOUND",
    "figures",
    "write_dashboard",
]

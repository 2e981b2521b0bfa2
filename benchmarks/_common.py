"""Shared helpers for the benchmark scripts: timing, medians, and writing results/<name>.json."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def timed(function, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - started, value


def median(values) -> float:
    return statistics.median(values)


def code_commit() -> str:
    """The commit of the code as it is now, with "+uncommitted" when the working tree differs from it.

    Changed result files do not count: they are outputs, and benchmarks run one after another
    each leave one behind.
    """
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", ".", ":(exclude)benchmarks/results"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + ("+uncommitted" if dirty.stdout.strip() else "")


# Read when a benchmark starts (every script imports this module first), so that an edit made
# while it runs cannot relabel the code it measured.
CODE_COMMIT = code_commit()


def record(name: str, results: dict) -> None:
    """Write results with the commit they were measured at, the command and the machine."""
    RESULTS.mkdir(exist_ok=True)
    payload = {
        "benchmark": name,
        "commit": CODE_COMMIT,
        "command": "python " + " ".join([os.path.relpath(os.path.abspath(sys.argv[0]), ROOT)] + sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "results": results,
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(payload["results"], indent=2))

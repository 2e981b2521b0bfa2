"""The tour from a fresh clone: every notebook's seconds and the total, from an empty state folder.

    python benchmarks/bench_tour.py

Clones the repository at HEAD into a temporary folder and runs `python -m toolkit tour` there,
with an empty TOOLKIT_HOME and the clone first on PYTHONPATH (so the clone's code runs, in this
interpreter's installed packages: the install itself is not timed; README gives its minutes). The
notebooks' kernels inherit both. The tour's own scorecard (report/scorecard.json) gives each
notebook's seconds, kernel start included, and whether its checkpoints passed; the wall time of
the whole tour is measured around it. The design's budget is 2 minutes a notebook.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, record

BUDGET_S = 120


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="toolkit-tour-") as folder:
        clone, home = Path(folder) / "clone", Path(folder) / "home"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        env = {**os.environ, "TOOLKIT_HOME": str(home), "PYTHONPATH": str(clone)}
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "toolkit", "tour"], cwd=clone, env=env)
        wall_s = time.perf_counter() - started
        scores = json.loads((clone / "report" / "scorecard.json").read_text(encoding="utf-8"))
    notebooks = {s["notebook"]: {"seconds": s["seconds"], "passed": s["passed"], "error": s["error"]} for s in scores}
    seconds = [s["seconds"] for s in scores]
    record(
        "tour",
        {
            "exit_status": done.returncode,
            "notebooks": notebooks,
            "passed": sum(s["passed"] for s in scores),
            "total_notebook_s": round(sum(seconds), 1),
            "total_minutes": round(sum(seconds) / 60, 1),
            "wall_s": round(wall_s, 1),
            "slowest_s": max(seconds),
            "over_budget": [name for name, s in notebooks.items() if s["seconds"] > BUDGET_S],
            "budget_s": BUDGET_S,
        },
    )


if __name__ == "__main__":
    main()

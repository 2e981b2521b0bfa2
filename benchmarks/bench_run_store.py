"""The run store's speed: what recording adds to `ask`, and the dashboard's aggregates over a
store of 1,000,000 *generated* runs (targets: at most 2 ms per record, under 1 s per aggregate).

    python benchmarks/bench_run_store.py [--runs 1000000] [--records 500]

Recording: `RunStore.record` of a realistic RunRecord (five step parts, one model call) into a
store on disk, timed one at a time; the median is what `ask` pays per run.

Aggregates: the store is filled with generated rows (four versions, a status mix, lognormal
latencies, a cost per run, feedback on 20% of runs and review decisions on 10%), written with
one bulk transaction, the rollups computed from them as every write keeps them (how rows are
written does not change how they are read). Each aggregate
of toolkit.tracking.aggregates runs three times; the median is reported.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import median, record

from toolkit.steps import RunRecord
from toolkit.tracking import (
    RunStore,
    completion_by_version,
    cost_by_day,
    latency_by_version,
    rates_by_version,
    satisfaction_by_version,
)


def sample_record(i: int) -> RunRecord:
    r = RunRecord(f"bench-{i}", "2026-12-01T10:00:00+00:00", "How long do I have to return an item?")
    r.answer, r.model, r.total_s, r.retrieve_s, r.generate_s = "You have 30 days.", "extractive:quote", 0.6, 0.1, 0.4
    r.sources = ["policies/returns.md", "policies/shipping.md", "faq/orders.md"]
    r.calls = [{"kind": "llm", "model": "extractive:quote", "input_tokens": 0, "output_tokens": 0,
                "attempts": 1, "cache_hit": "", "seconds": 0.4}]  # fmt: skip
    r.part("prompt")["spec_version"] = "c404e35c2348"
    r.part("retry").update(attempts=1, tier="extractive:quote")
    r.part("cache")["hit"] = ""
    r.part("validate").update(action="pass", failed=[], ticket="", original=r.answer)
    return r


def fill(store: RunStore, runs: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    versions = np.array(["v1", "v2", "v3", "v4"])[rng.integers(0, 4, runs)]
    status = np.array(["answered", "refused", "escalated", "error"])[rng.choice(4, runs, p=[0.8, 0.1, 0.07, 0.03])]
    latency = rng.lognormal(-0.5, 0.6, runs)
    cost = rng.uniform(0, 0.0002, runs)
    start = np.datetime64("2026-11-01T00:00:00")
    stamps = (start + (np.arange(runs) * (30 * 86400 // runs)).astype("timedelta64[s]")).astype(str)
    started = time.perf_counter()
    conn = store._connect()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO runs (run_id, timestamp, version, label, origin, status, question, answer, model, error,"
        " total_s, retrieve_s, generate_s, input_tokens, output_tokens, cost_usd, compute_s, sources)"
        " VALUES (?, ?, ?, '', 'generated', ?, 'q', 'a', 'm', '', ?, ?, ?, 400, 20, ?, 0, '[]')",
        (
            (f"g{i}", stamps[i] + "+00:00", versions[i], status[i], latency[i], latency[i] / 5, latency[i] / 2, cost[i])
            for i in range(runs)
        ),
    )
    conn.executemany(
        "INSERT INTO fields VALUES (?, 'validate.action', ?)",
        ((f"g{i}", '"escalated"' if status[i] == "escalated" else '"pass"') for i in range(runs)),
    )
    rated = np.flatnonzero(rng.random(runs) < 0.2)
    reviewed = np.flatnonzero(rng.random(runs) < 0.1)
    conn.executemany(
        "INSERT INTO outcomes (run_id, timestamp, kind, value, comment) VALUES (?, '2026-12-01', 'feedback', ?, '')",
        ((f"g{i}", "up" if rng.random() < 0.7 else "down") for i in rated),
    )
    conn.executemany(
        "INSERT INTO outcomes (run_id, timestamp, kind, value, comment) VALUES (?, '2026-12-01', 'review', ?, '')",
        ((f"g{i}", "approved" if rng.random() < 0.8 else "rejected") for i in reviewed),
    )
    # the rollups every write keeps, computed once from the generated rows
    conn.execute("DELETE FROM rollup")
    conn.execute(
        "INSERT INTO rollup SELECT version, substr(timestamp, 1, 10), status, count(*), sum(cost_usd), sum(total_s)"
        " FROM runs GROUP BY 1, 2, 3"
    )
    conn.execute(
        "INSERT INTO outcome_rollup SELECT r.version, o.kind, o.value, r.status, count(*)"
        " FROM outcomes o JOIN runs r USING (run_id) GROUP BY 1, 2, 3, 4"
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--records", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = RunStore(Path(folder) / "record.sqlite")
        per_record = []
        for i in range(args.records):
            r = sample_record(i)
            started = time.perf_counter()
            store.record(r, version="v1", origin="benchmark")
            per_record.append(time.perf_counter() - started)

        big = RunStore(Path(folder) / "big.sqlite")
        fill_s = fill(big, args.runs)
        aggregates = {}
        for name, function in [
            ("latency_by_version", latency_by_version),
            ("rates_by_version", rates_by_version),
            ("cost_by_day", cost_by_day),
            ("completion_by_version", completion_by_version),
            ("satisfaction_by_version", satisfaction_by_version),
        ]:
            times = []
            for _ in range(3):
                started = time.perf_counter()
                function(big)
                times.append(time.perf_counter() - started)
            aggregates[name] = round(median(times), 3)
        size_mb = round((Path(folder) / "big.sqlite").stat().st_size / 1e6, 1)
    results = {
        "record": {
            "records": args.records,
            "median_ms": round(1000 * median(per_record), 3),
            "p95_ms": round(1000 * float(np.percentile(per_record, 95)), 3),
            "target": "at most 2 ms per recorded run",
            "met": 1000 * median(per_record) <= 2,
        },
        "aggregates": {
            "runs": args.runs,
            "rows": "generated (see the docstring), not real runs",
            "fill_s": round(fill_s, 1),
            "store_mb": size_mb,
            "median_s": aggregates,
            "target": "under 1 s each",
            "met": all(v < 1 for v in aggregates.values()),
        },
        "note": "the machine is shared with other jobs; medians of repeated timings",
    }
    record("run_store", results)


if __name__ == "__main__":
    main()

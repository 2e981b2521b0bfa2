"""Throughput and tail latency of the served pipeline under 1, 2, 4 and 8 concurrent clients.

    python benchmarks/bench_serve.py [--requests 32] [--llm extractive]

Notebook 07's pipeline configuration with a run store, served by uvicorn on a free loopback
port in this process (`toolkit.monitoring.serve_in_thread`), answering with the extractive
answerer unless `--llm` says otherwise. At each level that many httpx clients (one thread each)
share `--requests` questions from a fixed, seeded sample; the response cache is emptied before
each level so every level measures the whole pipeline. The clients run on the same 2 cores as
the server, and the machine may be shared with other jobs: read the curve as this machine's.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from _common import record

import toolkit
from toolkit.cost import Cache
from toolkit.evaluation import sample_questions
from toolkit.monitoring import create_app, load_test, saturation, serve_in_thread

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--llm", default="extractive")
    args = parser.parse_args()
    os.environ.setdefault("TOOLKIT_HOME", tempfile.mkdtemp(prefix="bench-serve-"))
    settings = toolkit.setup_notebook(llm=args.llm)
    config = toolkit.PipelineConfig.load(ROOT / "notebooks/pipelines/07_cost_and_caching.yaml").with_changes(
        store="runs.sqlite"
    )
    pipeline = toolkit.Pipeline.from_config(config, settings=settings)
    pipeline.ask("How long do I have to return an item?")  # warm-up: loads both models
    cache = next(m for m in pipeline.client.middleware if isinstance(m, Cache)).cache
    questions = list(sample_questions(toolkit.demo.load_questions(), 16, seed=3).question)
    with serve_in_thread(create_app(pipeline)) as url:
        curve = load_test(url, questions, clients=(1, 2, 4, 8), requests=args.requests, before_level=cache.clear)
    rows = {
        int(level): {k: round(float(v), 3) for k, v in row.items()} for level, row in curve.to_dict("index").items()
    }
    record(
        "serve",
        {
            "pipeline": f"07_cost_and_caching + store (version {config.version})",
            "llm": settings.llm,
            "requests_per_level": args.requests,
            "curve": rows,
            "saturates_at_clients": saturation(curve),
            "note": "one pipeline answers one question at a time (a lock); clients and server share the "
            "machine's 2 cores, and the machine is shared with other jobs",
        },
    )


if __name__ == "__main__":
    main()

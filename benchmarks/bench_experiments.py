"""A cached experiment rerun over 80 questions: under 5 s.

    python benchmarks/bench_experiments.py [--questions 80] [--rounds 5]

First the experiment runs for real (two specs over a seeded sample of 80 questions with the
extractive answerer, so filling the cache takes seconds rather than SmolLM2's minutes; the
results file holds the same rows whatever model produced them). Then it is rerun: in the same
process (a notebook cell run again) and in a fresh process (a restarted kernel, imports included).
Each rerun must find every item in the results file and call no model.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from _common import median, record, timed

import toolkit
from toolkit.evaluation.experiments import run_experiment

SPECS = ["default", "cited"]
FRESH = """
import time
started = time.perf_counter()
from toolkit.evaluation.experiments import run_experiment
results = run_experiment({specs!r}, sample={n}, models=["extractive"], name="bench-experiments")
assert results.attrs["computed"] == 0, results.attrs
print(time.perf_counter() - started)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=80)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    settings = toolkit.setup_notebook()
    path = settings.home / "experiments" / "bench-experiments.jsonl"
    path.unlink(missing_ok=True)

    def run():
        return run_experiment(SPECS, sample=args.questions, models=["extractive"], name="bench-experiments")

    first_s, first = timed(run)
    assert first.attrs["computed"] == len(first) == args.questions * len(SPECS)
    in_process = []
    for _ in range(args.rounds):
        seconds, again = timed(run)
        assert again.attrs["computed"] == 0 and again.equals(first)
        in_process.append(seconds)
    fresh = []
    for _ in range(args.rounds):
        out = subprocess.run(
            [sys.executable, "-c", FRESH.format(specs=SPECS, n=args.questions)],
            capture_output=True,
            text=True,
            check=True,
        )
        fresh.append(float(out.stdout.strip().splitlines()[-1]))
    results = {
        "questions": args.questions,
        "cells": len(SPECS),
        "items": len(first),
        "first_run_s": round(first_s, 2),
        "cached_rerun_in_process_median_s": round(median(in_process), 4),
        "cached_rerun_fresh_process_median_s": round(median(fresh), 3),
        "rounds": args.rounds,
        "target": "cached rerun over 80 questions under 5 s",
    }
    results["met"] = (
        max(results["cached_rerun_in_process_median_s"], results["cached_rerun_fresh_process_median_s"]) < 5
    )
    record("experiments", results)


if __name__ == "__main__":
    main()

"""Query latency of `ask` on the bundled corpus, with the model already loaded: median under 3 s.

    python benchmarks/bench_ask.py [--questions 24]

The index is built (or updated) first, one warm-up question loads both models, then each of a
fixed, seeded sample of evaluation questions is asked once: retrieve top 3, prompt, generate.
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import median, record

import toolkit
from toolkit.demo import load_questions
from toolkit.evaluation.answers import sample_questions


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=24)
    args = parser.parse_args()
    settings = toolkit.setup_notebook()
    pipeline = toolkit.Pipeline.bundled(settings=settings)
    pipeline.ask("How long do I have to return an item?")  # warm-up: loads and touches both models
    pipeline.records.clear()
    for question in sample_questions(load_questions(), args.questions, seed=1).question:
        pipeline.ask(question, raise_errors=False)
    runs = pipeline.runs()
    latency = sorted(runs.total_s)
    results = {
        "questions": len(runs),
        "errors": int((runs.error != "").sum()),
        "median_s": round(median(latency), 3),
        "p90_s": round(float(np.percentile(latency, 90)), 3),
        "max_s": round(latency[-1], 3),
        "median_retrieve_s": round(runs.retrieve_s.median(), 4),
        "median_generate_s": round(runs.generate_s.median(), 3),
        "median_input_tokens": float(runs.input_tokens.median()),
        "median_output_tokens": float(runs.output_tokens.median()),
        "settings": {
            "llm": settings.llm,
            "top_k": settings.top_k,
            "chunk_size": settings.chunk_size,
            "max_output_tokens": settings.max_output_tokens,
        },
        "target": "median under 3 s",
    }
    results["met"] = results["median_s"] < 3
    record("ask", results)


if __name__ == "__main__":
    main()

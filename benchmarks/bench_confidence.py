"""What the confidence score adds to an answer once its signals exist: the Score step's own
time (signals read from the run, then the calibrated probability), per answer.

    python benchmarks/bench_confidence.py [--questions 106]

The pipeline is notebook 05's configuration with freshness and the confidence steps, the extractive answerer as the model,
so the runs are fast and every step but generation is the real one; the calibrator is fitted on
the runs' own signals (a timing benchmark: its quality is not the point). Log-probabilities are
read from the model's reply; the local model computes them from logits llama.cpp has anyway,
so they add no model call (tests/models/test_local.py checks the reply carries them).
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import record

import toolkit
from toolkit.confidence import Calibrator
from toolkit.demo import load_questions
from toolkit.evaluation.answers import answer_correct
from toolkit.steps import Score


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=106)
    args = parser.parse_args()
    config = toolkit.PipelineConfig.load("notebooks/pipelines/05_designing_for_failure.yaml")
    config = config.with_changes(
        settings={**config.settings, "llm": "extractive"},
        retriever={**config.retriever.model_dump(), "prefer_current": True},
        confidence={"extractive": True},
    )
    pipeline = toolkit.Pipeline.from_config(config, base="notebooks/pipelines")
    questions = load_questions().head(args.questions)
    answers = [pipeline.ask(q.question) for q in questions.itertuples()]
    signals = [a.record.get("confidence.signals") for a in answers]
    usable = [name for name in signals[0] if all(s.get(name) is not None for s in signals)]
    labels = [
        answer_correct(a.text, q.answer, q.aliases, q.answerable) for a, q in zip(answers, questions.itertuples())
    ]
    calibrator = Calibrator.fit(signals, labels, signals=usable, pipeline_version=config.signal_version)
    step = Score(calibrator)
    per_answer, totals = [], []
    for answer, q in zip(answers, questions.itertuples()):
        # Score the finished run again, with the calibrator: the step's own cost, nothing else.
        run = toolkit.steps.Run(q.question, answer.record, pipeline=pipeline)
        run.hits, run.context, run.text = pipeline.retrieve(q.question), answer.context, answer.text
        started = time.perf_counter()
        step(run)
        per_answer.append(time.perf_counter() - started)
        totals.append(answer.record.total_s)
    record(
        "confidence",
        {
            "answers": len(per_answer),
            "signals": usable,
            "score_ms_median": round(statistics.median(per_answer) * 1000, 3),
            "score_ms_p95": round(sorted(per_answer)[int(0.95 * len(per_answer)) - 1] * 1000, 3),
            "score_ms_max": round(max(per_answer) * 1000, 3),
            "ask_s_median": round(statistics.median(totals), 3),
            "target_ms": 5.0,
        },
    )


if __name__ == "__main__":
    main()

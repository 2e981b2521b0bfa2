"""Validators without LLM judges: time added per answer. Target: median under 20 ms.

    python benchmarks/bench_validators.py [--rounds 5]

Every answer of the labeled set (datasets/tidewell/eval/validation_outputs.jsonl) goes through
the bundled validators (schema for JSON answers, business rules, grounding, safety), timed one
answer at a time. The grounding validator's term cache is cleared before each answer, so every
answer pays for reading its own context, as a fresh answer would. Models load outside the timing.

For scale, the same claim-support question is also timed the other way the issue allows: the
embedded MiniLM model embedding each claim sentence and each context sentence (cosine
similarity), on the same answers. That is why the grounding validator uses lexical overlap.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np
from _common import median, record

import toolkit
from toolkit.demo import validators as tidewell_validators
from toolkit.evaluation.validators import _output, load_labeled_outputs
from toolkit.models.providers import make_embed_model
from toolkit.prompting.spec import CitedAnswer
from toolkit.validation.checks import content_terms, split_sentences


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    settings = toolkit.setup_notebook()
    labeled = load_labeled_outputs()
    validators = tidewell_validators(CitedAnswer, today=dt.date(2026, 11, 27))
    outputs = [(_output(row), row.format) for row in labeled.itertuples()]
    for output, _ in outputs[:3]:  # warm-up: stop words, stemmer, compiled patterns
        [v.check(output) for v in validators]

    per_answer, per_validator = [], {v.name: [] for v in validators}
    for _ in range(args.rounds):
        for output, fmt in outputs:
            content_terms.cache_clear()
            started = time.perf_counter()
            for validator in validators:
                if validator.name == "schema" and fmt != "json":
                    continue
                t0 = time.perf_counter()
                validator.check(output)
                per_validator[validator.name].append(time.perf_counter() - t0)
            per_answer.append(time.perf_counter() - started)

    embed_model = make_embed_model(settings)
    embed_model.get_text_embedding_batch(["warm up"])
    embedded = []
    for output, _ in outputs:
        started = time.perf_counter()
        claims = split_sentences(output.answer)
        sentences = [s for _, text in output.context for s in split_sentences(" ".join(text.split()))]
        vectors = np.asarray(embed_model.get_text_embedding_batch(claims + sentences), dtype="float32")
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        (vectors[: len(claims)] @ vectors[len(claims) :].T).max(axis=1)
        embedded.append(time.perf_counter() - started)

    ms = sorted(x * 1000 for x in per_answer)
    results = {
        "answers": len(outputs),
        "rounds": args.rounds,
        "validators": [v.name for v in validators],
        "per_answer_median_ms": round(median(ms), 3),
        "per_answer_p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 3),
        "per_answer_max_ms": round(ms[-1], 3),
        "per_validator_median_ms": {k: round(median(v) * 1000, 3) for k, v in per_validator.items()},
        "minilm_claim_support_median_ms": round(median(embedded) * 1000, 2),
        "target": "per_answer_median_ms < 20",
    }
    results["met"] = results["per_answer_median_ms"] < 20
    record("validators", results)


if __name__ == "__main__":
    main()

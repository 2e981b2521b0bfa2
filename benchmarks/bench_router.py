"""What routing adds per question once the question's embedding exists: the learned router's
prediction, the rules router's lookup and the cascade's threshold walk, each timed per question.

    python benchmarks/bench_router.py [--repeats 5]

The routers are fitted as notebook 08 fits them: on the `dev` half of the 240 customer-style
questions, from the stored tier answers in notebooks/pipelines/08_model_tiering.answers.jsonl
(no model call), with the embeddings of the bundled embedding model. Each `test` question is
routed `--repeats` times; the median and p95 are over every timed call.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd
from _common import record

import toolkit
from toolkit.demo import load_questions, tidewell_customer_questions
from toolkit.models import make_embed_model
from toolkit.routing import LearnedRouter, Outcomes, fit_cascade, question_kind, rules_policy

ANSWERS = "notebooks/pipelines/08_model_tiering.answers.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    customer = load_questions(tidewell_customer_questions())
    dev, test = customer[customer.split == "dev"], customer[customer.split == "test"]
    answers = pd.read_json(ANSWERS, lines=True).iloc[1:]  # the header line first
    correct = answers.pivot(index="question_id", columns="tier", values="correct").astype(float)
    # The cascade's walk does not depend on where the scores come from: the extractive
    # similarity stands in for each tier's calibrated confidence here.
    score = answers.assign(s=[(s or {}).get("extractive_similarity") for s in answers.signals])
    score = score.pivot(index="question_id", columns="tier", values="s").astype(float)
    order = ["extractive", "smollm2", "gemma-served"]
    table = Outcomes.from_frames(correct, score, correct * 0.0, order=order, review_usd=1.0)
    embed = make_embed_model(toolkit.load_settings())
    embeddings = pd.DataFrame([embed.get_query_embedding(q) for q in customer.question], index=customer.id)
    router = LearnedRouter().fit(embeddings.loc[dev.id], table.subset(dev.id))
    kinds = customer.set_index("id").question.map(question_kind)
    rules, _ = rules_policy(table.subset(dev.id), kinds)
    cascade = fit_cascade(table.subset(dev.id), target=0.7)

    def walk(q):
        for tier in order:
            if score.at[q, tier] >= cascade.thresholds.get(tier, 2.0):
                return tier
        return "review"

    timings = {
        "learned router (predict from the embedding)": [],
        "rules router (kind, then lookup)": [],
        "cascade (threshold walk)": [],
    }
    for _ in range(args.repeats):
        for q in test.itertuples():
            vector = embeddings.loc[q.id].to_numpy()
            calls = {
                "learned router (predict from the embedding)": (router.route, vector),
                "rules router (kind, then lookup)": (lambda text: rules.get(question_kind(text), "review"), q.question),
                "cascade (threshold walk)": (walk, q.id),
            }
            for name, (call, argument) in calls.items():
                started = time.perf_counter()
                call(argument)
                timings[name].append((time.perf_counter() - started) * 1000)
    results = {
        name: {
            "calls": len(values),
            "median_ms": round(statistics.median(values), 4),
            "p95_ms": round(float(np.percentile(values, 95)), 4),
        }
        for name, values in timings.items()
    }
    results["target"] = "the router adds at most 2 ms per question, given the question's embedding"
    record("router", results)


if __name__ == "__main__":
    main()

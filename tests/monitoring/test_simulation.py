"""The seeded user simulation: reproducible, labelled simulated, written through the store's
public calls, and deciding by the gold answers."""

from __future__ import annotations

import pandas as pd

from toolkit.monitoring import simulate_outcomes
from toolkit.steps import RunRecord
from toolkit.tracking import RunStore


def add(store, label, i, *, answer, total_s, question=None):
    r = RunRecord(f"{label}-{i}", f"2026-12-01T10:{i:02d}:00+00:00", question or f"q{i}", answer=answer)
    r.total_s, r.cost_usd = total_s, 0.001
    store.record(r, version=label, label=label)
    return r


QUESTIONS = pd.DataFrame(
    [
        {
            "id": "p1",
            "question": "q-policy",
            "answer": "30 days",
            "aliases": [],
            "category": "policy",
            "answerable": True,
        },
        {
            "id": "s1",
            "question": "q-shop",
            "answer": "$24.99",
            "aliases": [],
            "category": "product",
            "answerable": True,
        },
        {
            "id": "u1",
            "question": "q-none",
            "answer": "",
            "aliases": [],
            "category": "unanswerable",
            "answerable": False,
        },
    ]
)


def test_the_simulation_is_seeded_labelled_and_goes_through_the_store(tmp_path):
    def simulate(seed):
        store = RunStore(tmp_path / f"runs-{seed}.sqlite")
        for i in range(10):
            add(store, "A", 3 * i, answer="30 days.", total_s=1.0, question="q-policy")
            add(store, "A", 3 * i + 1, answer="It costs $19.", total_s=1.0, question="q-shop")
            add(store, "A", 3 * i + 2, answer="I don't know.", total_s=1.0, question="q-none")
        counts = simulate_outcomes(store, QUESTIONS, seed=seed)
        return store, counts

    store, counts = simulate(0)
    again, counts_again = simulate(0)
    assert counts == counts_again
    outcomes = store.outcomes()
    assert outcomes.drop(columns=["timestamp"]).equals(again.outcomes().drop(columns=["timestamp"]))
    assert outcomes.comment.str.startswith("simulated").all()
    assert counts["effect"] == 10  # every answered policy question acts; product questions do not
    effects = outcomes[outcomes.kind == "effect"]
    assert set(effects.value) == {"ok"}  # the policy answers are right
    reviews = outcomes[outcomes.kind == "review"].merge(store.runs()[["run_id", "question"]], on="run_id")
    assert set(reviews[reviews.question == "q-shop"].value) <= {"rejected"}  # the wrong price
    assert set(reviews[reviews.question == "q-policy"].value) <= {"approved"}
    assert "q-none" not in set(reviews.question)  # an abstention is not reviewed
    assert 0 < counts["feedback"] < 30

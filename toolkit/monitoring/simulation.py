"""A simulated user and reviewer for the bundled Tidewell questions: seeded, documented, and
labelled simulated everywhere it is shown. It writes through the run store's public calls
(`add_feedback`, `add_review`, `add_effect`), so the metrics cannot tell it from real users.

The model (assumptions, not measurements):
- a user rates a run with probability `rate` (0.6);
- a rating is a thumbs up with probability 0.9 when the answer is right (the gold answer is in
  it, or it abstains on an unanswerable question; the string match of toolkit.evaluation) and
  0.15 when it is wrong (some users do not notice);
- a reviewer audits a share `audit` (0.5) of answered runs and rejects those that are wrong;
- a question of category `policy` or `support` acts on its answer (a refund, a ticket): that
  side effect is `wrong` when the answer was wrong.

The random numbers belong to the question, not to the run (common random numbers, seeded by
`seed` and the question's text): the same user asks the same question of every version, and
the reviewer audits the same questions. Two versions that answer a question alike get the same
outcome for it, so a paired comparison sees only where the answers differ.

    >>> counts = simulate_outcomes(store, questions, seed=0)  # doctest: +SKIP
    >>> counts["feedback"]                                    # doctest: +SKIP
    14

Not here: the metrics (toolkit.tracking.metrics).
"""

from __future__ import annotations

from ..evaluation import answer_correct

__all__ = ["simulate_outcomes", "SIMULATED", "ACTING_CATEGORIES"]

SIMULATED = "simulated"  # every comment the simulation writes starts with this word
ACTING_CATEGORIES = ("policy", "support")


def simulate_outcomes(
    store,
    questions,
    *,
    seed: int = 0,
    rate: float = 0.6,
    up_if_right: float = 0.9,
    up_if_wrong: float = 0.15,
    audit: float = 0.5,
    label: str | None = None,
) -> dict:
    """Feedback, reviews and side effects for every stored run (of `label`, if given) whose
    question is among `questions` (the Tidewell question table); returns how many of each."""
    import zlib

    import numpy as np

    gold = {q.question: q for q in questions.itertuples()}
    counts = {"feedback": 0, "review": 0, "effect": 0}
    runs = store.runs(label=label)
    for run in runs.itertuples():
        q = gold.get(run.question)
        if q is None:
            continue
        right = answer_correct(run.answer, q.answer, q.aliases, q.answerable) and run.status != "error"
        # The question's own draws (see the module docstring), used or not.
        rated, thumbs, audited = np.random.default_rng([seed, zlib.crc32(run.question.encode())]).random(3)
        if rated < rate:
            up = thumbs < (up_if_right if right else up_if_wrong)
            store.add_feedback(run.run_id, up=bool(up), comment=f"{SIMULATED} user")
            counts["feedback"] += 1
        if run.status == "answered" and audited < audit:
            store.add_review(run.run_id, approved=bool(right), comment=f"{SIMULATED} reviewer")
            counts["review"] += 1
        if run.status == "answered" and q.category in ACTING_CATEGORIES:
            store.add_effect(run.run_id, ok=bool(right), comment=f"{SIMULATED} {q.category} action")
            counts["effect"] += 1
    return counts

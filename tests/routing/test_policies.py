"""Routing policies over a hand-made table of four questions and two model tiers (A free, B one
cent), plus review at a dollar; every figure below is worked by hand in the comments."""

import pandas as pd
import pytest

from toolkit.errors import ConfigError
from toolkit.routing import (
    REVIEW,
    CascadePolicy,
    LearnedRouter,
    Outcomes,
    evaluate,
    fit_cascade,
    pareto_front,
    question_kind,
    rules_policy,
    single_tier,
)

QS = ["q1", "q2", "q3", "q4"]


@pytest.fixture
def table():
    correct = pd.DataFrame({"A": [1, 0, 0, 1], "B": [1, 1, 0, 0]}, index=QS)
    score = pd.DataFrame({"A": [0.9, 0.3, 0.2, 0.6], "B": [0.8, 0.7, 0.1, 0.4]}, index=QS)
    usd = pd.DataFrame({"A": [0.0] * 4, "B": [0.01] * 4}, index=QS)
    return Outcomes.from_frames(correct, score, usd, order=["A", "B"], review_usd=1.0)


def test_single_tiers_read_accuracy_and_cost_from_the_table(table):
    assert table.order == ["A", "B", REVIEW]
    a, b, review = (evaluate(table, single_tier(table, t)) for t in table.order)
    assert (a["accuracy"], a["usd_per_question"]) == (0.5, 0.0)
    assert (b["accuracy"], b["usd_per_question"]) == (0.5, 0.01)
    assert (review["accuracy"], review["usd_per_question"]) == (1.0, 1.0)


def test_a_cascade_pays_for_every_tier_it_tried(table):
    # q1: A 0.9 kept; q2: A 0.3 passed on, B 0.7 kept; q3: A 0.2, B 0.1, review; q4: A 0.6 kept.
    choice = CascadePolicy({"A": 0.5, "B": 0.6}).choose(table)
    assert choice.tier.tolist() == ["A", "B", REVIEW, "A"]
    assert choice.tiers_paid("q3") == ["A", "B", REVIEW]
    result = evaluate(table, choice)
    assert result["accuracy"] == 1.0
    assert result["usd_per_question"] == pytest.approx((0 + 0.01 + 1.01 + 0) / 4)
    assert result["mix"] == {"A": 0.5, "B": 0.25, REVIEW: 0.25}


def test_thresholds_are_fitted_tier_by_tier_over_the_questions_that_reach_each_tier(table):
    # A over all four: 0.6 is the lowest threshold whose kept answers (q1, q4) are all right.
    # B over q2 and q3: 0.7 keeps q2 (right); 0.1 would keep q3 too (half right).
    assert fit_cascade(table, target=1.0).thresholds == {"A": 0.6, "B": 0.7}
    # Nothing reaches a 1.1 target: 1.0 keeps nothing, and every question goes on to review.
    with pytest.raises(ConfigError, match="target 1.1 is outside"):
        fit_cascade(table, target=1.1)


def test_a_budget_picks_the_highest_target_that_stays_within_it(table):
    # Up to a 0.50 target, A keeps all four (threshold 0.2) and the cascade costs nothing; at
    # 0.51, q3 goes on to review and the cost per question is 1.01 / 4.
    cascade = fit_cascade(table, budget=0.0)
    assert cascade.thresholds == {"A": 0.2} and cascade.name == "cascade (budget $0)"
    with pytest.raises(ConfigError, match="a target accuracy or a budget, one of them"):
        fit_cascade(table)
    with pytest.raises(ConfigError, match=r"no cascade stays within \$-1"):
        fit_cascade(table, budget=-1)


def test_rules_send_each_kind_to_the_cheapest_model_tier_as_good_as_its_best(table):
    kinds = pd.Series(["how long", "how long", "what", "what"], index=QS)
    # how long: A 0.5, B 1.0 -> B; what: A 0.5, B 0.0 -> A. Review is no rule's target.
    rules, choose = rules_policy(table, kinds)
    assert rules == {"how long": "B", "what": "A"}
    unseen = pd.Series(["how long", "who", "what", "what"], index=QS)
    # an unseen kind goes to the best model tier overall: A and B tie at 0.5, A comes first
    assert choose(table, unseen).tier.tolist() == ["B", "A", "A", "A"]
    # with a tolerance of 0.5, A (free) is as good as B on "how long" too
    assert rules_policy(table, kinds, tolerance=0.5)[0] == {"how long": "A", "what": "A"}


def test_question_kinds():
    assert [question_kind(q) for q in ["How much is it?", "What is the range?", "Is it waterproof?", "???"]] == [
        "how much",
        "what is",
        "is",
        "other",
    ]


def test_the_learned_router_predicts_the_cheapest_right_tier(table):
    assert LearnedRouter.labels(table).tolist() == ["A", "B", REVIEW, "A"]
    embeddings = pd.DataFrame({"x": [1.0, 0.0, -1.0, 1.1], "y": [0.0, 1.0, 0.0, 0.1]}, index=QS)
    router = LearnedRouter(C=100.0).fit(embeddings, table)
    assert router.choose(embeddings, table).tier.tolist() == ["A", "B", REVIEW, "A"]
    assert router.route([1.05, 0.05]) == "A"


def test_bootstrap_bands_hold_the_estimate_and_repeat_with_the_seed(table):
    choice = single_tier(table, "A")
    first, again = evaluate(table, choice, resamples=500, seed=3), evaluate(table, choice, resamples=500, seed=3)
    assert first == again
    assert first["accuracy_low"] <= first["accuracy"] <= first["accuracy_high"]
    assert first["usd_per_question_low"] == first["usd_per_question_high"] == 0.0


def test_pareto_front_keeps_only_undominated_policies():
    plane = pd.DataFrame({"usd_per_question": [0.0, 0.5, 0.5, 1.0], "accuracy": [0.4, 0.4, 0.7, 0.6]})
    assert pareto_front(plane).index.tolist() == [0, 2]


def test_a_tier_without_stored_answers_is_named():
    frame = pd.DataFrame({"A": [1]}, index=["q1"])
    with pytest.raises(ConfigError, match="no stored answers for tier B; collect them first"):
        Outcomes.from_frames(frame, frame, frame, order=["A", "B"])

"""IR metrics: hand-worked values, trec_eval's edge cases, and agreement with pytrec_eval."""

from __future__ import annotations

import math
import random

import pandas as pd
import pytest

from toolkit.evaluation.irmetrics import evaluate_run, parse_metric, query_metrics, rank, summarize_metrics

# One query worked by hand. Relevant: a (grade 2), b and d (grade 1); c is judged non-relevant.
QRELS = {"q1": {"a": 2, "b": 1, "c": 0, "d": 1}, "q2": {"e": 0}, "q3": {"f": 1}}
# Ties: a and c at 0.8, b and y at 0.5. trec_eval breaks them by id descending: c before a, y before b.
RUN = {"q1": {"x": 0.9, "a": 0.8, "c": 0.8, "b": 0.5, "y": 0.5}, "q2": {"e": 1.0}, "q4": {"a": 1.0}}
ALL = [
    "hit@1",
    "hit@3",
    "recall@3",
    "recall@5",
    "precision@3",
    "precision@10",
    "mrr@2",
    "mrr@10",
    "map",
    "map@3",
    "ndcg@3",
    "ndcg@5",
]


def test_ranking_breaks_ties_by_descending_id():
    assert rank(RUN["q1"]) == ["x", "c", "a", "y", "b"]


def test_hand_worked_query():
    # ranking x c a y b -> relevant at ranks 3 (a, grade 2) and 5 (b, grade 1); d never retrieved
    values = query_metrics(QRELS["q1"], rank(RUN["q1"]), ALL)
    ideal = 2 + 1 / math.log2(3) + 1 / math.log2(4)  # grades 2, 1, 1 at ranks 1-3
    assert values == pytest.approx(
        {
            "hit@1": 0.0,
            "hit@3": 1.0,
            "recall@3": 1 / 3,
            "recall@5": 2 / 3,
            "precision@3": 1 / 3,
            "precision@10": 2 / 10,  # divided by k, not by what was retrieved
            "mrr@2": 0.0,
            "mrr@10": 1 / 3,
            "map": (1 / 3 + 2 / 5) / 3,  # 11/45: precision at each hit / 3 relevant
            "map@3": (1 / 3) / 3,  # still divided by all 3 relevant
            "ndcg@3": (2 / math.log2(4)) / (2 + 1 / math.log2(3) + 1 / math.log2(4)),
            "ndcg@5": (2 / math.log2(4) + 1 / math.log2(6)) / ideal,
        },
        abs=1e-12,
    )
    assert values["map"] == pytest.approx(11 / 45)
    assert values["ndcg@5"] == pytest.approx(0.44295, abs=1e-5)


def test_edge_cases_follow_trec_eval():
    frame = evaluate_run(QRELS, RUN, ALL)
    assert frame.index.name == "query"
    assert list(frame.index) == ["q1", "q2", "q3"]  # q4 is not judged: ignored
    assert frame.loc["q2"].tolist() == [0.0] * len(ALL)  # no relevant document: zeros, counted
    assert frame.loc["q3"].tolist() == [0.0] * len(ALL)  # judged but absent from the run: zeros
    assert list(frame.columns) == ALL


def test_negative_grades_give_no_gain():
    values = query_metrics({"a": 2, "b": -1, "c": 1}, ["b", "a", "c"], ["ndcg@10", "recall@10", "mrr@10"])
    assert values["ndcg@10"] == pytest.approx((2 / math.log2(3) + 1 / 2) / (2 + 1 / math.log2(3)))
    assert (values["recall@10"], values["mrr@10"]) == (1.0, 0.5)


@pytest.mark.parametrize("name", ["ndcg", "hit@0", "mrr@-1", "f1@10", "recall@ten"])
def test_unknown_metric_names_are_refused(name):
    with pytest.raises(ValueError, match="unknown metric"):
        parse_metric(name)
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate_run(QRELS, RUN, [name])


def _random_case(seed: int):
    rng = random.Random(seed)
    docs = [f"d{i:02d}" for i in range(40)]
    qrels, run = {}, {}
    for q in range(60):
        qid = f"q{q}"
        judged = rng.sample(docs, rng.randint(1, 12))
        grades = [0] if q % 10 == 0 else [0, 0, 1, 1, 2, 3]  # every tenth query has nothing relevant
        qrels[qid] = {d: rng.choice(grades) for d in judged}
        retrieved = rng.sample(docs, rng.randint(1, 40))
        run[qid] = {d: round(rng.random(), 1) for d in retrieved}  # one decimal: many ties
    return qrels, run


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_agrees_with_pytrec_eval(seed):
    import pytrec_eval

    qrels, run = _random_case(seed)
    ours = evaluate_run(
        qrels,
        run,
        [
            "hit@1",
            "hit@10",
            "recall@5",
            "recall@100",
            "precision@5",
            "precision@10",
            "map",
            "map@10",
            "ndcg@5",
            "ndcg@10",
            "mrr@10",
        ],
    )
    theirs = pytrec_eval.RelevanceEvaluator(
        qrels, {"success.1,10", "recall.5,100", "P.5,10", "map", "map_cut.10", "ndcg_cut.5,10"}
    ).evaluate(run)
    # MRR@10 is trec_eval's recip_rank on the run cut to its first 10 in trec_eval's order.
    cut = {qid: {d: scores[d] for d in rank(scores)[:10]} for qid, scores in run.items()}
    mrr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut)
    pairs = {
        "hit@1": "success_1",
        "hit@10": "success_10",
        "recall@5": "recall_5",
        "recall@100": "recall_100",
        "precision@5": "P_5",
        "precision@10": "P_10",
        "map": "map",
        "map@10": "map_cut_10",
        "ndcg@5": "ndcg_cut_5",
        "ndcg@10": "ndcg_cut_10",
    }
    assert set(theirs) == set(ours.index)
    for qid in ours.index:
        for name, measure in pairs.items():
            assert abs(ours.loc[qid, name] - theirs[qid][measure]) < 5e-5, (qid, name)  # 4 decimals
        assert abs(ours.loc[qid, "mrr@10"] - mrr[qid]["recip_rank"]) < 5e-5, qid
    # The comparison must exercise ties and queries with nothing relevant.
    assert sum(theirs[qid]["ndcg_cut_10"] == 0 and max(qrels[qid].values()) == 0 for qid in qrels) >= 6
    assert sum(len(set(scores.values())) < len(scores) for scores in run.values()) > 30


def test_summary_bootstrap_is_seeded_and_brackets_the_mean():
    per_query = pd.DataFrame(
        {"hit@10": [0.0, 1.0] * 50, "mrr@10": [1.0] * 100, "ndcg@10": [i / 99 for i in range(100)]}
    )
    summary = summarize_metrics(per_query, n_resamples=1000, seed=0)
    assert list(summary.columns) == ["mean", "ci_low", "ci_high", "queries"]
    hit = summary.loc["hit@10"]
    assert hit["mean"] == 0.5 and hit["queries"] == 100
    # standard error sqrt(0.25 / 100) = 0.05, so a 95% interval is about 0.5 +- 0.098
    assert 0.38 < hit["ci_low"] < 0.42 and 0.58 < hit["ci_high"] < 0.62
    assert summary.loc["mrr@10", ["mean", "ci_low", "ci_high"]].tolist() == [1.0, 1.0, 1.0]
    assert summarize_metrics(per_query, seed=0).equals(summary)
    other = summarize_metrics(per_query, seed=1)
    assert other.loc["ndcg@10", "ci_low"] != summary.loc["ndcg@10", "ci_low"]
    assert summary.loc["ndcg@10", "ci_low"] < 0.5 < summary.loc["ndcg@10", "ci_high"]

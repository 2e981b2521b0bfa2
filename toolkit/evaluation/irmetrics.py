"""Ranked-retrieval metrics with the definitions of trec_eval / pytrec_eval, as BEIR reports them.

Inputs have the shapes pytrec_eval and BEIR use:

    qrels = {"q1": {"d1": 2, "d7": 1}}          # query id -> document id -> relevance grade (int)
    run   = {"q1": {"d1": 0.9, "d3": 0.4}}      # query id -> document id -> retrieval score

Metrics are named `name@k` (`map` may omit the cut):

    hit@k        1 if any relevant document is in the top k, else 0 (trec_eval `success_k`)
    recall@k     relevant documents in the top k / all relevant documents (`recall_k`)
    precision@k  relevant documents in the top k / k, even when fewer than k were retrieved (`P_k`)
    mrr@k        1 / rank of the first relevant document in the top k, else 0 (BEIR's MRR@k;
                 trec_eval `recip_rank` on the run cut at k)
    map, map@k   average precision, over the whole run or the top k, divided by all relevant
                 documents (`map`, `map_cut_k`)
    ndcg@k       DCG over the top k with linear gain (the grade) and discount log2(rank + 1),
                 divided by the DCG of the ideal ordering of all judged grades (`ndcg_cut_k`)

The rules that decide edge cases, all as trec_eval does them:
- a document is relevant when its grade is > 0; grades <= 0 give no gain;
- the ranking sorts by score, highest first, and breaks ties by document id in *descending*
  string order (trec_eval ignores the rank column and any insertion order);
- only queries in `qrels` are evaluated; run entries for other queries are ignored;
- a query in `qrels` with no relevant document scores 0 on every metric and counts in the mean
  (pytrec_eval returns zeros for it and BEIR averages over them);
- one deliberate difference: a `qrels` query missing from the run scores 0 and counts (pytrec_eval
  silently leaves it out, which would let a retriever that returns nothing look better; BEIR
  always passes every query, so BEIR numbers are unchanged).

The metrics are written by hand, in about sixty lines, because pytrec_eval has no per-query
DataFrame, no MRR@k, no hit@k name and needs a compiled extension; tests check them against
pytrec_eval to 4 decimals. The confidence intervals come from scipy's bootstrap.

    >>> per_query = evaluate_run({"q1": {"a": 1}}, {"q1": {"b": 0.9, "a": 0.5}}, ["mrr@10", "hit@1"])
    >>> per_query.loc["q1"].tolist()
    [0.5, 0.0]

Not here: producing the run (toolkit/retrieve.py), loading BEIR files (toolkit/beir.py), and
answer-level metrics (toolkit/evaluate.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

__all__ = ["METRICS", "parse_metric", "rank", "query_metrics", "evaluate_run", "summarize_metrics"]

METRICS = ("hit", "recall", "precision", "mrr", "map", "ndcg")
_NAME = re.compile(r"^(hit|recall|precision|mrr|map|ndcg)(?:@([1-9][0-9]*))?$")

Qrels = Mapping[str, Mapping[str, int]]
Run = Mapping[str, Mapping[str, float]]


def parse_metric(name: str) -> tuple[str, int | None]:
    """Split `ndcg@10` into ("ndcg", 10); `map` into ("map", None).

    >>> parse_metric("recall@100"), parse_metric("map")
    (('recall', 100), ('map', None))
    """
    match = _NAME.match(name.strip().lower())
    if not match or (match.group(2) is None and match.group(1) != "map"):
        raise ValueError(
            f"unknown metric {name!r}; use one of {', '.join(m + '@k' for m in METRICS)} (k a positive integer), or map"
        )
    return match.group(1), int(match.group(2)) if match.group(2) else None


def rank(scores: Mapping[str, float]) -> list[str]:
    """Document ids best first: score descending, ties by document id descending (trec_eval's order).

    >>> rank({"a": 1.0, "b": 1.0, "c": 2.0})
    ['c', 'b', 'a']
    """
    return [doc for doc, _ in sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)]


def _dcg(gains: Sequence[float]) -> float:
    return sum(gain / math.log2(position + 2) for position, gain in enumerate(gains) if gain > 0)


def query_metrics(judged: Mapping[str, int], ranking: Sequence[str], metrics: Sequence[str]) -> dict[str, float]:
    """Every metric in `metrics` for one query: its judgements and its ranked document ids.

    >>> query_metrics({"a": 2, "b": 1}, ["b", "x", "a"], ["precision@2", "mrr@3"])
    {'precision@2': 0.5, 'mrr@3': 1.0}
    """
    relevant = {doc for doc, grade in judged.items() if grade > 0}
    ideal = sorted((grade for grade in judged.values() if grade > 0), reverse=True)
    flags = [doc in relevant for doc in ranking]
    values = {}
    for name in metrics:
        kind, k = parse_metric(name)
        top = flags[:k] if k else flags
        if not relevant:  # nothing to find: every metric is 0, as in pytrec_eval
            values[name] = 0.0
        elif kind == "hit":
            values[name] = float(any(top))
        elif kind == "recall":
            values[name] = sum(top) / len(relevant)
        elif kind == "precision":
            values[name] = sum(top) / k
        elif kind == "mrr":
            values[name] = next((1.0 / (i + 1) for i, flag in enumerate(top) if flag), 0.0)
        elif kind == "map":
            found, total = 0, 0.0
            for i, flag in enumerate(top):
                if flag:
                    found += 1
                    total += found / (i + 1)
            values[name] = total / len(relevant)
        else:  # ndcg
            gains = [max(judged.get(doc, 0), 0) for doc in ranking[:k]]
            values[name] = _dcg(gains) / _dcg(ideal[:k])
    return values


def evaluate_run(qrels: Qrels, run: Run, metrics: Sequence[str] = ("ndcg@10", "recall@100", "mrr@10", "hit@10")):
    """Per-query metrics as a DataFrame: one row per query of `qrels` (index `query`), one column per metric.

    >>> evaluate_run({"q1": {"a": 1}}, {"q1": {"a": 0.2, "b": 0.2}}, ["hit@1"])["hit@1"].tolist()
    [0.0]
    """
    import pandas as pd

    for name in metrics:
        parse_metric(name)  # fail before the work, not in the middle of it
    rows = {qid: query_metrics(judged, rank(run.get(qid, {})), metrics) for qid, judged in qrels.items()}
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=list(metrics))
    frame.index.name = "query"
    return frame


def summarize_metrics(per_query, confidence: float = 0.95, n_resamples: int = 1000, seed: int = 0):
    """Mean of each metric with a seeded percentile-bootstrap confidence interval over queries.

    Returns a DataFrame indexed by metric with columns mean, ci_low, ci_high, queries. With a
    single query the interval is the mean itself.

    >>> import pandas as pd
    >>> summarize_metrics(pd.DataFrame({"hit@10": [1.0, 1.0]})).loc["hit@10", ["mean", "ci_low", "ci_high"]].tolist()
    [1.0, 1.0, 1.0]
    """
    import numpy as np
    import pandas as pd
    from scipy.stats import bootstrap

    rows = {}
    for name in per_query.columns:
        values = per_query[name].to_numpy(dtype=float)
        if len(values) == 0:
            raise ValueError("no queries to summarize")
        mean = float(values.mean())
        if len(values) < 2 or np.all(values == values[0]):  # no spread: the bootstrap is degenerate
            low = high = mean
        else:
            result = bootstrap(
                (values,),
                np.mean,
                confidence_level=confidence,
                n_resamples=n_resamples,
                method="percentile",
                random_state=np.random.default_rng(seed),
            )
            low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
        rows[name] = {"mean": mean, "ci_low": low, "ci_high": high, "queries": len(values)}
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["mean", "ci_low", "ci_high", "queries"])
    frame.index.name = "metric"
    return frame

"""BM25 queries per second: the toolkit's BM25Index (bm25s) against rank_bm25's BM25Okapi, on the
same corpus, the same queries and the same tokens. Target: bm25s faster.

    python benchmarks/bench_bm25.py [--copies 10] [--k 10]

Corpus: every sentence of the bundled corpus plus every chunk of the bundled index, repeated
`--copies` times with a copy number appended (so the copies are distinct documents and the
vocabulary grows), about 14,000 documents at 10 copies. Queries: the 106 evaluation questions.
Both libraries get identical token lists: bm25s.tokenize with the English PyStemmer stemmer and
English stopwords (BM25Index's own tokenizer). Each query is timed alone, tokenisation included,
interleaved between the two; bm25s's batched search of all queries at once is reported too.
The top-10 overlap between the two is reported (their IDF formulas differ slightly).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import median, record
from bench_index_kinds import corpus_sentences

import toolkit
from toolkit.demo.datasets import load_questions, tidewell_corpus
from toolkit.ingestion.incremental import ingest
from toolkit.retrieval.retrievers import BM25Index


def main() -> None:
    from rank_bm25 import BM25Okapi

    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    settings = toolkit.setup_notebook()
    index, _ = ingest(tidewell_corpus(), settings.index_root / "tidewell", settings=settings, show_progress=False)
    base = corpus_sentences() + [n.get_content(metadata_mode="embed") for n in index.store.get_nodes()]
    texts = [f"{text} copy{c}" for c in range(args.copies) for text in base]
    questions = load_questions()["question"].tolist()

    started = time.perf_counter()
    ours = BM25Index(texts)
    ours_build = time.perf_counter() - started
    tokens = lambda batch: ours._tokenize(list(batch), ids=False)  # noqa: E731  the very same tokens
    started = time.perf_counter()
    okapi = BM25Okapi(tokens(texts), k1=1.5, b=0.75)
    okapi_build = time.perf_counter() - started

    ours_s, okapi_s, overlap = [], [], []
    for question in questions:
        started = time.perf_counter()
        _, found = ours.search([question], args.k)
        ours_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        scores = okapi.get_scores(tokens([question])[0])
        top = np.argsort(-scores, kind="stable")[: args.k]
        okapi_s.append(time.perf_counter() - started)
        mine = {int(p) for p in found[0] if p >= 0}
        theirs = {int(p) for p in top if scores[p] > 0}
        overlap.append(len(mine & theirs) / max(1, len(theirs)))
    started = time.perf_counter()
    ours.search(questions, args.k)
    batched_s = time.perf_counter() - started

    results = {
        "documents": len(texts),
        "queries": len(questions),
        "k": args.k,
        "build_s": {"bm25s": round(ours_build, 2), "rank_bm25": round(okapi_build, 2)},
        "bm25s_median_query_ms": round(median(ours_s) * 1000, 3),
        "rank_bm25_median_query_ms": round(median(okapi_s) * 1000, 3),
        "bm25s_qps": round(1 / median(ours_s), 1),
        "rank_bm25_qps": round(1 / median(okapi_s), 1),
        "speedup": round(median(okapi_s) / median(ours_s), 1),
        "bm25s_batched_qps": round(len(questions) / batched_s, 1),
        "top_k_overlap_mean": round(float(np.mean(overlap)), 4),
        "target": "bm25s qps > rank_bm25 qps",
    }
    results["met"] = results["speedup"] > 1
    record("bm25", results)


if __name__ == "__main__":
    main()

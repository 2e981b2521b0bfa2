"""Dense retrieval end to end through the toolkit (make_retriever("dense"): LlamaIndex's
retriever, query embedding, FaissStore search, nodes back) against calling the encoder and
`faiss.Index.search` directly, on the bundled index and the 106 evaluation questions.
Target: the toolkit's median within 1.5 times the direct median.

    python benchmarks/bench_dense_overhead.py [--top-k 3]

Direct: sentence-transformers' `encode(question, normalize_embeddings=True)` on the very model
object the toolkit uses, then `search` on the store's own FAISS index. The two are interleaved
per question, so machine noise hits both alike, and their top-k ids are checked to agree.
"""

from __future__ import annotations

import argparse
import time

from _common import median, record

import toolkit
from toolkit.demo.datasets import load_questions, tidewell_corpus
from toolkit.ingestion.incremental import ingest
from toolkit.models.providers import make_embed_model
from toolkit.retrieval.retrievers import make_retriever


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--top-k", type=int, default=3)
    args = parser.parse_args()
    settings = toolkit.setup_notebook()
    embed_model = make_embed_model(settings)
    index, _ = ingest(
        tidewell_corpus(),
        settings.index_root / "tidewell",
        settings=settings,
        embed_model=embed_model,
        show_progress=False,
    )
    retriever = make_retriever("dense", index, embed_model, top_k=args.top_k)
    encoder, faiss_index = embed_model._model, index.store.client
    questions = load_questions()["question"].tolist()
    for question in questions[:5]:  # warm both paths up
        retriever.retrieve(question)
        encoder.encode([question], normalize_embeddings=True)

    toolkit_s, direct_s, agree = [], [], 0
    for question in questions:
        started = time.perf_counter()
        hits = retriever.retrieve(question)
        toolkit_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        vector = encoder.encode([question], normalize_embeddings=True)
        _, ids = faiss_index.search(vector, args.top_k)
        direct_s.append(time.perf_counter() - started)
        agree += [index.store._ids[h.node.node_id] for h in hits] == ids[0].tolist()

    results = {
        "chunks": index.chunks,
        "queries": len(questions),
        "top_k": args.top_k,
        "toolkit_median_ms": round(median(toolkit_s) * 1000, 3),
        "direct_median_ms": round(median(direct_s) * 1000, 3),
        "ratio": round(median(toolkit_s) / median(direct_s), 3),
        "top_k_agreement": f"{agree}/{len(questions)}",
        "target": "ratio <= 1.5",
    }
    results["met"] = results["ratio"] <= 1.5 and agree == len(questions)
    record("dense_overhead", results)


if __name__ == "__main__":
    main()

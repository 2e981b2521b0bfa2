"""Flat, HNSW and IVF side by side on 100,000 chunk vectors: build time, median query latency,
and recall@10 against exact (flat) search. Target: HNSW recall@10 >= 0.95.

    python benchmarks/bench_index_kinds.py [--vectors 100000]

How the 100,000 vectors are made (embedding 100,000 real 128-token chunks would take over an
hour here): every sentence of the bundled corpus (split on blank lines and sentence ends,
at least 4 words) and every 128-token chunk of the bundled index is embedded with the real
all-MiniLM-L6-v2. The rest are blends of two real vectors, 0.7 * a + 0.3 * b plus Gaussian noise
(sigma 0.01 per dimension), re-normalised: points on the same manifold as real text, none a
copy. Queries are the 106 real evaluation questions, embedded with the same model. Each query
is searched alone (batch of one), as a user's question would be.
"""

from __future__ import annotations

import argparse
import re
import time

import numpy as np
from _common import median, record

import toolkit
from toolkit.demo.datasets import load_questions, tidewell_corpus
from toolkit.ingestion.incremental import ingest
from toolkit.models.providers import make_embed_model
from toolkit.retrieval.retrievers import DenseIndex


def corpus_sentences() -> list[str]:
    sentences = []
    for path in sorted(tidewell_corpus().rglob("*")):
        if path.suffix in (".md", ".txt", ".html"):
            text = re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8"))
            for block in re.split(r"\n\s*\n", text):
                for sentence in re.split(r"(?<=[.!?])\s+", " ".join(block.split())):
                    if len(sentence.split()) >= 4:
                        sentences.append(sentence)
    return sorted(set(sentences))


def recall_at(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found, exact, strict=True)]))


def timed_search(index: DenseIndex, queries: np.ndarray, k: int) -> tuple[float, np.ndarray]:
    seconds, found = [], []
    for query in queries:
        started = time.perf_counter()
        _, positions = index.search(query[None, :], k)
        seconds.append(time.perf_counter() - started)
        found.append(positions[0])
    return median(seconds), np.array(found)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vectors", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    settings = toolkit.setup_notebook()
    embed_model = make_embed_model(settings)
    encoder = embed_model._model  # the sentence-transformers model underneath

    index, _ = ingest(
        tidewell_corpus(),
        settings.index_root / "tidewell",
        settings=settings,
        embed_model=embed_model,
        show_progress=False,
    )
    chunk_texts = [node.get_content(metadata_mode="embed") for node in index.store.get_nodes()]
    sentences = corpus_sentences()
    started = time.perf_counter()
    real = encoder.encode(sentences + chunk_texts, batch_size=64, normalize_embeddings=True).astype("float32")
    embed_s = time.perf_counter() - started
    questions = load_questions()["question"].tolist()
    queries = encoder.encode(questions, normalize_embeddings=True).astype("float32")

    rng = np.random.default_rng(0)
    extra = args.vectors - len(real)
    a, b = rng.integers(0, len(real), extra), rng.integers(0, len(real), extra)
    blended = 0.7 * real[a] + 0.3 * real[b] + rng.normal(0, 0.01, (extra, real.shape[1])).astype("float32")
    vectors = np.vstack([real, blended.astype("float32")])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

    rows = {}
    builds = {}
    for kind in ("flat", "hnsw", "ivf"):
        started = time.perf_counter()
        builds[kind] = DenseIndex.build(vectors, kind)
        rows[kind] = {"build_s": round(time.perf_counter() - started, 2)}
    flat_ms, exact = timed_search(builds["flat"], queries, args.k)
    rows["flat"].update(median_query_ms=round(flat_ms * 1000, 3), recall_at_10=1.0)

    sweeps = {"hnsw": ("ef_search", [16, 32, 64, 128, 256]), "ivf": ("nprobe", [4, 8, 16, 32, 64])}
    for kind, (param, values) in sweeps.items():
        inner = builds[kind]._index
        rows[kind]["sweep"] = []
        for value in values:
            if kind == "hnsw":
                inner.hnsw.efSearch = value
            else:
                inner.nprobe = value
            ms, found = timed_search(builds[kind], queries, args.k)
            rows[kind]["sweep"].append(
                {
                    param: value,
                    "median_query_ms": round(ms * 1000, 3),
                    "recall_at_10": round(recall_at(found, exact), 4),
                }
            )
        default = builds[kind].params[param]
        chosen = next(row for row in rows[kind]["sweep"] if row[param] == default)
        rows[kind].update(
            default_param=f"{param}={default}",
            median_query_ms=chosen["median_query_ms"],
            recall_at_10=chosen["recall_at_10"],
        )
    rows["ivf"]["nlist"] = builds["ivf"].params["nlist"]

    results = {
        "vectors": len(vectors),
        "real_embedded": len(real),
        "sentences": len(sentences),
        "chunks": len(chunk_texts),
        "blended": extra,
        "dim": int(vectors.shape[1]),
        "queries": len(queries),
        "k": args.k,
        "embed_real_s": round(embed_s, 1),
        "kinds": rows,
        "target": "hnsw recall_at_10 >= 0.95 at its default ef_search",
    }
    results["met"] = rows["hnsw"]["recall_at_10"] >= 0.95
    record("index_kinds", results)


if __name__ == "__main__":
    main()

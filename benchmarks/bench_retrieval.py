"""Dense retrieval on 20,000 chunks: the toolkit's FAISS store against LlamaIndex's default
in-memory vector store (SimpleVectorStore), side by side, on the same nodes and query embeddings.
Target: at least 50 times faster per query.

    python benchmarks/bench_retrieval.py [--chunks 20000] [--queries 50]

Chunk and query embeddings are seeded random unit vectors of the embedding model's dimension
(384): search cost does not depend on what the vectors mean, and embedding 20,000 real chunks
would take about 13 minutes on 2 cores. Both retrievers go through LlamaIndex's
VectorIndexRetriever with the query embedding given, so the embedding model is not called; the
embedding time of one query is measured separately for scale. Top-3 results are checked to agree.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import median, record

import toolkit
from toolkit.ingestion.vectorstore import FaissStore
from toolkit.models.providers import make_embed_model


def main() -> None:
    from llama_index.core import VectorStoreIndex
    from llama_index.core.schema import QueryBundle, TextNode

    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--top-k", type=int, default=3)
    args = parser.parse_args()
    settings = toolkit.setup_notebook()
    embed_model = make_embed_model(settings)

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((args.chunks, 384)).astype("float32")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    nodes = [TextNode(id_=f"chunk-{i}", text=f"chunk {i}", embedding=v.tolist()) for i, v in enumerate(vectors)]
    queries = rng.standard_normal((args.queries, 384)).astype("float32")
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)

    store = FaissStore.create(384)
    store.add(nodes)
    ours = VectorStoreIndex.from_vector_store(store, embed_model=embed_model).as_retriever(similarity_top_k=args.top_k)
    default = VectorStoreIndex(nodes, embed_model=embed_model).as_retriever(similarity_top_k=args.top_k)

    ours_s, default_s, agree = [], [], 0
    for query in queries:  # interleaved, so machine noise hits both alike
        bundle = QueryBundle(query_str="benchmark query", embedding=query.tolist())
        started = time.perf_counter()
        a = ours.retrieve(bundle)
        ours_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        b = default.retrieve(bundle)
        default_s.append(time.perf_counter() - started)
        agree += [n.node.node_id for n in a] == [n.node.node_id for n in b]

    embed_s = []
    for i in range(10):
        started = time.perf_counter()
        embed_model.get_query_embedding(f"How long do I have to return item number {i}?")
        embed_s.append(time.perf_counter() - started)

    results = {
        "chunks": args.chunks,
        "queries": args.queries,
        "top_k": args.top_k,
        "toolkit_faiss_median_ms": round(median(ours_s) * 1000, 3),
        "llamaindex_default_median_ms": round(median(default_s) * 1000, 3),
        "speedup": round(median(default_s) / median(ours_s), 1),
        "top_k_agreement": f"{agree}/{args.queries}",
        "query_embedding_median_ms": round(median(embed_s) * 1000, 2),
        "target": "speedup >= 50",
    }
    results["met"] = results["speedup"] >= 50 and agree == args.queries
    record("retrieval", results)


if __name__ == "__main__":
    main()

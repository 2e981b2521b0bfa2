"""Retrievers: dense FAISS indexes (flat, HNSW, IVF), BM25 through bm25s, and their fusion.

Two layers. Over plain arrays and texts, for evaluation at scale (a BEIR corpus, a benchmark):

    DenseIndex    FAISS inner product over L2-normalised float32 vectors; rows are positions
    BM25Index     bm25s with PyStemmer's English stemmer and English stopwords; rows are positions
    reciprocal_rank_fusion, score_fusion      combine ranked lists of any hashable ids

Over a toolkit Index (its chunks), as LlamaIndex retrievers yielding NodeWithScore:

    >>> retriever = make_retriever("hybrid", index, embed_model, top_k=3)   # doctest: +SKIP
    >>> [hit.node.ref_doc_id for hit in retriever.retrieve("How long is the warranty?")]  # doctest: +SKIP

"bm25" is LlamaIndex's own BM25Retriever (llama-index-retrievers-bm25, which wraps bm25s with a
PyStemmer stemmer and stopwords, over the index's nodes in their embedding text: source and
title included), with hits that match no query term dropped. "hybrid" fuses the dense and BM25
candidates here, with the same two fusion functions the evaluation uses.

Not here: the IR metrics and BEIR files (evaluate code), SQL and live-API sources, re-ranking.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..ingestion.persist import VersionedFolder
from ..ingestion.vectorstore import (
    INDEX_KINDS,
    check_params,
    choose_kind,
    configure_search,
    default_nlist,
    new_faiss_index,
)

if TYPE_CHECKING:
    from ..ingestion.index import Index

__all__ = [
    "choose_kind",
    "default_nlist",
    "DenseIndex",
    "BM25Index",
    "reciprocal_rank_fusion",
    "score_fusion",
    "make_retriever",
    "RETRIEVER_KINDS",
    "FUSIONS",
]

RETRIEVER_KINDS = ("dense", "bm25", "hybrid")
FUSIONS = ("rrf", "score")


def _normalized(vectors, dim: int, what: str) -> np.ndarray:
    import faiss

    array = np.array(vectors, dtype="float32", copy=True, order="C")  # a copy: the caller's stays as it was
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2 or array.shape[1] != dim:
        raise ValueError(
            f"{what} of shape {array.shape} do not fit an index of dimension {dim}: "
            f"embed them with the model that built the index"
        )
    faiss.normalize_L2(array)
    return array


class DenseIndex:
    """Cosine search over vectors by position (0..n-1, in the order added).

    >>> index = DenseIndex.build(np.eye(3, dtype="float32"))
    >>> index.kind, index.ntotal
    ('flat', 3)
    >>> index.search(np.array([[0.0, 2.0, 0.1]]), 2)[1].tolist()
    [[1, 2]]
    """

    def __init__(
        self,
        dim: int,
        kind: str = "flat",
        *,
        hnsw_m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 128,
        nlist: int | None = None,
        nprobe: int = 16,
    ):
        if int(dim) < 1:
            raise ValueError(f"dim must be at least 1 (got {dim})")
        self.dim, self.kind = int(dim), kind
        self.params = dict(
            hnsw_m=hnsw_m, ef_construction=ef_construction, ef_search=ef_search, nlist=nlist, nprobe=nprobe
        )
        check_params(kind, self.params)  # now, not when the first vectors arrive
        # IVF is created at the first add, trained on those vectors; the others exist now
        self._index = None if kind == "ivf" else new_faiss_index(self.dim, kind, **self.params)

    @classmethod
    def build(cls, vectors: np.ndarray, kind: str | None = None, **params) -> DenseIndex:
        """An index holding `vectors`; `kind` None picks by size (`choose_kind`)."""
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or len(vectors) == 0:
            raise ValueError(f"build needs a 2-d array with at least one row (got shape {vectors.shape})")
        index = cls(vectors.shape[1], kind or choose_kind(len(vectors)), **params)
        index.add(vectors)
        return index

    @property
    def ntotal(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        """Append rows; they get the next positions. An IVF index trains on its first batch."""
        array = _normalized(vectors, self.dim, "vectors")
        if len(array) == 0:
            return
        if self._index is None:
            self._index = new_faiss_index(self.dim, "ivf", train=array, **self.params)
            self.params["nlist"] = int(self._index.nlist)
        self._index.add(array)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, positions), each shaped (len(queries), k), best first; where fewer than k
        rows are found, the position is -1 and the score -inf."""
        if k < 1:
            raise ValueError(f"k must be at least 1 (got {k})")
        queries = _normalized(queries, self.dim, "queries")
        if self.ntotal == 0:
            return np.full((len(queries), k), -np.inf, dtype="float32"), np.full((len(queries), k), -1, dtype="int64")
        scores, positions = self._index.search(queries, k)
        scores[positions < 0] = -np.inf
        return scores, positions.astype("int64")

    def save(self, path) -> None:
        """Write the index into the folder `path` as a new version, atomically (see ingest/persist.py)."""
        import faiss

        meta = {"type": "dense_index", "kind": self.kind, "dim": self.dim, "params": self.params}
        with VersionedFolder(path).write(meta) as staging:
            if self._index is not None:
                faiss.write_index(self._index, str(staging / "index.faiss"))

    @classmethod
    def load(cls, path) -> DenseIndex:
        """Read an index written by `save`; raises IndexCorruptError naming a damaged file."""
        import faiss

        from ..errors import IndexCorruptError

        folder, meta = VersionedFolder(path).read()
        if meta.get("type") != "dense_index":
            raise IndexCorruptError(f"{path} holds no DenseIndex (type {meta.get('type')!r}); save one there first")
        index = cls(meta["dim"], meta["kind"], **meta["params"])
        if (folder / "index.faiss").is_file():
            index._index = faiss.read_index(str(folder / "index.faiss"))
            configure_search(index._index, index.kind, index.params)
        return index

    def __repr__(self) -> str:
        return f"DenseIndex(kind={self.kind!r}, dim={self.dim}, ntotal={self.ntotal})"


class BM25Index:
    """BM25 (bm25s, Lucene variant) over texts by position, stemmed and without stopwords.

    >>> bm25 = BM25Index(["Cats are running", "A dog sleeps", "The cat ran home"])
    >>> bm25.search(["running cats"], 2)[1].tolist()
    [[0, 2]]
    """

    def __init__(
        self,
        texts: Sequence[str],
        *,
        language: str = "english",
        stopwords: str = "en",
        k1: float = 1.5,
        b: float = 0.75,
        show_progress: bool = False,
    ):
        import bm25s

        texts = list(texts)
        if not texts:
            raise ValueError("a BM25 index needs at least one text")
        self.language, self.stopwords, self.show_progress = language, stopwords, show_progress
        self._stemmer = self._make_stemmer(language)
        self._bm25 = bm25s.BM25(k1=k1, b=b)
        # allow_empty keeps one row per text even when a text is all stopwords: positions stay aligned
        self._bm25.index(self._tokenize(texts, ids=True), show_progress=show_progress)
        self.n = len(texts)

    @staticmethod
    def _make_stemmer(language: str | None):
        if not language:
            return None
        import Stemmer

        try:
            return Stemmer.Stemmer(language)
        except KeyError as exc:
            raise ValueError(
                f"PyStemmer has no stemmer for {language!r}; choose one of {', '.join(Stemmer.algorithms())} or None"
            ) from exc

    def _tokenize(self, texts: list[str], ids: bool):
        import bm25s

        return bm25s.tokenize(
            texts,
            stopwords=self.stopwords or None,
            stemmer=self._stemmer,
            return_ids=ids,
            show_progress=self.show_progress and ids,
        )

    def search(self, queries: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, positions), each shaped (len(queries), k), best first. A text that shares no
        term with the query is not a hit: its position is -1 (score 0), as are rows past n."""
        if k < 1:
            raise ValueError(f"k must be at least 1 (got {k})")
        if isinstance(queries, str):
            raise TypeError("search takes a list of queries; wrap a single query in a list")
        queries = list(queries)
        scores = np.zeros((len(queries), k), dtype="float32")
        positions = np.full((len(queries), k), -1, dtype="int64")
        if not queries:
            return scores, positions
        found, found_scores = self._bm25.retrieve(
            self._tokenize(queries, ids=False), k=min(k, self.n), show_progress=False, n_threads=0
        )
        hit = found_scores > 0
        positions[:, : found.shape[1]] = np.where(hit, found, -1)
        scores[:, : found.shape[1]] = np.where(hit, found_scores, 0.0)
        return scores, positions

    def save(self, path) -> None:
        """Write the index into the folder `path` as a new version, atomically (see ingest/persist.py)."""
        meta = {"type": "bm25_index", "language": self.language, "stopwords": self.stopwords, "n": self.n}
        with VersionedFolder(path).write(meta) as staging:
            self._bm25.save(str(staging / "bm25"), show_progress=False)

    @classmethod
    def load(cls, path) -> BM25Index:
        """Read an index written by `save`; raises IndexCorruptError naming a damaged file."""
        import bm25s

        from ..errors import IndexCorruptError

        folder, meta = VersionedFolder(path).read()
        if meta.get("type") != "bm25_index":
            raise IndexCorruptError(f"{path} holds no BM25Index (type {meta.get('type')!r}); save one there first")
        index = cls.__new__(cls)
        index.language, index.stopwords, index.n = meta["language"], meta["stopwords"], meta["n"]
        index.show_progress = False
        index._stemmer = cls._make_stemmer(index.language)
        index._bm25 = bm25s.BM25.load(str(folder / "bm25"), show_progress=False)
        return index

    def __repr__(self) -> str:
        return f"BM25Index(n={self.n}, language={self.language!r}, stopwords={self.stopwords!r})"


def _weights(count: int, weights: Sequence[float] | None) -> list[float]:
    if weights is None:
        return [1.0] * count
    if len(weights) != count:
        raise ValueError(f"{len(weights)} weights for {count} result lists; give one weight per list")
    return [float(w) for w in weights]


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[Hashable]], k: int = 60, weights: Sequence[float] | None = None
) -> list[tuple[Hashable, float]]:
    """Fuse ranked lists (best first): each id scores sum(weight / (k + rank)), rank from 1
    (Cormack et al. 2009). Best first; ties keep the order ids were first seen. Hand-written:
    eight lines, where LlamaIndex's version works only on its node objects and has no weights.

    >>> reciprocal_rank_fusion([["a", "b"], ["b", "c"]], k=1)
    [('b', 0.8333333333333333), ('a', 0.5), ('c', 0.3333333333333333)]
    """
    if k < 0:
        raise ValueError(f"k must not be negative (got {k})")
    fused: dict[Hashable, float] = {}
    for ranking, weight in zip(rankings, _weights(len(rankings), weights)):
        seen = set()
        for rank, item in enumerate(ranking, start=1):
            if item in seen:  # a repeated id counts once, at its best rank
                continue
            seen.add(item)
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda pair: -pair[1])


def score_fusion(
    results: Sequence[Mapping[Hashable, float]], weights: Sequence[float] | None = None
) -> list[tuple[Hashable, float]]:
    """Fuse scored lists: min-max normalise each to [0, 1] (a list whose scores are all equal
    gives them all 1), then sum with `weights`; an id missing from a list gets 0 there.
    Best first; ties keep the order ids were first seen.

    >>> score_fusion([{"a": 3.0, "b": 2.0, "c": 1.0}, {"b": 0.9, "c": 0.5}])
    [('b', 1.5), ('a', 1.0), ('c', 0.0)]
    """
    fused: dict[Hashable, float] = {}
    for scores, weight in zip(results, _weights(len(results), weights)):
        if not scores:
            continue
        low, high = min(scores.values()), max(scores.values())
        for item, score in scores.items():
            normal = 1.0 if high == low else (score - low) / (high - low)
            fused[item] = fused.get(item, 0.0) + weight * normal
    return sorted(fused.items(), key=lambda pair: -pair[1])


# --- LlamaIndex retrievers over a toolkit Index ------------------------------------------------


def _bm25_retriever(nodes: list, top_k: int):
    """LlamaIndex's BM25Retriever (bm25s, English stemmer and stopwords), minus no-match hits."""
    import Stemmer
    from llama_index.retrievers.bm25 import BM25Retriever

    class MatchingBM25Retriever(BM25Retriever):
        # bm25s fills k slots even when fewer texts share a term with the query; a score of 0
        # means "no term in common", which is no evidence at all, so it is not a hit.
        def _retrieve(self, query_bundle):
            return [hit for hit in super()._retrieve(query_bundle) if (hit.score or 0.0) > 0.0]

    return MatchingBM25Retriever(nodes=nodes, stemmer=Stemmer.Stemmer("english"), language="en", similarity_top_k=top_k)


def _fusion_retriever_class():
    from llama_index.core.base.base_retriever import BaseRetriever
    from llama_index.core.schema import NodeWithScore

    class FusionRetriever(BaseRetriever):
        """Dense and BM25 candidates fused by id; the fused score becomes the hit's score."""

        def __init__(self, retrievers: list, top_k: int, fusion: str):
            super().__init__()
            self.retrievers, self.top_k, self.fusion = retrievers, top_k, fusion

        def _retrieve(self, query_bundle):
            return self.retrieve_with_lists(query_bundle)[0]

        def retrieve_with_lists(self, query):
            """The fused hits and each retriever's own ranked document ids (dense first): how far
            the two agree is a confidence signal."""
            from llama_index.core.schema import QueryBundle

            query_bundle = QueryBundle(query) if isinstance(query, str) else query
            lists = [retriever.retrieve(query_bundle) for retriever in self.retrievers]
            nodes = {}
            for hits in lists:
                for hit in hits:
                    nodes.setdefault(hit.node.node_id, hit.node)  # dense's copy first: the store's node
            if self.fusion == "rrf":
                fused = reciprocal_rank_fusion([[hit.node.node_id for hit in hits] for hits in lists])
            else:
                fused = score_fusion([{hit.node.node_id: float(hit.score or 0.0) for hit in hits} for hits in lists])
            hits = [NodeWithScore(node=nodes[node_id], score=score) for node_id, score in fused[: self.top_k]]
            return hits, [[hit.node.ref_doc_id or hit.node.node_id for hit in found] for found in lists]

    return FusionRetriever


def make_retriever(
    kind: str,
    index: Index,
    embed_model,
    *,
    top_k: int = 3,
    fusion: str = "rrf",
    dense_kind: str = "flat",
    candidates: int = 20,
):
    """A LlamaIndex retriever over `index`'s chunks: "dense", "bm25" or "hybrid".

    `dense_kind` ("flat", "hnsw", "ivf" or "auto" for `choose_kind`) converts a FAISS store's
    vectors to that index kind in memory when it differs; nothing is embedded again (an index in
    PostgreSQL keeps its HNSW, exact under filters). "hybrid"
    takes max(top_k, candidates) hits from each side and fuses them with "rrf" or "score".

    >>> make_retriever("bm25", index, embed_model).retrieve("warranty")   # doctest: +SKIP
    """
    from llama_index.core import VectorStoreIndex

    if kind not in RETRIEVER_KINDS:
        raise ValueError(f"unknown retriever {kind!r}; choose one of {', '.join(RETRIEVER_KINDS)}")
    if fusion not in FUSIONS:
        raise ValueError(f"unknown fusion {fusion!r}; choose one of {', '.join(FUSIONS)}")
    if dense_kind not in INDEX_KINDS + ("auto",):
        raise ValueError(f"unknown dense_kind {dense_kind!r}; choose one of {', '.join(INDEX_KINDS)} or auto")
    if top_k < 1 or candidates < 1:
        raise ValueError(f"top_k and candidates must be at least 1 (got {top_k} and {candidates})")
    if index.chunks == 0:
        raise ValueError("the index holds no chunks; ingest some documents first")
    width = top_k if kind != "hybrid" else max(top_k, candidates)

    def dense() -> Any:
        store = index.store
        if not hasattr(store, "rebuilt"):  # a database's index (PostgresVectors) keeps its own HNSW
            return index.retriever(embed_model, top_k=width)
        wanted = choose_kind(len(store)) if dense_kind == "auto" else dense_kind
        if wanted != store.kind:
            store = store.rebuilt(wanted)
        return VectorStoreIndex.from_vector_store(store, embed_model=embed_model).as_retriever(similarity_top_k=width)

    if kind == "dense":
        return dense()
    bm25 = _bm25_retriever(index.store.get_nodes(), width)
    if kind == "bm25":
        return bm25
    return _fusion_retriever_class()([dense(), bm25], top_k, fusion)

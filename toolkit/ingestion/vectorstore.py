"""A FAISS vector store for LlamaIndex that can delete by document and keeps the chunk texts.

Why not `llama-index-vector-stores-faiss`: in version 0.7.0 `FaissVectorStore.delete` raises
NotImplementedError, and `FaissMapVectorStore.delete(ref_doc_id)` only deletes a *node* of that
id (so re-ingesting a changed file leaves its old chunks behind) and numbers new vectors by
`ntotal`, which reuses live ids after any delete. Incremental ingestion needs both to work.

This store wraps `faiss.IndexIDMap2(<index>)` with never-reused int64 ids, normalizes vectors
so inner product is cosine similarity, and keeps each chunk's node (its text and metadata,
without the embedding) so retrieval needs no separate docstore.

The inner index is one of three kinds (`new_faiss_index`), with these documented defaults:

    flat   exact inner product (IndexFlatIP). The default, and `choose_kind`'s pick below
           50,000 vectors: exact, no tuning, and a query over 50k x 384 takes a few ms.
    hnsw   a graph (IndexHNSWFlat, M=32, efConstruction=200, efSearch=128): `choose_kind`'s
           pick from 50,000 vectors on; approximate, milliseconds at millions of vectors, but it
           holds the vectors plus about 2*M*4 bytes of links per vector, and FAISS cannot
           delete from it, so deletes here rebuild it from the stored vectors.
    ivf    inverted lists (IndexIVFFlat, nlist ~ 4*sqrt(n), nprobe=16): trained on the first
           vectors added; about the flat index's memory with no graph on top, for very large
           sets where memory binds. Deletes rebuild it too (on the trained quantizer), because
           IndexIDMap2's delete assumes a sub-index that renumbers like IndexFlat.

    >>> store = FaissStore.create(dim=3)
    >>> from llama_index.core.schema import TextNode
    >>> store.add([TextNode(id_="a", text="x", embedding=[1.0, 0, 0])])
    ['a']
    >>> store.query(VectorStoreQuery(query_embedding=[1.0, 0, 0], similarity_top_k=1)).ids
    ['a']

Not here: sparse retrieval and fusion (retrieval/retrievers.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import BaseNode
from llama_index.core.storage.docstore.utils import doc_to_json, json_to_doc
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    VectorStoreQuery,
    VectorStoreQueryResult,
)

__all__ = [
    "FaissStore",
    "VectorStoreQuery",
    "INDEX_KINDS",
    "FLAT_LIMIT",
    "choose_kind",
    "default_nlist",
    "new_faiss_index",
    "search_one",
]

VECTORS_FILE = "vectors.faiss"
NODES_FILE = "nodes.jsonl"
INDEX_KINDS = ("flat", "hnsw", "ivf")
FLAT_LIMIT = 50_000  # below this many vectors exact search is fast enough: see choose_kind
DEFAULT_PARAMS = {"hnsw_m": 32, "ef_construction": 200, "ef_search": 128, "nlist": None, "nprobe": 16}


def choose_kind(n: int) -> str:
    """The index kind for `n` vectors: exact "flat" below FLAT_LIMIT (50,000), "hnsw" from there.
    IVF is never picked automatically; ask for it when memory, not latency, is the limit.

    >>> choose_kind(357), choose_kind(100_000)
    ('flat', 'hnsw')
    """
    if n < 0:
        raise ValueError(f"a corpus cannot hold {n} vectors")
    return "flat" if n < FLAT_LIMIT else "hnsw"


def default_nlist(n: int) -> int:
    """IVF lists for `n` training vectors: 4*sqrt(n) (FAISS's guideline is 4 to 16 times sqrt(n)),
    at most n/39 so every list gets the 39 training points k-means wants, and at least 1.

    >>> default_nlist(100_000), default_nlist(1_000), default_nlist(10)
    (1264, 25, 1)
    """
    return max(1, min(int(4 * math.sqrt(n)), n // 39))


def check_params(kind: str, params: dict) -> dict:
    if kind not in INDEX_KINDS:
        raise ValueError(f"unknown index kind {kind!r}; choose one of {', '.join(INDEX_KINDS)}")
    unknown = sorted(set(params) - set(DEFAULT_PARAMS))
    if unknown:
        raise ValueError(f"unknown index parameter {unknown[0]!r}; known: {', '.join(DEFAULT_PARAMS)}")
    merged = {**DEFAULT_PARAMS, **params}
    for name in ("hnsw_m", "ef_construction", "ef_search", "nprobe"):
        if int(merged[name]) < 1:
            raise ValueError(f"{name} must be at least 1 (got {merged[name]})")
    if merged["nlist"] is not None and int(merged["nlist"]) < 1:
        raise ValueError(f"nlist must be at least 1 (got {merged['nlist']})")
    return merged


def new_faiss_index(dim: int, kind: str = "flat", train: np.ndarray | None = None, **params) -> Any:
    """An empty inner-product FAISS index of `kind`. IVF needs `train` (normalized vectors):
    its quantizer is trained on them, with nlist from `params` or `default_nlist(len(train))`."""
    import faiss

    params = check_params(kind, params)
    if kind == "flat":
        return faiss.IndexFlatIP(dim)
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, int(params["hnsw_m"]), faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(params["ef_construction"])
        index.hnsw.efSearch = int(params["ef_search"])
        return index
    if train is None or len(train) == 0:
        raise ValueError("an IVF index is trained on the vectors it is built from; pass some")
    nlist = int(params["nlist"] or default_nlist(len(train)))
    if len(train) < nlist:
        raise ValueError(
            f"an IVF index with nlist={nlist} needs at least {nlist} training vectors, got "
            f"{len(train)}; lower nlist, add more vectors first, or use kind='flat'"
        )
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = 1234  # k-means initialisation: fixed, so a rebuild gives the same lists
    index.train(np.ascontiguousarray(train, dtype="float32"))
    index.nprobe = min(int(params["nprobe"]), nlist)
    return index


def configure_search(index: Any, kind: str, params: dict) -> None:
    """Reapply the search-time parameters to a (loaded) index: FAISS's own files are not relied on."""
    import faiss

    inner = faiss.downcast_index(index)
    if kind == "hnsw":
        inner.hnsw.efSearch = int(params["ef_search"])
    elif kind == "ivf":
        inner.nprobe = min(int(params["nprobe"]), inner.nlist)


def search_one(index, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Search one query vector on one thread; FAISS's `(scores, ids)` for it, shaped (1, k).

    FAISS spreads even a single query over its OpenMP threads, and starting them costs more than
    the search (measured: 8 ms against 0.25 ms at 5,000 entries), far more when another job holds
    the other core. The results are the same on one thread.

        >>> import faiss
        >>> index = faiss.IndexFlatIP(2)
        >>> index.add(np.array([[1.0, 0.0], [0.0, 1.0]], dtype="float32"))
        >>> search_one(index, np.array([0.0, 1.0], dtype="float32"), 1)[1].tolist()
        [[1]]
    """
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return index.search(np.asarray(vector, dtype="float32").reshape(1, -1), k)
    finally:
        faiss.omp_set_num_threads(threads)


class FaissStore(BasePydanticVectorStore):
    """Exact cosine search over chunk embeddings, with upsert and delete by document."""

    stores_text: bool = True
    dim: int
    kind: str = "flat"
    params: dict = {}
    _index: Any = PrivateAttr()
    _nodes: dict = PrivateAttr(default_factory=dict)  # faiss id -> node without embedding
    _ids: dict = PrivateAttr(default_factory=dict)  # node id -> faiss id
    _by_doc: dict = PrivateAttr(default_factory=dict)  # ref doc id -> set of faiss ids
    _next_id: int = PrivateAttr(default=0)

    @classmethod
    def create(cls, dim: int, kind: str = "flat", **params) -> FaissStore:
        """An empty store; `kind` and `params` as in `new_faiss_index` (an IVF store is trained
        on its first batch of vectors)."""
        import faiss

        params = check_params(kind, params)
        store = cls(dim=dim, kind=kind, params=params)
        store._index = None if kind == "ivf" else faiss.IndexIDMap2(new_faiss_index(dim, kind, **params))
        return store

    def rebuilt(self, kind: str | None = None, **params) -> FaissStore:
        """A copy of this store over a new index of `kind` (default: this one's), holding the same
        vectors, nodes and ids: converts between kinds without embedding anything again."""
        kind = kind or self.kind
        copy = FaissStore.create(self.dim, kind, **(params if params or kind != self.kind else self.params))
        ids, vectors = self._stored_vectors()
        if len(ids):
            copy._insert(vectors, ids)
        copy._nodes, copy._ids = dict(self._nodes), dict(self._ids)
        copy._by_doc = {doc: set(members) for doc, members in self._by_doc.items()}
        copy._next_id = self._next_id
        return copy

    def _stored_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(faiss ids, normalized vectors) of everything in the index, in the index's order."""
        import faiss

        if self._index is None or self._index.ntotal == 0:
            return np.zeros(0, dtype="int64"), np.zeros((0, self.dim), dtype="float32")
        ids = faiss.vector_to_array(self._index.id_map).astype("int64")
        return ids, self._index.index.reconstruct_n(0, self._index.ntotal)

    def _insert(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        import faiss

        if self._index is None:  # IVF: train on the first batch, then keep the quantizer
            self._index = faiss.IndexIDMap2(new_faiss_index(self.dim, "ivf", train=vectors, **self.params))
        self._index.add_with_ids(vectors, ids)

    @classmethod
    def class_name(cls) -> str:
        return "toolkit_faiss_store"

    @property
    def client(self) -> Any:
        return self._index

    def __len__(self) -> int:
        return 0 if self._index is None else self._index.ntotal

    def documents(self) -> list[str]:
        """Ids of the documents that have at least one chunk in the store."""
        return sorted(self._by_doc)

    def _vectors(self, embeddings: Sequence[Sequence[float]]) -> np.ndarray:
        import faiss

        vectors = np.asarray(embeddings, dtype="float32")
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(
                f"embeddings of shape {vectors.shape} do not fit this store of dimension "
                f"{self.dim}: the index was built with another embedding model"
            )
        faiss.normalize_L2(vectors)
        return vectors

    def add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        if not nodes:
            return []
        missing = [n.node_id for n in nodes if n.embedding is None]
        if missing:
            raise ValueError(f"nodes without embeddings cannot be added: {missing[:3]}")
        nodes = list({n.node_id: n for n in nodes}.values())  # one node id, one vector: the last wins
        self.delete_nodes([n.node_id for n in nodes if n.node_id in self._ids])
        ids = np.arange(self._next_id, self._next_id + len(nodes), dtype="int64")
        self._insert(self._vectors([n.embedding for n in nodes]), ids)
        self._next_id += len(nodes)
        for faiss_id, node in zip(ids.tolist(), nodes):
            self._nodes[faiss_id] = node.model_copy(update={"embedding": None})
            self._ids[node.node_id] = faiss_id
            self._by_doc.setdefault(node.ref_doc_id or node.node_id, set()).add(faiss_id)
        return [n.node_id for n in nodes]

    def _remove(self, faiss_ids: list[int]) -> None:
        if not faiss_ids:
            return
        if self.kind == "flat":
            self._index.remove_ids(np.asarray(faiss_ids, dtype="int64"))
        else:  # HNSW cannot delete; IVF under IndexIDMap2 would misnumber: rebuild without them
            import faiss

            ids, vectors = self._stored_vectors()
            keep = ~np.isin(ids, np.asarray(faiss_ids, dtype="int64"))
            inner = faiss.clone_index(self._index.index)
            inner.reset()  # emptied, but an IVF keeps its trained quantizer
            self._index = faiss.IndexIDMap2(inner)
            configure_search(inner, self.kind, self.params)
            if keep.any():
                self._index.add_with_ids(np.ascontiguousarray(vectors[keep]), ids[keep])
        for faiss_id in faiss_ids:
            node = self._nodes.pop(faiss_id)
            self._ids.pop(node.node_id, None)
            doc = node.ref_doc_id or node.node_id
            members = self._by_doc.get(doc)
            if members is not None:
                members.discard(faiss_id)
                if not members:
                    del self._by_doc[doc]

    def delete(self, ref_doc_id: str, **kwargs: Any) -> None:
        """Delete every chunk of one document."""
        self._remove(sorted(self._by_doc.get(ref_doc_id, ())))

    def delete_nodes(self, node_ids: list[str] | None = None, filters: Any = None, **kwargs: Any) -> None:
        if filters is not None:
            raise NotImplementedError("metadata filters are not supported by FaissStore")
        self._remove([self._ids[i] for i in node_ids or [] if i in self._ids])

    def clear(self) -> None:
        self._remove(list(self._nodes))

    def get_nodes(self, node_ids: list[str] | None = None, filters: Any = None) -> list[BaseNode]:
        if node_ids is None:
            return list(self._nodes.values())
        return [self._nodes[self._ids[i]] for i in node_ids if i in self._ids]

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        if query.filters is not None:
            raise NotImplementedError("metadata filters are not supported by FaissStore")
        k = min(query.similarity_top_k, len(self))
        if k == 0:
            return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
        scores, ids = search_one(self._index, self._vectors([query.query_embedding])[0], k)
        hits = [(float(s), int(i)) for s, i in zip(scores[0], ids[0]) if i >= 0]
        nodes = [self._nodes[i] for _, i in hits]
        return VectorStoreQueryResult(nodes=nodes, similarities=[s for s, _ in hits], ids=[n.node_id for n in nodes])

    def persist(self, persist_path: str | Path, fs: Any = None) -> None:
        """Write `vectors.faiss` and `nodes.jsonl` into the folder `persist_path`."""
        import faiss

        folder = Path(persist_path)
        folder.mkdir(parents=True, exist_ok=True)
        index = self._index if self._index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        faiss.write_index(index, str(folder / VECTORS_FILE))  # an untrained empty IVF is saved as empty
        header = {"dim": self.dim, "next_id": self._next_id}
        if self.kind != "flat":  # a flat store's files stay exactly as before kinds existed
            header.update(kind=self.kind, params=self.params)
        with open(folder / NODES_FILE, "w", encoding="utf-8") as f:
            f.write(json.dumps(header) + "\n")
            for faiss_id, node in self._nodes.items():
                f.write(json.dumps({"id": faiss_id, "node": doc_to_json(node)}) + "\n")

    @classmethod
    def load(cls, folder: str | Path) -> FaissStore:
        """Read a store written by `persist`; raises ValueError when the two files disagree."""
        import faiss

        folder = Path(folder)
        index = faiss.read_index(str(folder / VECTORS_FILE))
        with open(folder / NODES_FILE, encoding="utf-8") as f:
            header = json.loads(f.readline())
            kind = header.get("kind", "flat")
            store = cls(dim=header["dim"], kind=kind, params=check_params(kind, header.get("params", {})))
            store._index = None if kind == "ivf" and index.ntotal == 0 else index
            if store._index is not None:
                configure_search(index.index, kind, store.params)
            store._next_id = header["next_id"]
            for line in f:
                row = json.loads(line)
                node = json_to_doc(row["node"])
                store._nodes[row["id"]] = node
                store._ids[node.node_id] = row["id"]
                store._by_doc.setdefault(node.ref_doc_id or node.node_id, set()).add(row["id"])
        if index.d != store.dim or index.ntotal != len(store._nodes):
            raise ValueError(
                f"{VECTORS_FILE} holds {index.ntotal} vectors of dimension {index.d}, "
                f"{NODES_FILE} holds {len(store._nodes)} chunks of dimension {store.dim}"
            )
        return store

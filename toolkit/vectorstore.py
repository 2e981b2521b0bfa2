"""A FAISS vector store for LlamaIndex that can delete by document and keeps the chunk texts.

Why not `llama-index-vector-stores-faiss`: in version 0.7.0 `FaissVectorStore.delete` raises
NotImplementedError, and `FaissMapVectorStore.delete(ref_doc_id)` only deletes a *node* of that
id (so re-ingesting a changed file leaves its old chunks behind) and numbers new vectors by
`ntotal`, which reuses live ids after any delete. Incremental ingestion needs both to work.

This store wraps `faiss.IndexIDMap2(faiss.IndexFlatIP(dim))` with never-reused int64 ids,
normalizes vectors so inner product is cosine similarity, and keeps each chunk's node (its
text and metadata, without the embedding) so retrieval needs no separate docstore.

    >>> store = FaissStore.create(dim=3)
    >>> from llama_index.core.schema import TextNode
    >>> store.add([TextNode(id_="a", text="x", embedding=[1.0, 0, 0])])
    ['a']
    >>> store.query(VectorStoreQuery(query_embedding=[1.0, 0, 0], similarity_top_k=1)).ids
    ['a']

Not here: approximate indexes (HNSW, IVF) and sparse retrieval.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import BaseNode
from llama_index.core.storage.docstore.utils import doc_to_json, json_to_doc
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    VectorStoreQuery,
    VectorStoreQueryResult,
)

__all__ = ["FaissStore", "VectorStoreQuery"]

VECTORS_FILE = "vectors.faiss"
NODES_FILE = "nodes.jsonl"


class FaissStore(BasePydanticVectorStore):
    """Exact cosine search over chunk embeddings, with upsert and delete by document."""

    stores_text: bool = True
    dim: int
    _index: Any = PrivateAttr()
    _nodes: dict = PrivateAttr(default_factory=dict)     # faiss id -> node without embedding
    _ids: dict = PrivateAttr(default_factory=dict)       # node id -> faiss id
    _by_doc: dict = PrivateAttr(default_factory=dict)    # ref doc id -> set of faiss ids
    _next_id: int = PrivateAttr(default=0)

    @classmethod
    def create(cls, dim: int) -> FaissStore:
        import faiss

        store = cls(dim=dim)
        store._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        return store

    @classmethod
    def class_name(cls) -> str:
        return "toolkit_faiss_store"

    @property
    def client(self) -> Any:
        return self._index

    def __len__(self) -> int:
        return self._index.ntotal

    def documents(self) -> list[str]:
        """Ids of the documents that have at least one chunk in the store."""
        return sorted(self._by_doc)

    def _vectors(self, embeddings: Sequence[Sequence[float]]) -> np.ndarray:
        import faiss

        vectors = np.asarray(embeddings, dtype="float32")
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"embeddings of shape {vectors.shape} do not fit this store of dimension "
                             f"{self.dim}: the index was built with another embedding model")
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
        self._index.add_with_ids(self._vectors([n.embedding for n in nodes]), ids)
        self._next_id += len(nodes)
        for faiss_id, node in zip(ids.tolist(), nodes):
            self._nodes[faiss_id] = node.model_copy(update={"embedding": None})
            self._ids[node.node_id] = faiss_id
            self._by_doc.setdefault(node.ref_doc_id or node.node_id, set()).add(faiss_id)
        return [n.node_id for n in nodes]

    def _remove(self, faiss_ids: list[int]) -> None:
        if not faiss_ids:
            return
        self._index.remove_ids(np.asarray(faiss_ids, dtype="int64"))
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
        k = min(query.similarity_top_k, self._index.ntotal)
        if k == 0:
            return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
        scores, ids = self._index.search(self._vectors([query.query_embedding]), k)
        hits = [(float(s), int(i)) for s, i in zip(scores[0], ids[0]) if i >= 0]
        nodes = [self._nodes[i] for _, i in hits]
        return VectorStoreQueryResult(nodes=nodes, similarities=[s for s, _ in hits],
                                      ids=[n.node_id for n in nodes])

    def persist(self, persist_path: str | Path, fs: Any = None) -> None:
        """Write `vectors.faiss` and `nodes.jsonl` into the folder `persist_path`."""
        import faiss

        folder = Path(persist_path)
        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self._index, str(folder / VECTORS_FILE))
        with open(folder / NODES_FILE, "w", encoding="utf-8") as f:
            f.write(json.dumps({"dim": self.dim, "next_id": self._next_id}) + "\n")
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
            store = cls(dim=header["dim"])
            store._index = index
            store._next_id = header["next_id"]
            for line in f:
                row = json.loads(line)
                node = json_to_doc(row["node"])
                store._nodes[row["id"]] = node
                store._ids[node.node_id] = row["id"]
                store._by_doc.setdefault(node.ref_doc_id or node.node_id, set()).add(row["id"])
        if index.d != store.dim or index.ntotal != len(store._nodes):
            raise ValueError(f"{VECTORS_FILE} holds {index.ntotal} vectors of dimension {index.d}, "
                             f"{NODES_FILE} holds {len(store._nodes)} chunks of dimension {store.dim}")
        return store

"""A persisted, incrementally updatable index: FAISS vectors, chunk texts, and the ingestion state.

One index folder holds, in its live version (see persist.py):

    store/vectors.faiss, store/nodes.jsonl    the FaissStore: vectors and chunk nodes
    pipeline/docstore.json                    IngestionPipeline's document hashes (for upserts)
    manifest.json                             checksums, and meta: embedding model, chunking,
                                              counts, and a SHA-256 of every source file

    >>> index = Index.open("~/.local/share/llm-pipeline-toolkit/indexes/tidewell")  # doctest: +SKIP
    >>> index.meta["chunks"]                                                       # doctest: +SKIP
    357

Not here: reading files (loaders.py) or deciding what to re-embed (incremental.py).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ..errors import IndexCorruptError
from .persist import VersionedFolder
from .vectorstore import FaissStore

__all__ = ["Index", "FORMAT_VERSION"]

FORMAT_VERSION = 1


def _fix_hint(path: Path) -> str:
    return f"rebuild it with: python -m toolkit ingest SOURCE_FOLDER --index {path}"


class Index:
    """The parts of one index that live together and are saved together."""

    def __init__(self, store: FaissStore, docstore=None, meta: dict | None = None, path: str | Path | None = None):
        from llama_index.core.storage.docstore import SimpleDocumentStore

        self.store = store
        self.docstore = docstore if docstore is not None else SimpleDocumentStore()
        self.meta = dict(meta or {})
        self.path = Path(path).expanduser() if path else None

    @classmethod
    def create(cls, dim: int, meta: dict, path: str | Path | None = None) -> Index:
        return cls(FaissStore.create(dim), meta=meta, path=path)

    @staticmethod
    def exists(path: str | Path) -> bool:
        return VersionedFolder(Path(path).expanduser()).exists()

    @staticmethod
    def lock(path: str | Path):
        """Hold this while reading, changing and saving an index, so writers take turns."""
        path = Path(path).expanduser()
        return VersionedFolder(path, _fix_hint(path)).lock()

    @classmethod
    def open(cls, path: str | Path) -> Index:
        """Load and verify an index; raises IndexCorruptError naming the bad file and the fix."""
        from llama_index.core.storage.docstore import SimpleDocumentStore

        path = Path(path).expanduser()
        folder, meta = VersionedFolder(path, _fix_hint(path)).read()
        if meta.get("format") != FORMAT_VERSION:
            raise IndexCorruptError(
                f"{folder} was written in index format {meta.get('format')!r}, "
                f"this toolkit reads format {FORMAT_VERSION}; {_fix_hint(path)}"
            )
        try:
            store = FaissStore.load(folder / "store")
            docstore = SimpleDocumentStore.from_persist_path(str(folder / "pipeline" / "docstore.json"))
        except Exception as exc:  # checksums passed, so this is a version or logic mismatch; say where
            raise IndexCorruptError(
                f"{folder} cannot be loaded ({type(exc).__name__}: {exc}); {_fix_hint(path)}"
            ) from exc
        if len(store) != meta.get("chunks"):
            raise IndexCorruptError(
                f"{folder} holds {len(store)} chunks but its manifest says {meta.get('chunks')}; {_fix_hint(path)}"
            )
        return cls(store, docstore, meta, path)

    def save(self, path: str | Path | None = None) -> Path:
        """Write a new version atomically; the previous one stays readable until the switch."""
        path = Path(path or self.path).expanduser()
        self.meta.update(
            format=FORMAT_VERSION,
            chunks=len(self.store),
            documents=len(self.store.documents()),
            saved=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        with VersionedFolder(path, _fix_hint(path)).write(self.meta) as staging:
            self.store.persist(staging / "store")
            (staging / "pipeline").mkdir()
            self.docstore.persist(str(staging / "pipeline" / "docstore.json"))
        self.path = path
        return path

    def discard(self) -> None:
        """Drop unsaved changes after a failed ingest: nothing to do, they are only in memory
        (PostgresIndex rolls its transaction back)."""

    @property
    def chunks(self) -> int:
        return len(self.store)

    def retriever(self, embed_model, top_k: int = 4):
        """A LlamaIndex retriever over this index (cosine similarity; exact search unless the store
        is HNSW or IVF). BM25 and hybrid retrievers: `retrieve.make_retriever`."""
        from llama_index.core import VectorStoreIndex

        index = VectorStoreIndex.from_vector_store(self.store, embed_model=embed_model)
        return index.as_retriever(similarity_top_k=top_k)

"""Ingestion: a folder to Documents with a per-file report, each file parsed under a time and a
memory budget, chunking, incremental and batched embedding, and the index on disk (atomic,
checksummed, FAISS with delete by document), or in PostgreSQL (pgvector through PGVectorStore).

    >>> from toolkit.ingestion import CHUNKING_STRATEGIES
    >>> sorted(CHUNKING_STRATEGIES)
    ['markdown', 'sentence', 'token']

The names load lazily, as the toolkit's own do: the parser's worker process imports
`toolkit.ingestion.loaders` without LlamaIndex, FAISS or the models (a fresh interpreter that
imported them all would take seconds to start).

Not here: querying the index (toolkit.retrieval).
"""

from __future__ import annotations

import importlib

# public name -> module that defines it
_EXPORTS = {
    "ingest": "incremental",
    "IngestReport": "incremental",
    "Index": "index",
    "PostgresIndex": "index_postgres",
    "IndexTable": "index_postgres",
    "load_folder": "loaders",
    "chunk_documents": "chunking",
    "make_chunker": "chunking",
    "CHUNKING_STRATEGIES": "chunking",
    "FORMATS": "loaders",
    "default_index_dir": "incremental",
    "FaissStore": "vectorstore",
    "INDEX_KINDS": "vectorstore",
    "choose_kind": "vectorstore",
    "VectorStoreQuery": "vectorstore",
    "VersionedFolder": "persist",
    "sha256_file": "persist",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'toolkit.ingestion' has no attribute {name!r}")


def __dir__():
    return __all__

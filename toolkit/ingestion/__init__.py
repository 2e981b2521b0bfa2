"""Ingestion: a folder to Documents with a per-file report, chunking, incremental and batched
embedding, and the index on disk (atomic, checksummed, FAISS with delete by document).

    >>> sorted(CHUNKING_STRATEGIES)
    ['markdown', 'sentence', 'token']

Not here: querying the index (toolkit.retrieval).
"""

from .chunking import CHUNKING_STRATEGIES, chunk_documents, make_chunker
from .incremental import IngestReport, default_index_dir, ingest
from .index import Index
from .loaders import FORMATS, load_folder
from .persist import VersionedFolder, sha256_file
from .vectorstore import INDEX_KINDS, FaissStore, choose_kind

__all__ = [
    "ingest",
    "IngestReport",
    "Index",
    "load_folder",
    "chunk_documents",
    "make_chunker",
    "CHUNKING_STRATEGIES",
    "FORMATS",
    "default_index_dir",
    "FaissStore",
    "INDEX_KINDS",
    "choose_kind",
    "VersionedFolder",
    "sha256_file",
]

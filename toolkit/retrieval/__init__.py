"""Retrieval: dense (FAISS), BM25 (bm25s) and hybrid retrievers, fusion, citations, the source
router between documents and structured sources, the read-only SQL guard and the live-API client.

    >>> sorted(RETRIEVER_KINDS)
    ['bm25', 'dense', 'hybrid']

Not here: building the index (toolkit.ingestion), or the bundled demo's data, service and routing
rules (toolkit.demo).
"""

from .citations import Source, cite
from .freshness import PreferCurrent, family, prefer_current, superseded_by
from .liveapi import LiveAPIClient
from .retrievers import (
    FUSIONS,
    RETRIEVER_KINDS,
    BM25Index,
    DenseIndex,
    make_retriever,
    reciprocal_rank_fusion,
    score_fusion,
)
from .router import DOCUMENTS, MissingSource, Route, Routed, Rule, SourceRouter
from .sql import ReadOnlyDatabase, text_to_sql

__all__ = [
    "PreferCurrent",
    "prefer_current",
    "superseded_by",
    "family",
    "make_retriever",
    "DenseIndex",
    "BM25Index",
    "reciprocal_rank_fusion",
    "score_fusion",
    "RETRIEVER_KINDS",
    "FUSIONS",
    "Source",
    "cite",
    "SourceRouter",
    "Rule",
    "Route",
    "Routed",
    "DOCUMENTS",
    "MissingSource",
    "ReadOnlyDatabase",
    "text_to_sql",
    "LiveAPIClient",
]

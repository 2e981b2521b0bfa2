"""Citations: ranked chunks folded into ranked documents, one Source per document at its best chunk.

    >>> from llama_index.core.schema import NodeWithScore, TextNode
    >>> hits = [NodeWithScore(node=TextNode(id_="a#1", text="x"), score=0.9),
    ...         NodeWithScore(node=TextNode(id_="a#1", text="y"), score=0.5)]
    >>> [(s.id, s.score) for s in cite(hits)]
    [('a#1', 0.9)]

Not here: retrieving the chunks (retrievers.py, router.py).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Source", "cite"]


@dataclass
class Source:
    id: str  # the document id: its path relative to the ingested folder
    score: float  # cosine similarity of the best chunk of this document
    text: str = ""  # that chunk's text


def cite(hits) -> list[Source]:
    """Fold ranked chunks into ranked documents: one Source per document, at its best chunk."""
    best: dict[str, Source] = {}
    for hit in hits:  # hits arrive best first, so the first chunk of a document is its best
        doc = hit.node.ref_doc_id or hit.node.node_id
        if doc not in best:
            best[doc] = Source(doc, float(hit.score or 0.0), hit.node.get_content())
    return list(best.values())

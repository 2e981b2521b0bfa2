"""Chunking strategies, chosen by name: the `chunking` setting, with `chunk_size` and `chunk_overlap`.

    sentence   LlamaIndex's SentenceSplitter: chunks of at most chunk_size tokens that end at a
               sentence boundary where one fits. The default, and exactly the splitter the
               toolkit has always used, so existing indexes keep their chunks.
    token      LlamaIndex's TokenTextSplitter: fixed-size windows of chunk_size tokens (cut at a
               word boundary), blind to sentences and structure.
    markdown   LlamaIndex's MarkdownNodeParser (one piece per heading section, with its heading
               path in the `header_path` metadata), then SentenceSplitter so that no chunk
               exceeds chunk_size. A file without headings is one section (header_path "/"),
               then split as by the sentence strategy.

All three count tokens with the same tokenizer and leave room for the metadata the embedding
model sees (source and title), and every chunk keeps its document as `ref_doc_id`.

Chunk ids are derived, not drawn (`chunk_id`): a chunk's id is a UUID5 of its parent's id, the
parent's content hash and the chunk's position in it. The same corpus always gives the same ids,
in this process, in another one or on a Ray worker; a changed document gives its chunks new ids
and leaves every other document's alone.

    >>> from llama_index.core import Document
    >>> nodes = chunk_documents([Document(text="# A\\n\\nOne.\\n\\n# B\\n\\nTwo.")], "markdown")
    >>> [n.text for n in nodes]
    ['# A\\n\\nOne.', '# B\\n\\nTwo.']

Not here: reading files (loaders.py) or deciding which documents to chunk again (incremental.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

# Imported here, not lazily: NumberedMarkdownParser subclasses it at module level, so it pickles.
from llama_index.core.node_parser import MarkdownNodeParser

__all__ = ["CHUNKING_STRATEGIES", "make_chunker", "chunk_documents", "chunk_id"]

CHUNKING_STRATEGIES = ("sentence", "token", "markdown")
# The namespace of every chunk id (a fixed, random UUID): changing it renames every chunk.
CHUNK_NAMESPACE = uuid.UUID("5f0e8a52-3c1d-4b7e-9a64-2d8f1c0b7e93")


def chunk_id(position: int, parent) -> str:
    """The id of the chunk at `position` among those cut from `parent` (a Document or a section):
    LlamaIndex's `id_func`, a module-level function so that a chunker pickles to a Ray worker.

    >>> from llama_index.core import Document
    >>> chunk_id(0, Document(id_="a.md", text="One.")) == chunk_id(0, Document(id_="a.md", text="One."))
    True
    >>> chunk_id(0, Document(id_="a.md", text="One.")) == chunk_id(0, Document(id_="a.md", text="Two."))
    False
    """
    return str(uuid.uuid5(CHUNK_NAMESPACE, f"{parent.node_id}\n{parent.hash}\n{position}"))


class NumberedMarkdownParser(MarkdownNodeParser):
    """MarkdownNodeParser with its sections numbered in order: LlamaIndex asks `id_func` for
    position 0 for every section, so all sections of a file would share one id (and each chunk
    would then be looked up in the wrong section)."""

    def get_nodes_from_node(self, node):
        sections = super().get_nodes_from_node(node)
        for position, section in enumerate(sections):
            section.id_ = chunk_id(position, node)
        return sections


def make_chunker(strategy: str = "sentence", chunk_size: int = 128, chunk_overlap: int = 16) -> list:
    """The LlamaIndex transformations that chunk documents the way `strategy` says.

    >>> [type(t).__name__ for t in make_chunker("markdown")]
    ['NumberedMarkdownParser', 'SentenceSplitter']
    """
    from llama_index.core.node_parser import SentenceSplitter, TokenTextSplitter

    if strategy not in CHUNKING_STRATEGIES:
        raise ValueError(f"unknown chunking strategy {strategy!r}; choose one of {', '.join(CHUNKING_STRATEGIES)}")
    if chunk_overlap >= chunk_size:  # the splitters refuse this too, but mid-ingestion and bare
        raise ValueError(f"chunk_overlap ({chunk_overlap}) must be smaller than chunk_size ({chunk_size})")
    if strategy == "token":
        return [TokenTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap, id_func=chunk_id)]
    sentences = SentenceSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap, id_func=chunk_id)
    if strategy == "markdown":
        return [NumberedMarkdownParser(id_func=chunk_id), sentences]
    return [sentences]


def chunk_documents(
    documents: Sequence, strategy: str = "sentence", chunk_size: int = 128, chunk_overlap: int = 16
) -> list:
    """Chunk LlamaIndex Documents without embedding them: for comparing strategies side by side."""
    from llama_index.core.ingestion import run_transformations

    return run_transformations(list(documents), make_chunker(strategy, chunk_size, chunk_overlap))

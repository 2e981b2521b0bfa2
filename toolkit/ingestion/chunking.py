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

    >>> from llama_index.core import Document
    >>> nodes = chunk_documents([Document(text="# A\\n\\nOne.\\n\\n# B\\n\\nTwo.")], "markdown")
    >>> [n.text for n in nodes]
    ['# A\\n\\nOne.', '# B\\n\\nTwo.']

Not here: reading files (loaders.py) or deciding which documents to chunk again (incremental.py).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["CHUNKING_STRATEGIES", "make_chunker", "chunk_documents"]

CHUNKING_STRATEGIES = ("sentence", "token", "markdown")


def make_chunker(strategy: str = "sentence", chunk_size: int = 128, chunk_overlap: int = 16) -> list:
    """The LlamaIndex transformations that chunk documents the way `strategy` says.

    >>> [type(t).__name__ for t in make_chunker("markdown")]
    ['MarkdownNodeParser', 'SentenceSplitter']
    """
    from llama_index.core.node_parser import MarkdownNodeParser, SentenceSplitter, TokenTextSplitter

    if strategy not in CHUNKING_STRATEGIES:
        raise ValueError(f"unknown chunking strategy {strategy!r}; choose one of {', '.join(CHUNKING_STRATEGIES)}")
    if chunk_overlap >= chunk_size:  # the splitters refuse this too, but mid-ingestion and bare
        raise ValueError(f"chunk_overlap ({chunk_overlap}) must be smaller than chunk_size ({chunk_size})")
    if strategy == "token":
        return [TokenTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)]
    sentences = SentenceSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    if strategy == "markdown":
        return [MarkdownNodeParser(), sentences]
    return [sentences]


def chunk_documents(
    documents: Sequence, strategy: str = "sentence", chunk_size: int = 128, chunk_overlap: int = 16
) -> list:
    """Chunk LlamaIndex Documents without embedding them: for comparing strategies side by side."""
    from llama_index.core.ingestion import run_transformations

    return run_transformations(list(documents), make_chunker(strategy, chunk_size, chunk_overlap))

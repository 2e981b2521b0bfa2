"""What a cache needs from the rest of the pipeline: retrieval for the normalised question, and a
memo of embeddings for replayed traffic.

`NormalizedRetriever` makes questions equal after `normalize` see the same context, so they share
an exact key. `memo_embedding` memoises an embedding model, so a replayed trace embeds each
distinct question once.

    >>> NormalizedRetriever(None).inner is None
    True

Not here: storing and finding answers (cache.py), the keys (cache_keys.py), the cached model
call itself (middleware.py).
"""

from __future__ import annotations

from .cache_keys import normalize

__all__ = ["NormalizedRetriever", "memo_embedding"]


def memo_embedding(inner, max_items: int = 100_000):
    """`inner` (a LlamaIndex embedding model) with an in-memory memo of every text it embedded:
    a replay of repeated traffic embeds each distinct text once. Not persisted, not shared; it
    starts over past `max_items` texts (about 150 MB of MiniLM vectors), so a long-running
    process stays bounded.

    >>> memo = memo_embedding(embed_model); memo.prefill(questions)    # doctest: +SKIP
    """
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.bridge.pydantic import PrivateAttr

    class MemoEmbedding(BaseEmbedding):
        _inner: object = PrivateAttr()
        _memo: dict = PrivateAttr(default_factory=dict)

        def _batch(self, texts, query: bool) -> list:
            missing = list(dict.fromkeys(t for t in texts if (query, t) not in self._memo))
            if len(self._memo) + len(missing) > max_items:
                self._memo.clear()
            if missing:
                vectors = (
                    [self._inner.get_query_embedding(t) for t in missing]
                    if query
                    else self._inner.get_text_embedding_batch(missing)
                )
                self._memo.update({(query, t): v for t, v in zip(missing, vectors)})
            return [self._memo[(query, t)] for t in texts]

        def prefill(self, texts, query: bool = True) -> None:
            """Embed many texts at once (query embeddings by default), in one batch."""
            missing = list(dict.fromkeys(t for t in texts if (query, t) not in self._memo))
            # MiniLM embeds queries and texts alike; batching is what makes this fast.
            self._memo.update({(query, t): v for t, v in zip(missing, self._inner.get_text_embedding_batch(missing))})

        def _get_query_embedding(self, query: str) -> list:
            return self._batch([query], True)[0]

        async def _aget_query_embedding(self, query: str) -> list:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list:
            return self._batch([text], False)[0]

        def _get_text_embeddings(self, texts: list) -> list:
            return self._batch(texts, False)

    memo = MemoEmbedding(
        model_name=f"memo:{getattr(inner, 'model_name', 'embedding')}",
        embed_batch_size=getattr(inner, "embed_batch_size", 64),
    )
    memo._inner = inner
    return memo


class NormalizedRetriever:
    """Retrieves for the normalised question, so questions equal after `normalize` see the
    same context (and share an exact-cache key). MiniLM is uncased, so only spacing and end
    punctuation change what it sees."""

    def __init__(self, inner):
        self.inner = inner

    def retrieve(self, question):
        return self.inner.retrieve(normalize(question) if isinstance(question, str) else question)

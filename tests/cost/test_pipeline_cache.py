"""What the cache needs from the pipeline: retrieval for the normalised question, and embeddings
memoised so that replayed traffic embeds each distinct text once."""

from __future__ import annotations

from toolkit.cost.pipeline_cache import NormalizedRetriever, memo_embedding


class Recording:
    """A retriever that returns what it was asked."""

    def __init__(self):
        self.asked = []

    def retrieve(self, question):
        self.asked.append(question)
        return [f"context for {question!r}"]


class Counting:
    """An embedding model that records every call: a text's vector is (its length, 1 for a query)."""

    model_name = "counting"
    embed_batch_size = 16

    def __init__(self):
        self.calls = []

    def get_query_embedding(self, text):
        self.calls.append(("query", text))
        return [float(len(text)), 1.0]

    def get_text_embedding_batch(self, texts):
        self.calls.append(("texts", list(texts)))
        return [[float(len(t)), 0.0] for t in texts]


def test_questions_equal_after_normalising_see_the_same_context():
    inner = Recording()
    retriever = NormalizedRetriever(inner)
    assert retriever.retrieve("  How LONG do I have to  return an item?? ") == [
        "context for 'how long do i have to return an item'"
    ]
    retriever.retrieve("how long do I have to return an item")
    assert inner.asked == ["how long do i have to return an item"] * 2


def test_a_query_that_is_not_a_string_passes_through_unchanged():
    from llama_index.core.schema import QueryBundle

    inner = Recording()
    bundle = QueryBundle("How LONG?")
    NormalizedRetriever(inner).retrieve(bundle)
    assert inner.asked[0] is bundle


def test_each_distinct_text_is_embedded_once():
    inner = Counting()
    memo = memo_embedding(inner)
    assert (memo.model_name, memo.embed_batch_size) == ("memo:counting", 16)
    assert memo.get_query_embedding("returns?") == memo.get_query_embedding("returns?") == [8.0, 1.0]
    assert memo.get_text_embedding_batch(["a", "bb", "a"]) == [[1.0, 0.0], [2.0, 0.0], [1.0, 0.0]]
    assert memo.get_text_embedding_batch(["bb", "ccc"]) == [[2.0, 0.0], [3.0, 0.0]]
    # a query and a text are embedded apart, even when the words are the same
    assert memo.get_text_embedding("returns?") == [8.0, 0.0]
    assert inner.calls == [("query", "returns?"), ("texts", ["a", "bb"]), ("texts", ["ccc"]), ("texts", ["returns?"])]


def test_prefill_embeds_the_missing_queries_in_one_batch():
    inner = Counting()
    memo = memo_embedding(inner)
    memo.get_query_embedding("hi")
    memo.prefill(["hi", "hello", "hey", "hello"])
    assert inner.calls == [("query", "hi"), ("texts", ["hello", "hey"])]
    # prefilled with the batch embedding, served as queries from then on
    assert [memo.get_query_embedding(q) for q in ["hello", "hey", "hi"]] == [[5.0, 0.0], [3.0, 0.0], [2.0, 1.0]]
    assert len(inner.calls) == 2

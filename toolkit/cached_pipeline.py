"""The response cache wired into the pipeline: the cached model call, and the helpers it needs.

`cached_chat` is `Pipeline._chat`'s model call through `pipeline.cache` (a ResponseCache) and
`pipeline.ledger` (a CostLedger), either of which may be None: it reserves budget before a paid
call, records ledger rows after it, and on a cache hit returns a zero-usage response.
`NormalizedRetriever` makes questions equal after `normalize` see the same context, so they share
an exact key. `memo_embedding` memoises an embedding model, so a replayed trace embeds each
distinct question once.

    >>> pipeline = Pipeline.bundled(cache=ResponseCache(path, embed_model=embed))   # doctest: +SKIP

Not here: storing and finding answers (cache.py), the keys (cache_keys.py), prices and the ledger
(costs.py, ledger.py).
"""

from __future__ import annotations

import dataclasses
import json

from .cache_keys import CachedAnswer, CacheRequest, context_fingerprint, model_params, normalize, prompt_version

__all__ = ["cached_chat", "NormalizedRetriever", "memo_embedding"]


def memo_embedding(inner):
    """`inner` (a LlamaIndex embedding model) with an in-memory memo of every text it embedded:
    a replay of repeated traffic embeds each distinct text once. Not persisted, not shared.

    >>> memo = memo_embedding(embed_model); memo.prefill(questions)    # doctest: +SKIP
    """
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.bridge.pydantic import PrivateAttr

    class MemoEmbedding(BaseEmbedding):
        _inner: object = PrivateAttr()
        _memo: dict = PrivateAttr(default_factory=dict)

        def _batch(self, texts, query: bool) -> list:
            missing = list(dict.fromkeys(t for t in texts if (query, t) not in self._memo))
            if missing:
                vectors = ([self._inner.get_query_embedding(t) for t in missing] if query
                           else self._inner.get_text_embedding_batch(missing))
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

    memo = MemoEmbedding(model_name=f"memo:{getattr(inner, 'model_name', 'embedding')}",
                         embed_batch_size=getattr(inner, "embed_batch_size", 64))
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


def cached_chat(pipeline, messages, question: str, context, record):
    """`pipeline.llm.chat(messages)` through `pipeline.cache` and `pipeline.ledger` (either may
    be None): a budget reservation before a paid call, the ledger rows after it, and on a cache
    hit a response with zero usage (no model call was made) and `record.cache_hit` set."""
    from llama_index.core.base.llms.types import ChatMessage, ChatResponse

    from .costs import Usage, tokenizer_for
    from .models import count_tokens, embed_model_id, usage_from_response

    cache, ledger = pipeline.cache, pipeline.ledger
    prompt = "\n".join(m.content or "" for m in messages)
    made: list = []

    def projected(answer_text: str):
        if ledger is None or not ledger.priced_as:
            return None
        count = tokenizer_for(ledger.priced_as)[0]
        return Usage(count(prompt), count(answer_text))

    def generate(input_tokens: int):
        """The pipeline's own call (with its retry policy, if any); every failed attempt of
        that policy becomes a 'retry' row in the ledger."""
        policy = getattr(pipeline, "retry", None)
        if policy is None or ledger is None:
            return pipeline._generate(messages, record)
        recorder, original = ledger.attempt_recorder(record.run_id, input_tokens), policy.on_attempt

        def on_attempt(attempt) -> None:
            if original is not None:
                original(attempt)
            recorder(attempt)

        outcome = dataclasses.replace(policy, on_attempt=on_attempt).chat(pipeline.model, pipeline.llm, messages)
        record.attempts, record.model = len(outcome.attempts), outcome.tier
        return outcome.value

    def call() -> CachedAnswer:
        reservation = None
        if ledger is not None:
            # the provider's tokenizer (local models: the loaded model's own; they cost nothing anyway)
            count = (lambda text: count_tokens(pipeline.llm, text)) if pipeline.model.startswith("local:") \
                else tokenizer_for(pipeline.model)[0]
            estimate = pipeline.prices.cost(pipeline.model, Usage(count(prompt), pipeline.settings.max_output_tokens))
            reservation = ledger.reserve(pipeline.model, estimate)
        try:
            response = generate(count(prompt) if ledger is not None else 0)
        except BaseException:
            if ledger is not None:
                ledger.release(reservation)
            raise
        text = (response.message.content or "").strip()
        usage = usage_from_response(response) or Usage(count_tokens(pipeline.llm, prompt),
                                                       count_tokens(pipeline.llm, text))
        if ledger is not None:
            ledger.record(record.run_id, "llm", record.model, usage, reservation=reservation,
                          projected_usage=projected(text))
        made.append(response)
        return CachedAnswer(text, usage.input_tokens, usage.output_tokens, pipeline.prices.cost(record.model, usage),
                            [source for source, _ in context], question)

    if ledger is not None:  # the retrieval embedded the question once
        ledger.record(record.run_id, "embedding", embed_model_id(pipeline.settings), Usage(),
                      projected_usage=Usage(tokenizer_for(ledger.embed_priced_as)[0](question)) if ledger.embed_priced_as else None)
    if cache is None:
        call()
        return made[0]
    spec = getattr(pipeline, "spec", None)
    request = CacheRequest(question, spec.version if spec is not None else prompt_version(pipeline.system_prompt),
                           pipeline.model, model_params(pipeline.llm), context_fingerprint(context),
                           dict(pipeline.index.meta.get("files", {})), tuple(sorted({s for s, _ in context})))
    answer, kind = cache.get_or_compute(request, call)
    if made:
        return made[0]
    record.cache_hit = kind
    if ledger is not None:
        ledger.record(record.run_id, "cache_saved", pipeline.model,
                      Usage(answer.input_tokens, answer.output_tokens), usd=answer.cost_usd,
                      projected_usage=projected(answer.text),
                      note=f"{kind} hit of {json.dumps(answer.question)}")
    return ChatResponse(message=ChatMessage(role="assistant", content=answer.text),
                        raw={"usage": {"prompt_tokens": 0, "completion_tokens": 0}, "cache": kind})

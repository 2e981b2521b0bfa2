"""The cost stage's two links in the model-call chain: the budget (with its ledger) and the cache.

`Budget(ledger)` reserves a paid call's estimate before it is made (a budget of zero blocks every
paid call), then writes the call's ledger row under its kind (`llm`, `repair`, `reask`, `judge`,
`sql`), a `retry` row for each failed attempt, and a `cache_saved` row when a cache answered.
`Cache(cache)` answers generation calls from a ResponseCache, keyed on the question, the prompt
version, the model and its parameters, the context shown and the corpus; identical concurrent
misses make one call.

    >>> client = ModelClient(llm, model, middleware=[Budget(ledger), Cache(cache), Retry(policy)])  # doctest: +SKIP

Put `Budget` first: it must see the cache's hits (to record what they saved) and every retry.
Not here: storing answers (cache.py), recording rows (ledger.py), prices (prices.py).
"""

from __future__ import annotations

import json

from ..models.calls import ModelCall, ModelReply
from ..models.usage import Usage, count_tokens
from .cache import ResponseCache
from .cache_keys import CachedAnswer, CacheRequest, context_fingerprint, model_params
from .ledger import CostLedger
from .prices import PriceTable, tokenizer_for

__all__ = ["Budget", "Cache"]


def _counter(call: ModelCall):
    """The provider's tokenizer; a local model's own (local models cost nothing anyway)."""
    if call.model.provider == "local":
        return lambda text: count_tokens(call.llm, text)
    return tokenizer_for(str(call.model))[0]


class Budget:
    """Reserve before a paid call, record after it: every call of a run lands in `ledger`."""

    def __init__(self, ledger: CostLedger):
        self.ledger = ledger

    def _projected(self, prompt: str, answer: str) -> Usage | None:
        if not self.ledger.priced_as:
            return None
        count = tokenizer_for(self.ledger.priced_as)[0]
        return Usage(count(prompt), count(answer))

    def __call__(self, call: ModelCall, send) -> ModelReply:
        ledger, model = self.ledger, str(call.model)
        count = _counter(call)
        input_tokens = count(call.prompt)
        estimate = ledger.prices.cost(model, Usage(input_tokens, call.max_output_tokens))
        reservation = ledger.reserve(model, estimate)
        call = call.replace(on_attempt=[*call.on_attempt, ledger.attempt_recorder(call.run_id or "-", input_tokens)])
        try:
            reply = send(call)
        except BaseException:
            ledger.release(reservation)
            raise
        projected = self._projected(call.prompt, reply.text)
        if reply.cache_hit:
            ledger.release(reservation)
            ledger.record(
                call.run_id or "-",
                "cache_saved",
                model,
                reply.saved,
                usd=reply.saved_usd,
                projected_usage=projected,
                note=reply.note,
            )
        else:
            ledger.record(
                call.run_id or "-",
                call.kind,
                str(reply.model),
                reply.usage,
                reservation=reservation,
                projected_usage=projected,
            )
        return reply


class Cache:
    """Answer generation calls from `cache`; other kinds (re-asks, judges) always reach the model.

    `prices` values what a stored answer cost, so a later hit can say what it saved."""

    def __init__(self, cache: ResponseCache, prices: PriceTable | None = None):
        self.cache, self.prices = cache, prices or PriceTable.load()

    def __call__(self, call: ModelCall, send) -> ModelReply:
        if call.kind != "llm" or not call.question:
            return send(call)
        sources = tuple(sorted({source for source, _ in call.context}))
        request = CacheRequest(
            call.question,
            call.prompt_version,
            str(call.model),
            model_params(call.llm),
            context_fingerprint(call.context),
            dict(call.corpus),
            sources,
        )
        made: list[ModelReply] = []

        def compute() -> CachedAnswer:
            reply = send(call)
            made.append(reply)
            return CachedAnswer(
                reply.text,
                reply.usage.input_tokens,
                reply.usage.output_tokens,
                self.prices.cost(str(reply.model), reply.usage),
                [s for s, _ in call.context],
                call.question,
            )

        answer, kind = self.cache.get_or_compute(request, compute)
        if made:
            made[0].parts["cache"] = {"hit": ""}
            return made[0]
        return ModelReply(
            answer.text,
            Usage(),
            call.model,
            call.kind,
            attempts=0,
            cache_hit=kind,
            saved=Usage(answer.input_tokens, answer.output_tokens),
            saved_usd=answer.cost_usd,
            note=f"{kind} hit of {json.dumps(answer.question)}",
            parts={"cache": {"hit": kind}},
        )

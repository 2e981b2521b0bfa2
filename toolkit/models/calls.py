"""Every model call through one ordered chain of middleware, as httpx sends every request through
its transports.

A `ModelCall` is one request (the messages, what kind of call it is, the run it belongs to, and
what a cache needs to key it). A `ModelClient` sends it through its middleware, outermost first,
and then to the model; what comes back is a `ModelReply` (text, usage, the model that answered,
attempts, whether a cache answered). A middleware is any callable `(call, send) -> reply` that
may change the call, call `send` zero or more times, or change the reply:

    budget (cost) ─► cache (cost) ─► retry and fallback tiers (reliability) ─► faults (tests) ─► the model

    >>> from llama_index.core.llms import MockLLM
    >>> client = ModelClient(MockLLM(), "local:mock")
    >>> reply = client.chat([ChatMessage(role="user", content="hi")], kind="judge")
    >>> str(reply.model), reply.kind
    ('local:mock', 'judge')

The kinds: `llm` (the answer), `repair` (a schema re-ask), `reask` (a re-ask after a failed
check), `judge` and `sql` (text-to-SQL). `as_llm(kind)` wraps the client as a LlamaIndex LLM for
library code that wants one (NLSQLRetriever), so its calls go through the chain too.

Not here: the middleware themselves (toolkit.cost.middleware, toolkit.reliability.middleware).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from llama_index.core.base.llms.types import ChatMessage

from .providers import ModelRef
from .usage import Usage, count_tokens, usage_from_response

__all__ = ["CALL_KINDS", "ModelCall", "ModelReply", "ModelClient", "Middleware", "ChatMessage"]

CALL_KINDS = ("llm", "repair", "reask", "judge", "sql")

Middleware = Callable[["ModelCall", Callable[["ModelCall"], "ModelReply"]], "ModelReply"]


@dataclass
class ModelCall:
    """One request to a model. `llm` and `model` are the tier to call (a retry middleware swaps
    them for a fallback tier); `question`, `context`, `prompt_version` and `corpus` are what a
    response cache keys on; `on_attempt` callbacks see every attempt a retry makes."""

    messages: list
    llm: Any
    model: ModelRef
    kind: str = "llm"
    run_id: str = ""
    max_output_tokens: int = 64
    question: str = ""
    context: Sequence[tuple[str, str]] = ()
    prompt_version: str = ""
    corpus: dict = field(default_factory=dict)
    on_attempt: list[Callable] = field(default_factory=list)

    @property
    def prompt(self) -> str:
        return "\n".join(m.content or "" for m in self.messages)

    def replace(self, **changes) -> ModelCall:
        return dataclasses.replace(self, **changes)


@dataclass
class ModelReply:
    """What a call returned. `response` is the provider's ChatResponse (None when a cache
    answered); `saved` and `saved_usd` are what a cache hit avoided spending; `parts` is what
    the middleware report for the run record (`{"retry": {"attempts": 2}}`)."""

    text: str
    usage: Usage
    model: ModelRef
    kind: str = "llm"
    attempts: int = 1
    seconds: float = 0.0
    cache_hit: str = ""
    response: Any = None
    saved: Usage = field(default_factory=Usage)
    saved_usd: float = 0.0
    note: str = ""
    parts: dict[str, dict] = field(default_factory=dict)  # what each middleware adds to the run record

    @property
    def raw(self) -> Any:
        """The provider's raw payload (what a completeness check reads `finish_reason` from)."""
        return getattr(self.response, "raw", None)

    def summary(self) -> dict:
        """One row for the run record: kind, model, tokens, attempts, cache hit, seconds."""
        return {
            "kind": self.kind,
            "model": str(self.model),
            "input_tokens": self.usage.input_tokens,
            "output_tokens": self.usage.output_tokens,
            "attempts": self.attempts,
            "cache_hit": self.cache_hit,
            "seconds": round(self.seconds, 4),
        }


def send(call: ModelCall) -> ModelReply:
    """The end of every chain: `call.llm.chat(messages)`, with usage as the provider reported it,
    or counted with the model's tokenizer when it reported none."""
    started = time.perf_counter()
    response = call.llm.chat(call.messages)
    text = (response.message.content or "").strip()
    usage = usage_from_response(response)
    if usage is None:
        usage = Usage(count_tokens(call.llm, call.prompt), count_tokens(call.llm, text))
    return ModelReply(text, usage, call.model, call.kind, seconds=time.perf_counter() - started, response=response)


class ModelClient:
    """One model behind an ordered chain of middleware (outermost first).

    >>> client = ModelClient(llm, "openai:gpt-4o-mini", middleware=[budget, cache, retry])  # doctest: +SKIP
    >>> client.chat(messages, kind="judge", run_id="r1").text                             # doctest: +SKIP
    """

    def __init__(
        self, llm, model: str | ModelRef, middleware: Sequence[Middleware] = (), *, max_output_tokens: int = 64
    ):
        self.llm, self.model = llm, ModelRef.parse(model)
        self.middleware = list(middleware)
        self.max_output_tokens = max_output_tokens

    def with_middleware(self, middleware: Sequence[Middleware]) -> ModelClient:
        """The same model behind another chain."""
        return ModelClient(self.llm, self.model, middleware, max_output_tokens=self.max_output_tokens)

    def call(self, call: ModelCall) -> ModelReply:
        """Send `call` through every middleware, then to the model."""

        def through(index: int) -> Callable[[ModelCall], ModelReply]:
            if index == len(self.middleware):
                return send
            return lambda c: self.middleware[index](c, through(index + 1))

        started = time.perf_counter()
        reply = through(0)(call)
        reply.seconds = time.perf_counter() - started
        return reply

    def chat(self, messages: list, *, kind: str = "llm", run_id: str = "", **fields) -> ModelReply:
        """One call of `kind` (see CALL_KINDS); `fields` fill the rest of the ModelCall."""
        if kind not in CALL_KINDS:
            raise ValueError(f"unknown call kind {kind!r}; use one of {', '.join(CALL_KINDS)}")
        return self.call(
            ModelCall(list(messages), self.llm, self.model, kind, run_id, self.max_output_tokens, **fields)
        )

    def as_llm(self, kind: str, run_id: str = ""):
        """This client as a LlamaIndex LLM whose every call goes through the chain as `kind`."""
        from llama_index.core.base.llms.types import CompletionResponse, LLMMetadata
        from llama_index.core.bridge.pydantic import PrivateAttr
        from llama_index.core.llms import CustomLLM
        from llama_index.core.llms.callbacks import llm_completion_callback

        client = self

        class ChainLLM(CustomLLM):
            _inner: Any = PrivateAttr()

            @property
            def metadata(self) -> LLMMetadata:
                return client.llm.metadata

            @llm_completion_callback()
            def complete(self, prompt: str, formatted: bool = False, **kwargs) -> CompletionResponse:
                reply = client.chat([ChatMessage(role="user", content=prompt)], kind=kind, run_id=run_id)
                return CompletionResponse(text=reply.text, raw=reply.raw)

            @llm_completion_callback()
            def stream_complete(self, prompt: str, formatted: bool = False, **kwargs):
                yield self.complete(prompt)

        return ChainLLM()

"""An extractive answerer: quote the context sentence closest in meaning to the question.

It is a LlamaIndex LLM, so it drops into the toolkit's Pipeline wherever a model does
(`llm="extractive"`). It needs the toolkit's own prompt format (prompts.rag_messages): it reads
the context blocks of that prompt, splits them into sentences, embeds them with the
pipeline's embedding model and returns the one nearest the question, or "I don't know." when
nothing is near enough. It never invents text, costs no tokens and answers in milliseconds:
a floor that any generative model should beat before it earns its cost.

    >>> llm = ExtractiveLLM.from_embed_model(embed_model)          # doctest: +SKIP
    >>> llm.chat(rag_messages("How long?", [("r.md", "Hi. Returns take 30 days.")])).message.content  # doctest: +SKIP
    'Returns take 30 days.'

With `reply_format="json"` it answers as a JSON-mode provider would, in the CitedAnswer schema:
`{"answer": "Returns take 30 days.", "sources": [1]}` (the context block it quoted).

Not here: reasoning across sentences, dates or conflicting versions; it quotes, it does not think.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM

from ..prompting.spec import ABSTAIN, parse_rag_message
from ..text import expected_types, typed_spans

__all__ = ["ExtractiveLLM", "sentences"]

_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n+")


def sentences(text: str, min_words: int = 4) -> list[str]:
    """Sentences and lines of at least `min_words` words; headings are dropped.

    >>> sentences("## Returns\\nYou have 30 days. Opened items too.\\nShip free over $75 here.")
    ['You have 30 days.', 'Ship free over $75 here.']
    """
    found = []
    for piece in _SPLIT.split(text):
        piece = piece.strip(" -*|")
        if piece and not piece.startswith("#") and len(piece.split()) >= min_words:
            found.append(piece)
    return found


class ExtractiveLLM(CustomLLM):
    """Answers by quoting; `min_similarity` is the cosine below which it abstains.

    `type_bonus` is added to the similarity of a sentence that holds the kind of span the question
    asks for (a duration for "how long", a price for "how much": `text.expected_types`), so the
    sentence that answers beats the one that merely repeats the question's words. 0 turns it off.
    """

    min_similarity: float = 0.35
    type_bonus: float = 0.0
    reply_format: Literal["text", "json"] = "text"
    _embed: Any = PrivateAttr()

    @classmethod
    def from_embed_model(cls, embed_model, **kwargs: Any) -> ExtractiveLLM:
        llm = cls(**kwargs)
        llm._embed = embed_model
        return llm

    @classmethod
    def class_name(cls) -> str:
        return "toolkit_extractive"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(context_window=1_000_000, num_output=256, is_chat_model=True, model_name="extractive")

    def count_tokens(self, text: str) -> int:
        return 0  # it reads no tokens: nothing to budget, nothing to bill

    def answer(self, question: str, context: Sequence[str]) -> tuple[str, float]:
        """The best sentence and its cosine similarity to the question."""
        candidates = [s for block in context for s in sentences(block)]
        if not candidates:
            return ABSTAIN, 0.0
        vectors = np.asarray(self._embed.get_text_embedding_batch(candidates), dtype="float32")
        query = np.asarray(self._embed.get_query_embedding(question), dtype="float32")
        scores = vectors @ query / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query) + 1e-12)
        kinds = expected_types(question) if self.type_bonus else ()
        if kinds:
            scores = scores + self.type_bonus * np.array([bool(typed_spans(c, kinds)) for c in candidates])
        best = int(np.argmax(scores))  # the first of equals: the higher-ranked chunk wins ties
        if scores[best] < self.min_similarity:
            return ABSTAIN, float(scores[best])
        return candidates[best], float(scores[best])

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        context, question = parse_rag_message(messages[-1].content or "")
        text, score = self.answer(question, [text for _, text in context])
        if self.reply_format == "json":
            sources = [i + 1 for i, (_, block) in enumerate(context) if text in block][:1]
            text = json.dumps({"answer": text, "sources": sources})
        raw = {"usage": {"prompt_tokens": 0, "completion_tokens": 0}, "similarity": score}
        return ChatResponse(message=ChatMessage(role="assistant", content=text), raw=raw)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        response = self.chat(messages, **kwargs)

        def gen() -> ChatResponseGen:  # a quote arrives whole, as one chunk
            yield ChatResponse(message=response.message, delta=response.message.content, raw=response.raw)

        return gen()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        response = self.chat([ChatMessage(role="user", content=prompt)])
        return CompletionResponse(text=response.message.content or "", raw=response.raw)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        response = self.complete(prompt)

        def gen() -> CompletionResponseGen:
            yield CompletionResponse(text=response.text, delta=response.text, raw=response.raw)

        return gen()

"""A LlamaIndex LLM over llama-cpp-python that formats prompts with the GGUF's own chat template.

Why not LlamaIndex's `LlamaCPP` wrapper: it formats prompts Llama-2 style unless given
formatters, and SmolLM2 expects ChatML; answers to trivial questions degrade without it.
`Llama.create_chat_completion` applies the template stored in the GGUF, stops at the model's
end-of-turn token and reports exact token usage from the model's own tokenizer.

    >>> llm = LocalLLM.load(embedded_llm_path())                 # doctest: +SKIP
    >>> llm.chat([ChatMessage(role="user", content="Hi")]).raw["usage"]["prompt_tokens"]  # doctest: +SKIP
    31

Decoding is greedy (temperature 0) with a fixed seed, so answers repeat exactly on one machine.
A greedy answer also carries each token's log-probability (`raw["token_logprobs"]`), read from the
logits llama.cpp computes anyway: no second pass and none of `logits_all`'s doubled run time.
Not here: remote providers (providers.py builds those from LlamaIndex's own integrations).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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

__all__ = ["LocalLLM", "GreedyLogprobs"]


class GreedyLogprobs:
    """A llama.cpp logits processor that keeps the log-probability of the most likely next token.

    Under greedy decoding the most likely token is the one chosen, so this is the answer's own
    token log-probability, one per generated token (the end-of-turn token included).

    >>> keep = GreedyLogprobs()
    >>> _ = keep([], np.log(np.array([0.5, 0.25, 0.25], dtype="float32")))
    >>> [round(x, 3) for x in keep.values]
    [-0.693]
    """

    def __init__(self):
        self.values: list[float] = []

    def __call__(self, input_ids, scores):
        top = float(np.max(scores))
        self.values.append(top - (top + float(np.log(np.sum(np.exp(scores - top))))))
        return scores


@functools.lru_cache(maxsize=2)
def _load_llama(path: str, context_window: int, seed: int):
    from llama_cpp import Llama

    # llama.cpp defaults to half the cores; on a 2-core laptop that halves the speed. The cores
    # this process may use (affinity, containers) count, not the machine's.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    llama = Llama(model_path=path, n_ctx=context_window, seed=seed, n_threads=cores, verbose=False)
    # One llama.cpp context is not thread-safe, and a call abandoned by a timeout (reliability/retry.py)
    # keeps running, so every caller of this shared model takes its turn.
    return llama, threading.Lock()


class LocalLLM(CustomLLM):
    """SmolLM2 (or any chat GGUF) in-process, with the model's own chat template."""

    model_path: str
    context_window: int = 2048
    max_tokens: int = 96
    temperature: float = 0.0
    seed: int = 0
    stop: list[str] = []  # models.make_llm gives the embedded model its stops

    _llama: Any = PrivateAttr()
    _lock: Any = PrivateAttr()

    @classmethod
    def load(cls, path: str | Path, **kwargs: Any) -> LocalLLM:
        llm = cls(model_path=str(path), **kwargs)
        llm._llama, llm._lock = _load_llama(str(path), llm.context_window, llm.seed)
        return llm

    @classmethod
    def class_name(cls) -> str:
        return "toolkit_local_llm"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.max_tokens,
            is_chat_model=True,
            model_name=Path(self.model_path).stem,
        )

    def count_tokens(self, text: str) -> int:
        """Tokens in `text` by the model's own tokenizer."""
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def _params(self, kwargs: dict) -> dict:
        return {
            "temperature": kwargs.get("temperature", self.temperature),
            "max_tokens": kwargs.get("max_tokens", self.max_tokens),
            "seed": self.seed,
            "stop": kwargs.get("stop", self.stop),
        }

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        params = self._params(kwargs)
        keep = GreedyLogprobs() if params["temperature"] == 0 else None
        if keep is not None:
            from llama_cpp import LogitsProcessorList

            params["logits_processor"] = LogitsProcessorList([keep])
        with self._lock:
            response = self._llama.create_chat_completion(
                messages=[{"role": m.role.value, "content": m.content or ""} for m in messages], **params
            )
        if keep is not None:
            response["token_logprobs"] = keep.values
        response["model"] = Path(self.model_path).name  # llama.cpp gives the file's path: this machine's folders
        text = response["choices"][0]["message"]["content"] or ""
        return ChatResponse(message=ChatMessage(role="assistant", content=text.strip()), raw=response)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        params = self._params(kwargs)

        def gen() -> ChatResponseGen:
            text = ""
            with self._lock:  # held until the stream ends or the consumer closes it
                for chunk in self._llama.create_chat_completion(
                    messages=[{"role": m.role.value, "content": m.content or ""} for m in messages],
                    stream=True,
                    **params,
                ):
                    delta = chunk["choices"][0]["delta"].get("content") or ""
                    text += delta
                    yield ChatResponse(message=ChatMessage(role="assistant", content=text), delta=delta, raw=chunk)

        return gen()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        # A bare completion is asked as one user turn, so the chat template still applies.
        response = self.chat([ChatMessage(role="user", content=prompt)], **kwargs)
        return CompletionResponse(text=response.message.content or "", raw=response.raw)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        def gen() -> CompletionResponseGen:
            for chunk in self.stream_chat([ChatMessage(role="user", content=prompt)], **kwargs):
                yield CompletionResponse(text=chunk.message.content or "", delta=chunk.delta, raw=chunk.raw)

        return gen()

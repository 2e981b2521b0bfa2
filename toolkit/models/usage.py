"""Usage: the tokens one model call consumed, read from the provider's reply or counted.

    >>> Usage(1200, 300) + Usage(100, 20)
    Usage(input_tokens=1300, output_tokens=320, cached_input_tokens=0)

Not here: what tokens cost (cost.prices) or which tokenizer a hosted provider uses (cost.prices.tokenizer_for).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Usage", "usage_from_response", "count_tokens"]


@dataclass(frozen=True)
class Usage:
    """Tokens one model call consumed. `cached_input_tokens` is the part of the input the
    provider served from its prompt cache (billed at the cached price)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
        )


def _get(obj: Any, *names: str) -> Any:
    for name in names:
        value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
        if value is not None:
            return value
    return None


def usage_from_response(response: Any) -> Usage | None:
    """Token usage reported by the provider, or None when it reported none.

    Reads OpenAI-style (`prompt_tokens`), Anthropic-style (`input_tokens`) and Ollama-style
    (`prompt_eval_count`) usage from a LlamaIndex response's `raw` payload.
    """
    raw = getattr(response, "raw", None)
    if raw is None:
        return None
    usage = _get(raw, "usage")
    if usage is not None:
        inp = _get(usage, "prompt_tokens", "input_tokens")
        out = _get(usage, "completion_tokens", "output_tokens")
        details = _get(usage, "prompt_tokens_details")
        cached = (
            (_get(details, "cached_tokens") if details is not None else None)
            or _get(usage, "cache_read_input_tokens")
            or 0
        )
        if inp is not None and out is not None:
            if _get(usage, "prompt_tokens") is None:
                # Anthropic's input_tokens excludes the tokens read from or written to its cache.
                inp = (
                    int(inp)
                    + int(_get(usage, "cache_read_input_tokens") or 0)
                    + int(_get(usage, "cache_creation_input_tokens") or 0)
                )
            return Usage(int(inp), int(out), int(cached))
    inp, out = _get(raw, "prompt_eval_count"), _get(raw, "eval_count")
    if inp is not None and out is not None:
        return Usage(int(inp), int(out))
    return None


def count_tokens(llm: Any, text: str) -> int:
    """Tokens in `text` for this model: its own tokenizer when it has one, else tiktoken's
    cl100k_base (an approximation for non-OpenAI hosted models, used only for prompt budgets)."""
    if hasattr(llm, "count_tokens"):
        return llm.count_tokens(text)
    from llama_index.core.utils import get_tokenizer

    return len(get_tokenizer()(text))

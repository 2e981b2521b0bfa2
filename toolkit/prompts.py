"""The default prompt: instructions, numbered context blocks with their source ids, the question.

    >>> messages = rag_messages("How long?", [("policies/returns.md", "Returns within 30 days.")])
    >>> print(messages[1].content)
    Context:
    [1] source: policies/returns.md
    Returns within 30 days.
    <BLANKLINE>
    Question: How long?

The system prompt stays the same from question to question, so llama.cpp reuses its evaluated
prefix. Not here: prompt specs, versions and experiments (they build on this).
"""

from __future__ import annotations

import re
from typing import Sequence

from llama_index.core.base.llms.types import ChatMessage

__all__ = ["SYSTEM_PROMPT", "ABSTAIN", "rag_messages", "context_block", "parse_rag_message"]

ABSTAIN = "I don't know."

SYSTEM_PROMPT = (
    "You are a customer support assistant. Answer the question using only the context. "
    "Give the exact figure, date or name from the context in one short sentence. "
    f"If the context does not contain the answer, reply: {ABSTAIN}"
)


def context_block(number: int, source: str, text: str) -> str:
    return f"[{number}] source: {source}\n{text}"


def rag_messages(question: str, context: Sequence[tuple[str, str]], system: str = SYSTEM_PROMPT) -> list[ChatMessage]:
    """Chat messages for one question; `context` is a list of (source id, text) pairs, best first."""
    blocks = "\n\n".join(context_block(i, source, text) for i, (source, text) in enumerate(context, 1))
    return [
        ChatMessage(role="system", content=system),
        ChatMessage(role="user", content=f"Context:\n{blocks}\n\nQuestion: {question}"),
    ]


_BLOCK = re.compile(r"^\[\d+\] source: (.*)$", re.MULTILINE)


def parse_rag_message(content: str) -> tuple[list[tuple[str, str]], str]:
    """The inverse of the user message `rag_messages` writes: (context pairs, question).

    >>> parse_rag_message(rag_messages("How long?", [("a.md", "30 days.")])[1].content)
    ([('a.md', '30 days.')], 'How long?')
    """
    body, _, question = content.rpartition("\n\nQuestion: ")
    body = body.removeprefix("Context:\n")
    parts = _BLOCK.split(body)  # ["", source1, text1, source2, text2, ...]
    pairs = [(parts[i].strip(), parts[i + 1].strip()) for i in range(1, len(parts) - 1, 2)]
    return pairs, question.strip()

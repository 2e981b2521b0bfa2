"""Prompting: PromptSpec, a versioned and diffable prompt architecture, and the default RAG prompt.

    >>> DEFAULT_SPEC.output_format
    'text'

Not here: running specs over an evaluation set (toolkit.evaluation.experiments).
"""

from .spec import (
    ABSTAIN,
    DEFAULT_SPEC,
    SCHEMAS,
    SYSTEM_PROMPT,
    CitedAnswer,
    Example,
    Parsed,
    PromptSpec,
    bundled_specs,
    cited_numbers,
    diff_specs,
    load_spec,
    rag_messages,
    register_schema,
)

__all__ = [
    "PromptSpec",
    "Example",
    "DEFAULT_SPEC",
    "load_spec",
    "diff_specs",
    "bundled_specs",
    "rag_messages",
    "CitedAnswer",
    "Parsed",
    "register_schema",
    "SCHEMAS",
    "SYSTEM_PROMPT",
    "ABSTAIN",
    "cited_numbers",
]

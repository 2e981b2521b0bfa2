"""A Jupyter-first toolkit that takes a retrieval-augmented LLM pipeline from minimum viable to measured.

    >>> import toolkit
    >>> pipeline = toolkit.Pipeline.bundled()                 # doctest: +SKIP
    >>> print(pipeline.ask("How long do I have to return an item?"))  # doctest: +SKIP

The public names below load lazily: `import toolkit` stays fast, and torch, llama.cpp and
LlamaIndex are imported only when a model or index is first used.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "Settings": "config", "load_settings": "config",
    "ToolkitError": "errors", "ConfigError": "errors", "MissingDependencyError": "errors",
    "IngestError": "errors", "IndexCorruptError": "errors", "PromptTooLongError": "errors",
    "Usage": "costs", "PriceTable": "costs",
    "make_llm": "models", "make_embed_model": "models",
    "load_folder": "loaders", "ingest": "ingest", "IngestReport": "ingest", "Index": "index",
    "Pipeline": "pipeline", "Answer": "pipeline", "RunRecord": "pipeline",
    "load_questions": "datasets", "tidewell_corpus": "datasets",
    "evaluate_answers": "evaluate", "evaluate_retrieval": "evaluate", "summarize": "evaluate",
    "setup_notebook": "notebook", "checkpoint": "tour",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'toolkit' has no attribute {name!r}")


def __dir__():
    return __all__

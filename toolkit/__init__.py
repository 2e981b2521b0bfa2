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
    "Usage": "costs", "PriceTable": "costs", "CostLedger": "ledger", "priced_as": "costs",
    "project_monthly": "costs", "estimate_batch": "costs", "ResponseCache": "cache",
    "CacheCorruptError": "errors", "BudgetExceededError": "errors",
    "make_llm": "models", "make_embed_model": "models",
    "load_folder": "loaders", "ingest": "ingest", "IngestReport": "ingest", "Index": "index",
    "DenseIndex": "retrieve", "BM25Index": "retrieve", "make_retriever": "retrieve",
    "reciprocal_rank_fusion": "retrieve", "score_fusion": "retrieve", "chunk_documents": "chunking",
    "Pipeline": "pipeline", "Answer": "pipeline", "RunRecord": "pipeline",
    "PromptSpec": "prompts", "Example": "prompts", "load_spec": "prompts", "diff_specs": "prompts",
    "DEFAULT_SPEC": "prompts", "run_experiment": "experiments", "compare": "experiments",
    "plot_comparison": "experiments", "summarize_cells": "experiments", "Judge": "judge",
    "Playground": "playground", "PromptSpecError": "errors", "ExperimentError": "errors",
    "RetryPolicy": "reliability", "FaultInjector": "faults", "FaultProxy": "faults",
    "SideEffectLedger": "effects", "EffectService": "effects", "idempotency_key": "effects",
    "load_questions": "datasets", "tidewell_corpus": "datasets",
    "Guard": "guard", "Output": "validate", "default_validators": "validate",
    "OutputRejected": "errors", "ReviewQueueError": "errors", "JsonlReviewQueue": "review",
    "evaluate_answers": "evaluate", "evaluate_retrieval": "evaluate", "summarize": "evaluate",
    "evaluate_run": "irmetrics", "summarize_metrics": "irmetrics", "DatasetFormatError": "errors",
    "load_beir": "beir", "write_beir": "beir", "evaluate_beir": "beir",
    "SourceRouter": "sources", "SQLSource": "sql", "build_database": "sql", "text_to_sql": "sql",
    "LiveAPISource": "liveapi", "live_api": "liveapi", "UnsafeSQLError": "errors",
    "SourceUnavailableError": "errors",
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

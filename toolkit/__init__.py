"""A Jupyter-first toolkit that takes a retrieval-augmented LLM pipeline from minimum viable to measured.

    >>> import toolkit
    >>> pipeline = toolkit.Pipeline.bundled()                 # doctest: +SKIP
    >>> print(pipeline.ask("How long do I have to return an item?"))  # doctest: +SKIP

The stages, each a package with a few public names, lean one way only (a later stage may use
an earlier one, never the reverse):

    prompting < models < reliability < ingestion < retrieval < cost < validation < demo
      < pipeline < evaluation < notebook

The public names below load lazily: `import toolkit` stays fast, and torch, llama.cpp and
LlamaIndex are imported only when a model or index is first used.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it; everything else is one level down, in its stage's package
_EXPORTS = {
    "Settings": "config",
    "load_settings": "config",
    "ToolkitError": "errors",
    "Pipeline": "pipeline",
    "Answer": "pipeline",
    "RunRecord": "pipeline",
    "PipelineConfig": "pipeline_config",
    "ingest_config": "pipeline",
    "ingest": "ingestion",
    "Index": "ingestion",
    "ModelRef": "models",
    "Usage": "models",
    "make_retriever": "retrieval",
    "PromptSpec": "prompting",
    "load_spec": "prompting",
    "Guard": "validation",
    "default_validators": "validation",
    "RetryPolicy": "reliability",
    "PriceTable": "cost",
    "CostLedger": "cost",
    "ResponseCache": "cost",
    "evaluate_answers": "evaluation",
    "Scoreboard": "evaluation",
    "setup_notebook": "notebook",
    "checkpoint": "notebook",
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

"""The toolkit's errors. Every message says what to do next.

ToolkitError
├── ConfigError            a setting is invalid or a key is missing
├── MissingDependencyError an optional extra is not installed
├── IngestError            nothing could be indexed
├── IndexCorruptError      a persisted index is damaged or partly written
├── PromptTooLongError     a question does not fit the model's context
├── RetryExhaustedError    every attempt and fallback tier failed within the retry budget
├── MalformedOutputError   an output cut short, not parseable, or off its schema (transient: retried)
├── CallTimeoutError       one call ran past its per-call timeout (transient: retried)
├── EffectInProgressError  another worker still holds a side effect's claim (transient)
├── LedgerCorruptError     a side-effect ledger file is damaged; it is refused, never trusted
├── PromptSpecError        a prompt spec file is malformed (the message names the field)
├── ExperimentError        an experiment grid is refused before any call (empty set, unknown model)
├── UnsafeSQLError         a SQL statement would write, attach, run a PRAGMA or read a hidden table
├── SourceUnavailableError a retrieval source (database, live API) failed or timed out
├── OutputRejected         an answer failed a validator whose policy is "raise"
├── ReviewQueueError       the review queue file is damaged, an item id is unknown, or a decision is refused
├── DatasetFormatError     a data set file (BEIR corpus, queries, qrels) is missing or malformed
├── CacheCorruptError      a response cache file cannot be trusted and rebuilding was not allowed
├── StoreError             a shared database store is unreachable, lacks pgvector, or has a newer schema
├── ReplayError            a replay recording is missing or corrupt, or a request is not in it
├── BaselineError          a regression baseline is unreadable, or from another question set or schema
└── BudgetExceededError    a paid call would pass the cost budget; it was not made
"""

__all__ = [
    "ToolkitError",
    "ConfigError",
    "MissingDependencyError",
    "IngestError",
    "IndexCorruptError",
    "PromptTooLongError",
    "RetryExhaustedError",
    "MalformedOutputError",
    "CallTimeoutError",
    "EffectInProgressError",
    "LedgerCorruptError",
    "PromptSpecError",
    "ExperimentError",
    "UnsafeSQLError",
    "SourceUnavailableError",
    "OutputRejected",
    "ReviewQueueError",
    "DatasetFormatError",
    "CacheCorruptError",
    "StoreError",
    "ReplayError",
    "BaselineError",
    "BudgetExceededError",
]


class ToolkitError(Exception):
    """Base class: catch this to handle every error the toolkit raises on purpose."""


class ConfigError(ToolkitError):
    pass


class MissingDependencyError(ToolkitError):
    pass


class IngestError(ToolkitError):
    pass


class IndexCorruptError(ToolkitError):
    pass


class PromptTooLongError(ToolkitError):
    pass


class RetryExhaustedError(ToolkitError):
    pass


class MalformedOutputError(ToolkitError):
    transient = True  # a fresh attempt may well come back whole (reliability.is_transient reads this)


class CallTimeoutError(ToolkitError, TimeoutError):
    transient = True


class EffectInProgressError(ToolkitError):
    transient = True


class LedgerCorruptError(ToolkitError):
    pass


class PromptSpecError(ToolkitError):
    pass


class ExperimentError(ToolkitError):
    pass


class CacheCorruptError(ToolkitError):
    pass


class StoreError(ToolkitError):
    pass


class ReplayError(ToolkitError):
    """A missing or corrupt recording, or a request the recording does not hold (`.misses` says
    what changed); the model is never called in its place unless that was asked for."""

    transient = False  # a retry cannot make a recording hold a request

    def __init__(self, message: str, misses=()):
        super().__init__(message)
        self.misses = list(misses)


class BaselineError(ToolkitError):
    pass


class BudgetExceededError(ToolkitError):
    pass


class OutputRejected(ToolkitError):
    """Raised by the "raise" policy; `.reports` holds the failed validation reports."""

    def __init__(self, message: str, reports=()):
        super().__init__(message)
        self.reports = list(reports)


class ReviewQueueError(ToolkitError):
    pass


class UnsafeSQLError(ToolkitError):
    pass


class SourceUnavailableError(ToolkitError):
    pass


class DatasetFormatError(ToolkitError):
    """The message names the file and, where one is at fault, the line."""


def require(module: str, extra: str):
    """Import an optional module, or raise with the exact install command.

    >>> require("json", "core").__name__
    'json'
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{module} is not installed; run: pip install 'llm-pipeline-toolkit[{extra}]'"
        ) from exc

"""The toolkit's errors. Every message says what to do next.

    ToolkitError
    ├── ConfigError            a setting is invalid or a key is missing
    ├── MissingDependencyError an optional extra is not installed
    ├── IngestError            nothing could be indexed
    ├── IndexCorruptError      a persisted index is damaged or partly written
    └── PromptTooLongError     a question does not fit the model's context
"""

__all__ = [
    "ToolkitError",
    "ConfigError",
    "MissingDependencyError",
    "IngestError",
    "IndexCorruptError",
    "PromptTooLongError",
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

"""Settings, resolved in one documented order: argument > config file > environment > default.

All state (indexes, caches, run logs) lives under one folder, the *home*: the `TOOLKIT_HOME`
environment variable, else `~/.local/share/llm-pipeline-toolkit`. The config file is
`TOOLKIT_CONFIG`, else `<home>/config.toml`; it is optional.

    # config.toml
    llm = "openai:gpt-4o-mini"
    top_k = 5

Keys never live here: providers read their own variables (`OPENAI_API_KEY`, ...), so a
config file can be shared and a Settings object can be printed safely.

Not here: model construction (see models/providers.py) and prices (see cost/prices.py).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigError

__all__ = ["Settings", "load_settings", "default_home", "ENVIRONMENT"]

# Setting name -> environment variable that provides it.
ENVIRONMENT = {
    "llm": "TOOLKIT_LLM",
    "embed": "TOOLKIT_EMBED",
    "base_url": "TOOLKIT_BASE_URL",
    "prices": "TOOLKIT_PRICES",
}


class Settings(BaseModel):
    """Everything a pipeline needs to know, validated.

    >>> Settings(home="/tmp/t").top_k
    3
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    home: Path
    llm: str = Field(
        "local",
        description="'local', 'local:/path/model.gguf', 'openai:MODEL', "
        "'anthropic:MODEL', 'ollama:MODEL' or 'openai-like:MODEL'",
    )
    embed: str = Field("local", description="'local', 'local:/path/st-model', 'openai:MODEL' or 'ollama:MODEL'")
    base_url: str | None = Field(None, description="server URL for ollama and openai-like providers")
    completion: bool = Field(
        False, description="openai-like: a base (not instruction-tuned) model, asked through /v1/completions"
    )
    top_k: int = Field(3, ge=1, le=100)
    chunk_size: int = Field(128, ge=32, description="chunk length in tokens")
    chunk_overlap: int = Field(16, ge=0)
    chunking: Literal["sentence", "token", "markdown"] = Field(
        "sentence", description="chunking strategy (see ingest/chunking.py): 'sentence', 'token' or 'markdown'"
    )
    context_window: int = Field(2048, ge=512, description="tokens the local model attends to")
    max_output_tokens: int = Field(64, ge=1)
    temperature: float = Field(0.0, ge=0.0)
    seed: int = 0
    max_file_mb: float = Field(10.0, gt=0, description="larger files are skipped at ingestion")
    ingest_file_timeout_s: float = Field(
        30.0, gt=0, description="seconds the parser may spend on one file at ingestion; a slower file is skipped"
    )
    ingest_file_memory_mib: int = Field(
        1024,
        ge=16,
        description="MiB the parser may take for one file at ingestion (address space, enforced on Linux); "
        "a file that needs more is skipped",
    )
    prices: Path | None = Field(
        None,
        description="a price table CSV whose rows add to or override the "
        "bundled one; default <home>/prices.csv when it exists",
    )

    @field_validator("chunk_overlap")
    @classmethod
    def _overlap_below_chunk_size(cls, value: int, info):
        # LlamaIndex's SentenceSplitter refuses this later, with a bare ValueError mid-ingestion.
        size = info.data.get("chunk_size")
        if size is not None and value >= size:
            raise ValueError(f"must be smaller than chunk_size ({size})")
        return value

    @property
    def index_root(self) -> Path:
        return self.home / "indexes"

    @property
    def price_file(self) -> Path | None:
        """The user's price table, if any: the `prices` setting, else `<home>/prices.csv`."""
        if self.prices is not None:
            return Path(self.prices).expanduser()
        default = self.home / "prices.csv"
        return default if default.is_file() else None


def default_home() -> Path:
    """`TOOLKIT_HOME`, else `~/.local/share/llm-pipeline-toolkit`."""
    env = os.environ.get("TOOLKIT_HOME")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "share" / "llm-pipeline-toolkit"


def _read_config_file(path: Path) -> dict:
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML ({exc}); fix or delete it") from exc
    unknown = sorted(set(data) - set(Settings.model_fields) - {"home"})
    if unknown:
        known = ", ".join(sorted(set(Settings.model_fields) - {"home"}))
        raise ConfigError(f"config file {path}: unknown setting {unknown[0]!r}; known settings: {known}")
    if "home" in data:
        raise ConfigError(f"config file {path}: 'home' cannot be set here; set TOOLKIT_HOME instead")
    return data


def load_settings(config_file: str | Path | None = None, **arguments) -> Settings:
    """Resolve settings: explicit arguments beat the config file, which beats the environment.

    Arguments that are None are ignored, so command-line flags can be passed straight through.

    >>> load_settings(home="/tmp/t", top_k=2).top_k
    2
    """
    arguments = {k: v for k, v in arguments.items() if v is not None}
    home = Path(arguments.pop("home", None) or default_home()).expanduser()

    values: dict = {}
    for name, variable in ENVIRONMENT.items():
        if os.environ.get(variable):
            values[name] = os.environ[variable]

    path = Path(config_file or os.environ.get("TOOLKIT_CONFIG") or home / "config.toml").expanduser()
    if path.is_file():
        values.update(_read_config_file(path))
    elif config_file or os.environ.get("TOOLKIT_CONFIG"):
        raise ConfigError(f"config file {path} does not exist; create it or unset TOOLKIT_CONFIG")

    values.update(arguments)
    try:
        return Settings(home=home, **values)
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(p) for p in problem["loc"])
        raise ConfigError(f"setting {field!r}: {problem['msg']} (got {problem.get('input')!r})") from exc

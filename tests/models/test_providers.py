"""Model specs and the LlamaIndex models they build: provider errors, and the real hosted clients
(built with fake keys, never called)."""

from __future__ import annotations

import sys

import pytest

from toolkit.config import load_settings
from toolkit.errors import ConfigError, MissingDependencyError
from toolkit.models.providers import LLM_PROVIDERS, embed_model_id, make_embed_model, make_llm, model_name

# --- spec strings ---------------------------------------------------------------------------


def test_model_name_of_the_embedded_model():
    assert model_name("local") == "local:SmolLM2-135M-Instruct.Q4_1"


@pytest.mark.parametrize(
    "spec, name",
    [
        ("local:/models/qwen2.5-0.5b-instruct-q4_k_m.gguf", "local:qwen2.5-0.5b-instruct-q4_k_m"),
        ("openai:gpt-4o-mini", "openai:gpt-4o-mini"),
        ("anthropic:claude-3-5-haiku-latest", "anthropic:claude-3-5-haiku-latest"),
        ("ollama:llama3.2", "ollama:llama3.2"),
        ("openai-like:Qwen/Qwen2.5-7B", "openai-like:Qwen/Qwen2.5-7B"),
    ],
)
def test_model_name(spec, name):
    assert model_name(spec) == name


def test_unknown_llm_provider_lists_the_providers():
    # The documented providers; the list may grow (so the message is built from LLM_PROVIDERS).
    assert LLM_PROVIDERS[:5] == ("local", "openai", "anthropic", "ollama", "openai-like")
    with pytest.raises(ConfigError) as info:
        make_llm(load_settings(llm="gemini:pro"))
    assert str(info.value) == f"unknown LLM provider 'gemini' in 'gemini:pro'; use one of: {', '.join(LLM_PROVIDERS)}"
    assert str(info.value).startswith(
        "unknown LLM provider 'gemini' in 'gemini:pro'; use one of: local, openai, anthropic, ollama, openai-like"
    )


def test_unknown_embedding_provider_lists_the_providers():
    with pytest.raises(ConfigError) as info:
        make_embed_model(load_settings(embed="cohere:embed-v3"))
    assert str(info.value) == (
        "unknown embedding provider 'cohere' in 'cohere:embed-v3'; use one of: local, openai, ollama"
    )


def test_provider_without_model_is_refused():
    with pytest.raises(ConfigError) as info:
        model_name("openai")
    assert str(info.value) == "LLM 'openai' names no model; write it as 'openai:MODEL'"


def test_missing_gguf_file(tmp_path):
    path = tmp_path / "nope.gguf"
    with pytest.raises(ConfigError) as info:
        make_llm(load_settings(llm=f"local:{path}"))
    assert str(info.value) == f"GGUF model file {path} does not exist; check the path in llm='local:PATH'"


def test_local_embedding_path_that_is_not_a_model(tmp_path):
    with pytest.raises(ConfigError) as info:
        make_embed_model(load_settings(embed=f"local:{tmp_path}"))
    assert str(info.value) == f"{tmp_path} is not a sentence-transformers model folder; check embed='local:PATH'"


@pytest.mark.parametrize(
    "spec, stored",
    [
        ("local", "local:all-MiniLM-L6-v2"),
        ("local:/models/bge-small-en", "local:/models/bge-small-en"),
        ("openai:text-embedding-3-small", "openai:text-embedding-3-small"),
    ],
)
def test_embed_model_id(spec, stored):
    assert embed_model_id(load_settings(embed=spec)) == stored


# --- hosted providers ------------------------------------------------------------------------


def without_the_extra(monkeypatch, module: str) -> None:
    """Import `module` as it fails where its extra is not installed (a None entry in sys.modules
    makes every import of it raise ImportError), whatever this venv has."""
    monkeypatch.setitem(sys.modules, module, None)


def test_openai_without_the_extra_names_the_install_command(monkeypatch):
    without_the_extra(monkeypatch, "llama_index.llms.openai")
    with pytest.raises(MissingDependencyError) as info:
        make_llm(load_settings(llm="openai:gpt-4o-mini"))
    assert str(info.value) == (
        "llama_index.llms.openai is not installed; run: pip install 'llm-pipeline-toolkit[openai]'"
    )


def test_openai_like_without_the_extra_names_the_install_command(monkeypatch):
    without_the_extra(monkeypatch, "llama_index.llms.openai_like")
    with pytest.raises(MissingDependencyError) as info:
        make_llm(load_settings(llm="openai-like:my-model"))
    assert str(info.value) == (
        "llama_index.llms.openai_like is not installed; run: pip install 'llm-pipeline-toolkit[openai-like]'"
    )


def test_openai_without_a_key_names_the_variable():
    with pytest.raises(ConfigError) as info:
        make_llm(load_settings(llm="openai:gpt-4o-mini"))
    assert str(info.value) == (
        "openai needs an API key: set OPENAI_API_KEY in the environment, or use llm='local' to run offline"
    )


def test_openai_builds_the_real_client_from_the_settings(monkeypatch):
    from llama_index.llms.openai import OpenAI

    monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-real")  # the client is built, never called
    llm = make_llm(load_settings(llm="openai:gpt-4o-mini", temperature=0.2, max_output_tokens=32))
    assert type(llm) is OpenAI
    assert (llm.model, llm.api_key, llm.timeout, llm.temperature, llm.max_tokens) == (
        "gpt-4o-mini",
        "test-key-not-real",
        60.0,
        0.2,
        32,
    )


def test_openai_like_without_base_url_names_toolkit_base_url():
    with pytest.raises(ConfigError) as info:
        make_llm(load_settings(llm="openai-like:my-model"))
    assert str(info.value) == (
        "openai-like needs the server URL: set TOOLKIT_BASE_URL (for example "
        "http://127.0.0.1:8000/v1) or base_url in the config file"
    )


def test_openai_like_builds_the_real_client_and_never_sends_the_openai_key(monkeypatch):
    from llama_index.llms.openai_like import OpenAILike

    monkeypatch.setenv("OPENAI_API_KEY", "openai-key-not-real")
    settings = load_settings(llm="openai-like:my-model", base_url="http://127.0.0.1:8000/v1", context_window=4096)
    llm = make_llm(settings)
    assert type(llm) is OpenAILike
    assert (llm.model, llm.api_base, llm.api_key, llm.is_chat_model, llm.context_window, llm.timeout) == (
        "my-model",
        "http://127.0.0.1:8000/v1",
        "unused",
        True,
        4096,
        60.0,
    )
    monkeypatch.setenv("TOOLKIT_API_KEY", "server-key-not-real")  # the server's own key is sent
    assert make_llm(settings).api_key == "server-key-not-real"

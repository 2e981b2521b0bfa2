"""Model specs, provider errors, and token usage read from providers' raw payloads."""

from __future__ import annotations

import importlib.util
import sys
import types

import pytest
from llama_index.core.base.llms.types import ChatMessage, ChatResponse

from toolkit.config import load_settings
from toolkit.costs import PriceTable, Usage
from toolkit.errors import ConfigError, MissingDependencyError
from toolkit.models import (LLM_PROVIDERS, embed_model_id, make_embed_model, make_llm, model_name,
                            usage_from_response)


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def stand_in_for_missing_extra(monkeypatch, module: str) -> None:
    """The optional extras are not installed in the test environment. openai-like checks its base
    URL before it touches the client class, so an empty module is enough to reach that check.
    (The API-key checks of openai and anthropic look the client class up first, so they cannot be
    reached without the extra; the MissingDependencyError tests cover what this venv does.)"""
    if not installed(module):
        monkeypatch.setitem(sys.modules, module, types.ModuleType(module))


# --- spec strings ---------------------------------------------------------------------------

def test_model_name_of_the_embedded_model():
    assert model_name("local") == "local:SmolLM2-135M-Instruct.Q4_1"


@pytest.mark.parametrize("spec, name", [
    ("local:/models/qwen2.5-0.5b-instruct-q4_k_m.gguf", "local:qwen2.5-0.5b-instruct-q4_k_m"),
    ("openai:gpt-4o-mini", "openai:gpt-4o-mini"),
    ("anthropic:claude-3-5-haiku-latest", "anthropic:claude-3-5-haiku-latest"),
    ("ollama:llama3.2", "ollama:llama3.2"),
    ("openai-like:Qwen/Qwen2.5-7B", "openai-like:Qwen/Qwen2.5-7B"),
])
def test_model_name(spec, name):
    assert model_name(spec) == name


def test_unknown_llm_provider_lists_the_providers():
    # The documented providers; the list may grow (so the message is built from LLM_PROVIDERS).
    assert LLM_PROVIDERS[:5] == ("local", "openai", "anthropic", "ollama", "openai-like")
    with pytest.raises(ConfigError) as info:
        make_llm(load_settings(llm="gemini:pro"))
    assert str(info.value) == f"unknown LLM provider 'gemini' in 'gemini:pro'; use one of: {', '.join(LLM_PROVIDERS)}"
    assert str(info.value).startswith("unknown LLM provider 'gemini' in 'gemini:pro'; "
                                      "use one of: local, openai, anthropic, ollama, openai-like")


def test_unknown_embedding_provider_lists_the_providers():
    with pytest.raises(ConfigError) as info:
        make_embed_model(load_settings(embed="cohere:embed-v3"))
    assert str(info.value) == ("unknown embedding provider 'cohere' in 'cohere:embed-v3'; "
                               "use one of: local, openai, ollama")


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


@pytest.mark.parametrize("spec, stored", [
    ("local", "local:all-MiniLM-L6-v2"),
    ("local:/models/bge-small-en", "local:/models/bge-small-en"),
    ("openai:text-embedding-3-small", "openai:text-embedding-3-small"),
])
def test_embed_model_id(spec, stored):
    assert embed_model_id(load_settings(embed=spec)) == stored


# --- hosted providers ------------------------------------------------------------------------

@pytest.mark.skipif(installed("llama_index.llms.openai"), reason="the openai extra is installed here")
def test_openai_without_the_extra_names_the_install_command():
    # This venv does not have llama-index-llms-openai, so the dependency is what is missing first.
    with pytest.raises(MissingDependencyError) as info:
        make_llm(load_settings(llm="openai:gpt-4o-mini"))
    assert str(info.value) == ("llama_index.llms.openai is not installed; "
                               "run: pip install 'llm-pipeline-toolkit[openai]'")


@pytest.mark.skipif(installed("llama_index.llms.openai_like"), reason="the openai-like extra is installed here")
def test_openai_like_without_the_extra_names_the_install_command():
    with pytest.raises(MissingDependencyError) as info:
        make_llm(load_settings(llm="openai-like:my-model"))
    assert str(info.value) == ("llama_index.llms.openai_like is not installed; "
                               "run: pip install 'llm-pipeline-toolkit[openai-like]'")


def test_openai_like_without_base_url_names_toolkit_base_url(monkeypatch):
    stand_in_for_missing_extra(monkeypatch, "llama_index.llms.openai_like")
    with pytest.raises(ConfigError) as info:
        make_llm(load_settings(llm="openai-like:my-model"))
    assert str(info.value) == ("openai-like needs the server URL: set TOOLKIT_BASE_URL (for example "
                               "http://127.0.0.1:8000/v1) or base_url in the config file")


# --- usage from raw payloads -----------------------------------------------------------------

def response(raw) -> ChatResponse:
    return ChatResponse(message=ChatMessage(role="assistant", content="ok"), raw=raw)


def test_usage_from_a_real_openai_chat_completion():
    from openai.types.chat import ChatCompletion
    from openai.types.completion_usage import CompletionUsage, PromptTokensDetails

    completion = ChatCompletion(
        id="chatcmpl-1", object="chat.completion", created=1732700000, model="gpt-4o-mini", choices=[],
        usage=CompletionUsage(prompt_tokens=1200, completion_tokens=300, total_tokens=1500,
                              prompt_tokens_details=PromptTokensDetails(cached_tokens=1000)))
    assert usage_from_response(response(completion)) == Usage(1200, 300, 1000)


def test_usage_from_an_openai_style_dict_without_cache_details():
    raw = {"usage": {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500}}
    assert usage_from_response(response(raw)) == Usage(1200, 300, 0)


def test_usage_from_an_anthropic_style_payload_without_caching():
    # llama-index-llms-anthropic passes dict(Message): the usage is an object with attributes.
    raw = {"id": "msg_1", "type": "message", "role": "assistant",
           "usage": types.SimpleNamespace(input_tokens=1000, output_tokens=500,
                                          cache_read_input_tokens=None, cache_creation_input_tokens=None)}
    assert usage_from_response(response(raw)) == Usage(1000, 500, 0)


def test_usage_from_an_anthropic_style_payload_with_cache_reads():
    # Anthropic's input_tokens counts only the tokens *not* read from (or written to) the cache:
    # total input = input_tokens + cache_read_input_tokens + cache_creation_input_tokens.
    # 200 fresh + 1000 read from the cache = 1200 input tokens, 1000 of them cached.
    raw = {"usage": {"input_tokens": 200, "output_tokens": 300,
                     "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 0}}
    usage = usage_from_response(response(raw))
    assert usage == Usage(1200, 300, 1000)
    # claude-3-5-haiku-latest: 200 x $0.80 + 1000 x $0.08 + 300 x $4.00 per million = $0.00144
    assert PriceTable.load().cost("anthropic:claude-3-5-haiku-latest", usage) == 0.00144


def test_usage_from_an_anthropic_style_payload_with_cache_writes():
    # Tokens written to the cache are input too (billed here at the input price).
    raw = {"usage": {"input_tokens": 50, "output_tokens": 10,
                     "cache_read_input_tokens": 0, "cache_creation_input_tokens": 2000}}
    assert usage_from_response(response(raw)) == Usage(2050, 10, 0)


def test_usage_from_an_ollama_style_payload():
    raw = {"model": "llama3.2", "done": True, "prompt_eval_count": 431, "eval_count": 57,
           "message": {"role": "assistant", "content": "ok"}}
    assert usage_from_response(response(raw)) == Usage(431, 57, 0)


def test_usage_from_the_local_model_payload_shape():
    raw = {"choices": [], "usage": {"prompt_tokens": 31, "completion_tokens": 16, "total_tokens": 47}}
    assert usage_from_response(response(raw)) == Usage(31, 16, 0)


@pytest.mark.parametrize("raw", [None, {}, {"usage": {"total_tokens": 5}}, {"prompt_eval_count": 3}])
def test_no_usage_reported(raw):
    assert usage_from_response(response(raw)) is None


def test_the_embedded_model_serves_concurrent_callers_in_turn():
    # One llama.cpp context is not thread-safe; a retry after a timeout may call it while the
    # abandoned call still runs. Both callers must get the answer a lone caller gets.
    import threading

    from llama_index.core.base.llms.types import ChatMessage

    llm = make_llm(load_settings(llm="local"))
    messages = [ChatMessage(role="user", content="Name one colour.")]
    alone = llm.chat(messages).message.content
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(llm.chat(messages).message.content)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [alone, alone]

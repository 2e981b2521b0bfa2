"""Usage: token counts added up, and read from each provider's raw payload (real OpenAI types,
Anthropic's cache reads and writes, Ollama's counts, the local model's shape)."""

from __future__ import annotations

import types

import pytest
from llama_index.core.base.llms.types import ChatMessage, ChatResponse

from toolkit.cost.prices import PriceTable
from toolkit.models.usage import Usage, usage_from_response


def test_usage_addition():
    total = Usage(100, 20, 10) + Usage(1, 2, 3) + Usage()
    assert total == Usage(input_tokens=101, output_tokens=22, cached_input_tokens=13)


def test_usage_is_immutable():
    from dataclasses import FrozenInstanceError

    with pytest.raises(FrozenInstanceError):
        Usage(1, 2).input_tokens = 5


# --- usage from raw payloads -----------------------------------------------------------------


def response(raw) -> ChatResponse:
    return ChatResponse(message=ChatMessage(role="assistant", content="ok"), raw=raw)


def test_usage_from_a_real_openai_chat_completion():
    from openai.types.chat import ChatCompletion
    from openai.types.completion_usage import CompletionUsage, PromptTokensDetails

    completion = ChatCompletion(
        id="chatcmpl-1",
        object="chat.completion",
        created=1732700000,
        model="gpt-4o-mini",
        choices=[],
        usage=CompletionUsage(
            prompt_tokens=1200,
            completion_tokens=300,
            total_tokens=1500,
            prompt_tokens_details=PromptTokensDetails(cached_tokens=1000),
        ),
    )
    assert usage_from_response(response(completion)) == Usage(1200, 300, 1000)


def test_usage_from_an_openai_style_dict_without_cache_details():
    raw = {"usage": {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500}}
    assert usage_from_response(response(raw)) == Usage(1200, 300, 0)


def test_usage_from_an_anthropic_style_payload_without_caching():
    # llama-index-llms-anthropic passes dict(Message): the usage is an object with attributes.
    raw = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "usage": types.SimpleNamespace(
            input_tokens=1000, output_tokens=500, cache_read_input_tokens=None, cache_creation_input_tokens=None
        ),
    }
    assert usage_from_response(response(raw)) == Usage(1000, 500, 0)


def test_usage_from_an_anthropic_style_payload_with_cache_reads():
    # Anthropic's input_tokens counts only the tokens *not* read from (or written to) the cache:
    # total input = input_tokens + cache_read_input_tokens + cache_creation_input_tokens.
    # 200 fresh + 1000 read from the cache = 1200 input tokens, 1000 of them cached.
    raw = {
        "usage": {
            "input_tokens": 200,
            "output_tokens": 300,
            "cache_read_input_tokens": 1000,
            "cache_creation_input_tokens": 0,
        }
    }
    usage = usage_from_response(response(raw))
    assert usage == Usage(1200, 300, 1000)
    # claude-3-5-haiku-latest: 200 x $0.80 + 1000 x $0.08 + 300 x $4.00 per million = $0.00144
    assert PriceTable.load().cost("anthropic:claude-3-5-haiku-latest", usage) == 0.00144


def test_usage_from_an_anthropic_style_payload_with_cache_writes():
    # Tokens written to the cache are input too (billed here at the input price).
    raw = {
        "usage": {
            "input_tokens": 50,
            "output_tokens": 10,
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 2000,
        }
    }
    assert usage_from_response(response(raw)) == Usage(2050, 10, 0)


def test_usage_from_an_ollama_style_payload():
    raw = {
        "model": "llama3.2",
        "done": True,
        "prompt_eval_count": 431,
        "eval_count": 57,
        "message": {"role": "assistant", "content": "ok"},
    }
    assert usage_from_response(response(raw)) == Usage(431, 57, 0)


def test_usage_from_the_local_model_payload_shape():
    raw = {"choices": [], "usage": {"prompt_tokens": 31, "completion_tokens": 16, "total_tokens": 47}}
    assert usage_from_response(response(raw)) == Usage(31, 16, 0)


@pytest.mark.parametrize("raw", [None, {}, {"usage": {"total_tokens": 5}}, {"prompt_eval_count": 3}])
def test_no_usage_reported(raw):
    assert usage_from_response(response(raw)) is None

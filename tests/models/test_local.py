"""The embedded SmolLM2 through LocalLLM: one llama.cpp context, shared safely."""

from __future__ import annotations

from toolkit.config import load_settings
from toolkit.models.providers import make_llm


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


def test_settings_become_the_models_metadata(llm):
    # the session model: Settings' defaults (context_window 2048, max_output_tokens 64)
    meta = llm.metadata
    assert (meta.model_name, meta.context_window, meta.num_output, meta.is_chat_model) == (
        "SmolLM2-135M-Instruct.Q4_1",
        2048,
        64,
        True,
    )
    assert (llm.temperature, llm.seed, llm.stop) == (0.0, 0, ["\n\n", "\nQuestion:"])  # the embedded model's stops


def test_streaming_and_completion_give_the_chat_answer(llm):
    from llama_index.core.base.llms.types import ChatMessage

    messages = [ChatMessage(role="user", content="Name one colour.")]
    whole = llm.chat(messages)
    chunks = list(llm.stream_chat(messages))
    # greedy decoding: the streamed deltas add up to the same answer, and a bare completion is
    # asked as one user turn, so it gets the chat template and the same answer too
    assert whole.message.content and "".join(c.delta for c in chunks).strip() == whole.message.content
    assert chunks[-1].message.content.strip() == whole.message.content
    assert llm.complete("Name one colour.").text == whole.message.content
    usage = whole.raw["usage"]
    assert whole.raw["model"] == "SmolLM2-135M-Instruct.Q4_1.gguf"  # the file's name, never this machine's path
    assert usage["completion_tokens"] >= 1
    assert usage["prompt_tokens"] + usage["completion_tokens"] == usage["total_tokens"]


def test_a_greedy_answer_carries_its_token_logprobs_from_the_same_call(llm):
    # One log-probability per generated token (the end-of-turn or stop token included), each the
    # chosen token's, so none above 0; the answer is the one a call without them gives.
    import math

    from llama_index.core.base.llms.types import ChatMessage

    response = llm.chat([ChatMessage(role="user", content="Name one colour.")])
    values = response.raw["token_logprobs"]
    assert len(values) in (response.raw["usage"]["completion_tokens"], response.raw["usage"]["completion_tokens"] + 1)
    assert all(v <= 0 and math.isfinite(v) for v in values)
    assert llm.chat([ChatMessage(role="user", content="Name one colour.")]).message.content == response.message.content


def test_sampling_at_a_temperature_gives_no_logprobs(llm):
    # Above temperature 0 the most likely token is not always the one chosen: no false signal.
    from llama_index.core.base.llms.types import ChatMessage

    response = llm.chat([ChatMessage(role="user", content="Name one colour.")], temperature=0.7)
    assert "token_logprobs" not in response.raw

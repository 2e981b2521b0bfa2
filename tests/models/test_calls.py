"""The model-call chain: middleware order, short circuits, kinds, usage, and the LlamaIndex adapter."""

import pytest
from llama_index.core.llms import MockLLM

from toolkit.models import CALL_KINDS, ChatMessage, ModelClient, ModelRef, ModelReply, Usage

HELLO = [ChatMessage(role="user", content="hello world")]


def tracer(name, log):
    def middleware(call, send):
        log.append(f"{name}>")
        reply = send(call)
        log.append(f"<{name}")
        return reply

    return middleware


def test_middleware_run_outermost_first_and_unwind_in_reverse():
    log = []
    client = ModelClient(MockLLM(), "openai:gpt-4o-mini", [tracer("budget", log), tracer("cache", log)])
    reply = client.chat(HELLO)
    assert log == ["budget>", "cache>", "<cache", "<budget"]
    # MockLLM echoes its prompt; it reports no usage, so both sides are counted (cl100k_base)
    assert reply.text == "user: hello world\nassistant:"
    assert reply.usage == Usage(2, 7)
    assert (reply.model, reply.kind, reply.attempts, reply.cache_hit) == (
        ModelRef("openai", "gpt-4o-mini"),
        "llm",
        1,
        "",
    )


def test_a_middleware_may_answer_without_calling_the_model():
    calls = []

    class Counting(MockLLM):
        def chat(self, messages, **kwargs):
            calls.append(messages)
            return super().chat(messages, **kwargs)

    def canned(call, send):
        return ModelReply("from the shelf", Usage(), call.model, call.kind, cache_hit="exact")

    reply = ModelClient(Counting(), "local:mock", [canned]).chat(HELLO, kind="judge", run_id="r1")
    assert (reply.text, reply.cache_hit, reply.kind, calls) == ("from the shelf", "exact", "judge", [])


def test_a_middleware_sees_the_call_fields():
    seen = []

    def look(call, send):
        seen.append((call.kind, call.run_id, call.question, list(call.context), call.max_output_tokens))
        return send(call)

    ModelClient(MockLLM(), "local:mock", [look], max_output_tokens=12).chat(
        HELLO, kind="reask", run_id="r7", question="q?", context=[("a.md", "x")]
    )
    assert seen == [("reask", "r7", "q?", [("a.md", "x")], 12)]


def test_an_unknown_kind_is_refused():
    assert CALL_KINDS == ("llm", "repair", "reask", "judge", "sql")
    with pytest.raises(ValueError, match="unknown call kind 'summary'; use one of llm, repair, reask, judge, sql"):
        ModelClient(MockLLM(), "local:mock").chat(HELLO, kind="summary")


def test_as_llm_sends_library_calls_through_the_chain():
    kinds = []

    def note(call, send):
        kinds.append((call.kind, call.run_id, call.messages[0].content))
        return send(call)

    llm = ModelClient(MockLLM(max_tokens=3), "local:mock", [note]).as_llm("sql", run_id="r2")
    assert llm.complete("SELECT 1").text == "text text text"
    assert kinds == [("sql", "r2", "SELECT 1")]


def test_a_reply_summary_is_one_record_row():
    reply = ModelReply("x", Usage(10, 2), ModelRef("local", "m"), "repair", attempts=3, seconds=0.123456)
    assert reply.summary() == {
        "kind": "repair",
        "model": "local:m",
        "input_tokens": 10,
        "output_tokens": 2,
        "attempts": 3,
        "cache_hit": "",
        "seconds": 0.1235,
    }

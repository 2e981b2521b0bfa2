"""Stored runs exported as OpenTelemetry spans with OpenInference attributes, read back from the
SDK's in-memory exporter."""

from __future__ import annotations

import pytest

from toolkit.steps import RunRecord
from toolkit.tracking import RunStore

pytest.importorskip("opentelemetry.sdk", reason="the otel extra (opentelemetry-sdk) is not installed")


def test_every_run_becomes_a_chain_with_a_retriever_and_its_llm_calls(tmp_path):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from toolkit.monitoring.otel import export_runs

    store = RunStore(tmp_path / "runs.sqlite")
    r = RunRecord("r1", "2026-12-01T10:00:00+00:00", "How long?", answer="30 days.", sources=["returns.md"])
    r.total_s, r.retrieve_s = 1.5, 0.25
    r.calls = [{"kind": "llm", "model": "openai:gpt-4o-mini", "input_tokens": 300, "output_tokens": 12,
                "attempts": 2, "cache_hit": "", "seconds": 1.0}]  # fmt: skip
    store.record(r, version="abc")
    failed = RunRecord("r2", "2026-12-01T10:01:00+00:00", "Why?", error="RuntimeError: down")
    store.record(failed, version="abc")

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    assert export_runs(store, provider) == 2
    spans = {(s.name, s.attributes.get("input.value")): s for s in exporter.get_finished_spans()}
    root = spans[("pipeline.ask", "How long?")]
    assert root.attributes["openinference.span.kind"] == "CHAIN" and root.attributes["output.value"] == "30 days."
    assert '"version": "abc"' in root.attributes["metadata"]
    assert (root.end_time - root.start_time) == 1_500_000_000
    retriever = spans[("retrieve", "How long?")]
    assert retriever.parent.span_id == root.context.span_id
    assert retriever.attributes["retrieval.documents.0.document.id"] == "returns.md"
    llm = next(s for s in exporter.get_finished_spans() if s.name == "llm.llm")
    assert llm.parent.span_id == root.context.span_id and llm.context.trace_id == root.context.trace_id
    assert dict(llm.attributes) == {
        "openinference.span.kind": "LLM",
        "llm.model_name": "openai:gpt-4o-mini",
        "llm.token_count.prompt": 300,
        "llm.token_count.completion": 12,
        "llm.token_count.total": 312,
        "toolkit.attempts": 2,
        "toolkit.cache_hit": "",
    }
    assert spans[("pipeline.ask", "Why?")].status.description == "RuntimeError: down"

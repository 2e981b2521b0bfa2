"""Export stored runs as OpenTelemetry spans with the OpenInference attribute conventions, which
Arize Phoenix and other tracing tools read. An optional extra: `pip install
'llm-pipeline-toolkit[otel]'` (opentelemetry-sdk).

    >>> from opentelemetry.sdk.trace import TracerProvider                  # doctest: +SKIP
    >>> export_runs(store, TracerProvider())                                 # doctest: +SKIP
    24

One trace per run: a CHAIN span (the question in, the answer out, the pipeline version), with a
RETRIEVER child (the retrieved document ids) and one LLM child per model call (model name,
token counts, attempts, cache hit). Span times are the run's recorded timestamp and durations.
The attribute names are OpenInference's (openinference-semantic-conventions), written out here
so that the export needs only the OpenTelemetry SDK.

Not here: live tracing inside `ask` (export after the fact keeps the hot path free of it).
"""

from __future__ import annotations

import datetime as dt

from ..errors import require

__all__ = ["export_runs", "SPAN_KIND"]

SPAN_KIND = "openinference.span.kind"


def _ns(timestamp: str, offset_s: float = 0.0) -> int:
    moment = dt.datetime.fromisoformat(timestamp)
    return int((moment.timestamp() + offset_s) * 1e9)


def export_runs(store, tracer_provider, *, version: str | None = None) -> int:
    """Emit every stored run (of `version`, if given) as spans on `tracer_provider`; return how many runs."""
    require("opentelemetry.sdk", "otel")
    from opentelemetry.trace import Status, StatusCode, set_span_in_context

    tracer = tracer_provider.get_tracer("llm-pipeline-toolkit")
    runs = store.runs(version=version)
    calls = store.calls()
    by_run = {run_id: group for run_id, group in calls.groupby("run_id")} if len(calls) else {}
    for run in runs.itertuples():
        start = _ns(run.timestamp)
        root = tracer.start_span(
            "pipeline.ask",
            start_time=start,
            attributes={
                SPAN_KIND: "CHAIN",
                "input.value": run.question,
                "output.value": run.answer,
                "session.id": run.label or "",
                "metadata": f'{{"run_id": "{run.run_id}", "version": "{run.version}", "status": "{run.status}"}}',
            },
        )
        context = set_span_in_context(root)
        retrieve = tracer.start_span(
            "retrieve",
            context=context,
            start_time=start,
            attributes={SPAN_KIND: "RETRIEVER", "input.value": run.question},
        )
        for i, source in enumerate(run.sources):
            retrieve.set_attribute(f"retrieval.documents.{i}.document.id", source)
        retrieve.end(end_time=_ns(run.timestamp, run.retrieve_s))
        offset = run.retrieve_s
        group = by_run.get(run.run_id)
        for call in group.itertuples() if group is not None else ():
            span = tracer.start_span(
                f"llm.{call.kind}",
                context=context,
                start_time=_ns(run.timestamp, offset),
                attributes={
                    SPAN_KIND: "LLM",
                    "llm.model_name": call.model,
                    "llm.token_count.prompt": int(call.input_tokens),
                    "llm.token_count.completion": int(call.output_tokens),
                    "llm.token_count.total": int(call.input_tokens + call.output_tokens),
                    "toolkit.attempts": int(call.attempts),
                    "toolkit.cache_hit": call.cache_hit,
                },
            )
            offset += call.seconds
            span.end(end_time=_ns(run.timestamp, offset))
        if run.error:
            root.set_status(Status(StatusCode.ERROR, run.error))
        root.end(end_time=_ns(run.timestamp, max(run.total_s, offset)))
    return len(runs)

"""The steps a question passes through, in order, each writing its own part of the run record.

    Retrieve ─► FitContext ─► Prompt ─► Generate ─► after-steps (Validate, Extract, Score, Decide)

A step is any callable `step(run)` with a `name`: it reads and changes the `Run` (the question's
state on its way through) and writes its findings with `run.record.part(name)`. A pipeline is
its list of steps, so a capability is added by appending a step, as LlamaIndex adds node
postprocessors, never by one more keyword argument.

    >>> run = Run("How long?", RunRecord("r1", "2026-12-01T00:00:00+00:00", "How long?"))
    >>> run.record.part("route")["sources"] = ["vector"]
    >>> run.record.flat()["route.sources"]
    ['vector']

Not here: the model-call chain every model call goes through (toolkit.models.calls), and how a
pipeline is assembled from a configuration (pipeline.py, pipeline_config.py).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import PromptTooLongError, ToolkitError
from .models import ModelReply, count_tokens
from .retrieval import Routed, Source, SourceRouter, cite
from .validation import REFUSAL, Guard, Output

__all__ = [
    "Run",
    "RunRecord",
    "Retrieve",
    "FitContext",
    "Prompt",
    "Generate",
    "Validate",
    "Extract",
    "Score",
    "Decide",
    "TEMPLATE_OVERHEAD",
    "MIN_CONTEXT_TOKENS",
    "as_step",
]

# Tokens the chat template adds around the messages (role markers, turn ends); measured on
# SmolLM2's ChatML template as 15 and rounded up for other templates.
TEMPLATE_OVERHEAD = 32
# A question must leave at least this much room for retrieved context.
MIN_CONTEXT_TOKENS = 128


@dataclass
class RunRecord:
    """One question's run: what every run has, then `parts`, each step's own fields by step name
    (`{"route": {"sources": [...]}, "validate": {"action": "pass"}}`), and `calls`, one row per
    model call (kind, model, tokens, attempts, cache hit). `flat()` joins them as `step.field`."""

    run_id: str
    timestamp: str
    question: str
    answer: str = ""
    model: str = ""
    sources: list[str] = field(default_factory=list)
    context_chunks: int = 0
    context_sources: list[str] = field(default_factory=list)  # the source of each [n] block shown
    retrieve_s: float = 0.0
    generate_s: float = 0.0
    total_s: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    compute_s: float = 0.0  # seconds of this machine's compute (local models)
    error: str = ""
    calls: list[dict] = field(default_factory=list)
    parts: dict[str, dict] = field(default_factory=dict)

    def part(self, step: str) -> dict:
        """The step's own fields (created empty on first use)."""
        return self.parts.setdefault(step, {})

    def get(self, dotted: str, default: Any = None) -> Any:
        """A field by `step.field` name (`record.get("cache.hit")`), or `default`."""
        step, _, name = dotted.partition(".")
        return self.parts.get(step, {}).get(name, default)

    def flat(self) -> dict:
        """Every field in one flat dict: the common ones, then `step.field` for each part."""
        row = {k: v for k, v in asdict(self).items() if k != "parts"}
        for step, values in self.parts.items():
            row.update({f"{step}.{name}": value for name, value in values.items()})
        return row


@dataclass
class Run:
    """One question on its way through the steps."""

    question: str
    record: RunRecord
    hits: list = field(default_factory=list)  # LlamaIndex NodeWithScore, best first
    rankings: list = field(default_factory=list)  # a hybrid retriever's per-side document ids
    sources: list[Source] = field(default_factory=list)
    context: list[tuple[str, str]] = field(default_factory=list)  # (source id, text) the model is shown
    messages: list = field(default_factory=list)
    replies: list[ModelReply] = field(default_factory=list)  # every model call, in order
    text: str = ""  # the answer as it stands
    notes: list[str] = field(default_factory=list)  # lines a step adds below the answer
    verdict: Any = None  # the Validate step's validation.Verdict
    pipeline: Any = None

    def add_reply(self, reply: ModelReply) -> None:
        """Count a model call: its usage adds up on the answer, its row goes into `record.calls`."""
        self.replies.append(reply)
        usage = reply.usage
        self.record.input_tokens += usage.input_tokens
        self.record.output_tokens += usage.output_tokens
        self.record.cost_usd += self.pipeline.prices.cost(str(reply.model), usage)
        self.record.calls.append(reply.summary())
        for step, values in reply.parts.items():
            self.record.part(step).update(values)


class Retrieve:
    """The retriever's top chunks (a SourceRouter also records its route and failed sources)."""

    name = "retrieve"

    def __init__(self, retriever):
        self.retriever = retriever

    def __call__(self, run: Run) -> None:
        started = time.perf_counter()
        if isinstance(self.retriever, SourceRouter):
            routed = self.retriever.route(run.question)
        elif hasattr(self.retriever, "retrieve_with_lists"):  # hybrid: keep each side's ranking
            hits, run.rankings = self.retriever.retrieve_with_lists(run.question)
            routed = Routed(hits, None)
        else:
            routed = Routed(list(self.retriever.retrieve(run.question)), None)
        run.hits = routed.nodes
        if routed.route is not None:
            route = routed.route
            run.record.part("route").update(sources=route.sources, rules=route.rules, failed=dict(route.failed))
            if route.failed:  # say which source failed; the answer comes from the others
                used = [s for s in route.sources if s not in route.failed] or ["no source"]
                failed = " and ".join(route.failed) + (" sources" if len(route.failed) > 1 else " source")
                run.notes.append(
                    f"(The {failed} failed, so this answer uses {' and '.join(used)} only. "
                    f"{'; '.join(route.failed.values())})"
                )
        ledger = run.pipeline.ledger
        if ledger is not None:  # the retrieval embedded the question once
            ledger.record_embedding(run.record.run_id, run.pipeline.embed_id, run.question)
        run.sources = cite(run.hits)
        run.record.sources = [s.id for s in run.sources]
        run.record.retrieve_s = time.perf_counter() - started


class FitContext:
    """Keep the best chunks that fit the model's window beside the prompt and the answer."""

    name = "context"

    def __call__(self, run: Run) -> None:
        pipeline = run.pipeline
        llm, spec = pipeline.llm, pipeline.spec
        window = llm.metadata.context_window
        budget = window - pipeline.settings.max_output_tokens - TEMPLATE_OVERHEAD
        fixed = count_tokens(llm, "\n".join(m.content or "" for m in spec.messages(run.question, [])))
        if budget - fixed < MIN_CONTEXT_TOKENS:
            limit = budget - MIN_CONTEXT_TOKENS - count_tokens(llm, spec.system)
            raise PromptTooLongError(
                f"the question is too long for this model: its {window}-token window leaves room for "
                f"about {max(limit, 0)} tokens of question; shorten the question or configure a model "
                f"with a larger context_window"
            )
        context, used = [], fixed
        for hit in run.hits:
            source = hit.node.ref_doc_id or hit.node.node_id
            text = hit.node.get_content()
            cost = count_tokens(llm, spec.context_block(len(context) + 1, source, text)) + 2
            if used + cost > budget:
                break
            context.append((source, text))
            used += cost
        run.context = context
        run.record.context_chunks = len(context)
        run.record.context_sources = [source for source, _ in context]


class Prompt:
    """Render the messages with the pipeline's PromptSpec (the default spec unless one was given)."""

    name = "prompt"

    def __call__(self, run: Run) -> None:
        spec = run.pipeline.spec
        run.messages = spec.messages(run.question, run.context)
        run.record.part("prompt")["spec_version"] = spec.version


class Generate:
    """The model call, through the pipeline's chain (budget, cache, retry, faults)."""

    name = "generate"

    def __call__(self, run: Run) -> None:
        pipeline = run.pipeline
        started = time.perf_counter()
        reply = pipeline.client.chat(
            run.messages,
            kind="llm",
            run_id=run.record.run_id,
            question=run.question,
            context=run.context,
            prompt_version=pipeline.spec.version,
            corpus=dict(pipeline.index.meta.get("files", {})),
        )
        run.record.generate_s = time.perf_counter() - started
        run.record.model = str(reply.model)  # the tier that answered
        run.add_reply(reply)
        if reply.model.runs_here and not reply.cache_hit:
            run.record.compute_s = round(run.record.generate_s, 4)
        run.text = reply.text


class Validate:
    """Check the answer with a Guard and apply its policy; a re-ask goes through the chain as
    `repair` (after a schema failure) or `reask`, and its usage adds up on the answer."""

    name = "validate"

    def __init__(self, guard: Guard):
        self.guard = guard

    def __call__(self, run: Run) -> None:
        spec = run.pipeline.spec
        output = Output(run.question, run.text, run.context, spec.output_format, run.messages)
        verdict = self.guard.check(output, client=run.pipeline.client, run_id=run.record.run_id)
        for reply in verdict.replies:
            run.add_reply(reply)
        part = run.record.part(self.name)
        part.update(
            action=verdict.action,
            failed=[f"{r.validator}:{r.rule}" for r in verdict.failed],
            ticket=verdict.ticket,
            original=run.text,
        )
        run.text = verdict.text
        run.verdict = verdict


def as_step(step):
    """A Guard becomes its Validate step; anything else must already be a step."""
    if isinstance(step, Guard):
        return Validate(step)
    if not callable(step) or not getattr(step, "name", ""):
        raise ToolkitError(f"{step!r} is not a pipeline step: give it a `name` and make it callable as step(run)")
    return step


class Extract:
    """A second answerer beside the model: the extractive one quotes the context sentence nearest
    the question (preferring the kind of span the question asks for). Its answer is a signal,
    and the answer itself when the configuration says so."""

    name = "extractive"

    def __init__(self, type_bonus: float = 0.1, min_similarity: float = 0.35, answer: bool = False, embed_model=None):
        """`embed_model` embeds the context's sentences; by default a memo over the pipeline's
        (steps given one memo embed each sentence once between them)."""
        self.type_bonus, self.min_similarity, self.answer = type_bonus, min_similarity, answer
        self.embed_model = embed_model
        self._llm = None

    def __call__(self, run: Run) -> None:
        from .models import ExtractiveLLM

        if self._llm is None:
            from .cost import memo_embedding

            # The same chunks come back question after question: embed each sentence once.
            self.embed_model = self.embed_model or memo_embedding(run.pipeline.embed_model)
            self._llm = ExtractiveLLM.from_embed_model(
                self.embed_model, type_bonus=self.type_bonus, min_similarity=self.min_similarity
            )
        # Prefer the current version: quote a superseded document only when nothing else is shown.
        demoted = set(run.record.get("freshness.demoted", []))
        texts = [text for source, text in run.context if source not in demoted] or [t for _, t in run.context]
        text, similarity = self._llm.answer(run.question, texts)
        part = run.record.part(self.name)
        part.update(answer=text, similarity=round(similarity, 4))
        if self.answer:  # the quote is the answer; the model's answer stays a signal
            part["model_answer"] = run.text
            run.text = text


class Score:
    """Read the run's confidence signals and, with a calibrator, one calibrated probability that
    the answer is right. Signals this run cannot give are named in `confidence.skipped`."""

    name = "confidence"

    def __init__(self, calibrator=None):
        self.calibrator = calibrator

    def __call__(self, run: Run) -> None:
        from .confidence import agreement, logprob_signals, missing, retrieval_signals, type_match
        from .text import is_abstention
        from .validation import Grounding, split_sentences

        started = time.perf_counter()
        generated = next((r for r in run.replies if r.kind == "llm"), None)
        extractive = run.record.parts.get("extractive", {})
        signals = {**retrieval_signals(run.hits, run.rankings)}
        signals.update(logprob_signals(generated.raw if generated is not None else None))
        original = run.record.get("extractive.model_answer") or run.record.get("validate.original", run.text)
        if "answer" in extractive:
            signals["answerer_agreement"] = agreement(original, extractive["answer"])
            signals["extractive_similarity"] = float(extractive["similarity"])
        else:
            signals["answerer_agreement"] = signals["extractive_similarity"] = None
        signals["type_match"] = type_match(run.question, run.text)
        claims = [c for c in split_sentences(run.text) if not is_abstention(c)] or [run.text]
        grounding = Grounding()
        signals["grounding"] = min(grounding.support(c, run.context, run.question) for c in claims)
        signals["validation_failed"] = float(bool(run.record.get("validate.failed")))
        signals["abstained"] = float(is_abstention(run.text))
        part = run.record.part(self.name)
        part.update(signals={k: (round(v, 4) if v is not None else None) for k, v in signals.items()})
        part["skipped"] = missing(signals)
        if self.calibrator is not None:
            # a signal this run lacks counts as its average: no evidence either way (named below)
            part["imputed"] = [k for k in self.calibrator.signals if signals.get(k) is None]
            part["score"] = round(self.calibrator.predict(signals), 4)
        part["seconds"] = round(time.perf_counter() - started, 5)


class Decide:
    """Act on the calibrated confidence: answer, escalate to a person, or refuse.

    At or above `answer_at` the answer stands. Below `refuse_below`, or when the answer already
    declines, the pipeline refuses. In between, the draft goes to the review queue and is shown
    marked as awaiting review. The escalated item carries the question, the draft, the context,
    the signals, the reasons and a priority (the less sure, the sooner)."""

    name = "decide"

    def __init__(self, answer_at: float, refuse_below: float = 0.0, queue=None, refusal: str = ""):
        from .confidence import check_thresholds

        check_thresholds(answer_at, refuse_below)
        self.answer_at, self.refuse_below, self.queue = answer_at, refuse_below, queue
        self.refusal = refusal or REFUSAL

    def __call__(self, run: Run) -> None:
        from .confidence import decide
        from .text import is_abstention

        score = run.record.get("confidence.score")
        if score is None:
            raise ToolkitError("Decide needs a calibrated confidence: put Score(calibrator) before it")
        part = run.record.part(self.name)
        decision, reasons = decide(score, run.text, answer_at=self.answer_at, refuse_below=self.refuse_below)
        reasons += [f"failed {name}" for name in run.record.get("validate.failed", [])]
        part.update(decision=decision, reasons=reasons, draft=run.text)
        if decision == "refuse" and not is_abstention(run.text):
            run.text = self.refusal
        elif decision == "escalate":
            if self.queue is not None:
                part["ticket"] = self.queue.submit(self._item(run, score, reasons))
            run.notes.append(f"(Awaiting review: confidence {score:.2f}. A person will check this answer.)")

    def _item(self, run: Run, score: float, reasons: list[str]):
        from .validation.review import ReviewItem

        config = run.pipeline.config
        return ReviewItem.new(
            run.question,
            run.text,
            run_id=run.record.run_id,
            pipeline_version=config.version if config is not None else "",
            context=[{"source": source, "text": text} for source, text in run.context],
            signals={k: v for k, v in run.record.get("confidence.signals", {}).items() if v is not None}
            | {"confidence": score},
            reasons=reasons,
            priority=round(1.0 - score, 4),
            validator="confidence",
            rule="threshold",
        )

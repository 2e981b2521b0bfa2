"""The pipeline: question -> retrieve top-k -> prompt -> LLM -> answer with cited sources.

Every call to `ask` appends a RunRecord (per-step latency, tokens, cost, compute seconds,
errors) to `pipeline.records`; `pipeline.runs()` shows them as a DataFrame.

    >>> pipeline = Pipeline.bundled()                                  # doctest: +SKIP
    >>> answer = pipeline.ask("How long do I have to return an item?")  # doctest: +SKIP
    >>> answer.sources[0].id                                           # doctest: +SKIP
    'policies/returns.md'

Not here: the cache, retry, source-routing and validation machinery itself (cache.py, reliability.py,
sources.py, validate.py); `ask` only calls into them when given.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import asdict, dataclass, field

from .config import Settings, load_settings
from .costs import PriceTable, Usage
from .errors import PromptTooLongError, ToolkitError
from .index import Index
from .models import count_tokens, make_embed_model, make_llm, model_name, usage_from_response
from .prompts import SYSTEM_PROMPT, context_block, rag_messages

__all__ = ["Pipeline", "Answer", "Source", "RunRecord", "cite"]

# Tokens the chat template adds around the messages (role markers, turn ends); measured on
# SmolLM2's ChatML template as 15 and rounded up for other templates.
TEMPLATE_OVERHEAD = 32
# A question must leave at least this much room for retrieved context.
MIN_CONTEXT_TOKENS = 128


@dataclass
class Source:
    id: str            # the document id: its path relative to the ingested folder
    score: float       # cosine similarity of the best chunk of this document
    text: str = ""     # that chunk's text


@dataclass
class RunRecord:
    run_id: str
    timestamp: str
    question: str
    answer: str = ""
    model: str = ""
    sources: list[str] = field(default_factory=list)
    context_chunks: int = 0
    retrieve_s: float = 0.0
    generate_s: float = 0.0
    total_s: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    compute_s: float = 0.0   # seconds of this machine's compute (local models)
    error: str = ""
    spec_version: str = ""   # PromptSpec.version when the pipeline renders with a spec
    context_sources: list[str] = field(default_factory=list)  # the source of each [n] block shown
    route: list[str] = field(default_factory=list)  # sources a sources.SourceRouter chose ("sql", "api", "vector")
    failed_sources: dict[str, str] = field(default_factory=dict)  # routed source -> its error
    cache_hit: str = ""      # "exact" or "semantic" when the pipeline's cache answered (no model call)
    attempts: int = 1        # model calls made, retries and fallback tiers included (Pipeline(retry=...))


@dataclass
class Answer:
    question: str
    text: str
    sources: list[Source]
    record: RunRecord
    context: list[tuple[str, str]] = field(default_factory=list)  # the (source, text) blocks the model was shown

    def to_dict(self) -> dict:
        r = self.record
        return {"answer": self.text,
                "sources": [{"id": s.id, "score": round(s.score, 4)} for s in self.sources],
                "latency_s": round(r.total_s, 3), "input_tokens": r.input_tokens,
                "output_tokens": r.output_tokens, "cost_usd": r.cost_usd,
                "model": r.model, "error": r.error}

    def __str__(self) -> str:
        r = self.record
        lines = [self.text or f"(no answer: {r.error})", "", "Sources:"]
        lines += [f"  {s.score:.3f}  {s.id}" for s in self.sources]
        if r.route:  # only when a sources.SourceRouter chose the sources
            lines += ["", f"route: {', '.join(r.route)}"]
            lines += [f"  {name} failed: {why}" for name, why in r.failed_sources.items()]
        lines += ["", f"latency {r.total_s:.2f} s (retrieve {r.retrieve_s:.2f} s, generate {r.generate_s:.2f} s)  "
                  f"tokens {r.input_tokens} in / {r.output_tokens} out  cost ${r.cost_usd:.6f}  model {r.model}"]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        items = "".join(f"<li><code>{html.escape(s.id)}</code> ({s.score:.3f})</li>" for s in self.sources)
        r = self.record
        return (f"<p><b>{html.escape(self.text or '(no answer)')}</b></p><ul>{items}</ul>"
                f"<small>{r.total_s:.2f} s, {r.input_tokens}+{r.output_tokens} tokens, ${r.cost_usd:.6f}</small>")


def cite(hits) -> list[Source]:
    """Fold ranked chunks into ranked documents: one Source per document, at its best chunk."""
    best: dict[str, Source] = {}
    for hit in hits:  # hits arrive best first, so the first chunk of a document is its best
        doc = hit.node.ref_doc_id or hit.node.node_id
        if doc not in best:
            best[doc] = Source(doc, float(hit.score or 0.0), hit.node.get_content())
    return list(best.values())


def _model_of(llm) -> str | None:
    """The `provider:name` of the toolkit's own model classes, None when no `llm` was given;
    any other object cannot be named (or priced) from here, so that is an error."""
    if llm is None:
        return None
    from .extractive import ExtractiveLLM
    from .local_llm import LocalLLM

    if isinstance(llm, LocalLLM):
        return model_name(f"local:{llm.model_path}")
    if isinstance(llm, ExtractiveLLM):
        return model_name("extractive")
    raise ToolkitError(f"Pipeline(llm={type(llm).__name__}(...)) needs model='provider:name' too "
                       f"(for example model='openai:gpt-4o-mini'), so its runs are priced and labelled")


def _check_embedding(index: Index, settings: Settings) -> None:
    """Refuse to query an index with another embedding model than the one that built it."""
    from .models import embed_model_id

    built_with, expected = index.meta.get("embed_model"), embed_model_id(settings)
    if built_with is not None and built_with != expected:
        raise ToolkitError(f"the index was embedded with {built_with}, but the settings name {expected}; "
                           f"set embed to match, or ingest again")


class Pipeline:
    """Retrieve, prompt, generate; record every run."""

    def __init__(self, index: Index, *, settings: Settings | None = None, llm=None, model: str | None = None,
                 embed_model=None, prices: PriceTable | None = None, system_prompt: str = SYSTEM_PROMPT,
                 spec=None, retriever=None, cache=None, ledger=None, retry=None):
        """`llm` overrides the model `settings.llm` names; then `model` must say what it is
        (`provider:name`, as in the price table), so its runs are priced and labelled right.
        `spec` (a prompts.PromptSpec) replaces the default prompt and `system_prompt`.
        `retriever` (any LlamaIndex retriever, e.g. `retrieve.make_retriever("hybrid", ...)`)
        replaces the index's dense top-k retriever, and a `sources.SourceRouter` also records its
        route. `cache` (cache.ResponseCache) and `ledger` (ledger.CostLedger) wrap the model call;
        `retry` (reliability.RetryPolicy) retries it and falls back to other tiers."""
        if spec is not None and system_prompt != SYSTEM_PROMPT:
            raise ToolkitError("give either spec or system_prompt, not both; put the system text in the spec's role")
        self.spec = spec
        self.settings = settings or load_settings()
        self.index = index
        _check_embedding(index, self.settings)
        self.embed_model = embed_model or make_embed_model(self.settings)
        self.llm = llm if llm is not None else make_llm(self.settings)
        self.model = model or _model_of(llm) or model_name(self.settings.llm)
        self.prices = prices or PriceTable.for_settings(self.settings)
        self.prices.price(self.model)  # fail now, not after the first answer, if it has no price
        self.system_prompt = system_prompt
        self.records: list[RunRecord] = []
        self.cache, self.ledger = cache, ledger  # optional: cache.ResponseCache, ledger.CostLedger
        self.retry = retry  # optional reliability.RetryPolicy: retries, timeouts, fallback tiers
        for tier, _ in getattr(retry, "fallbacks", ()):
            self.prices.price(tier)  # a fallback tier must be priced too, before the first answer
        self._retriever = retriever if retriever is not None else index.retriever(self.embed_model,
                                                                                  top_k=self.settings.top_k)
        if hasattr(self._retriever, "route") and self._retriever.vector is None:
            # a sources.SourceRouter with no document retriever of its own asks this index
            self._retriever.vector = index.retriever(self.embed_model, top_k=self.settings.top_k)
        if cache is not None and not hasattr(self._retriever, "route"):
            from .cached_pipeline import NormalizedRetriever  # equal questions must see equal context

            self._retriever = NormalizedRetriever(self._retriever)

    @classmethod
    def bundled(cls, settings: Settings | None = None, show_progress: bool = False, **kwargs) -> Pipeline:
        """A pipeline over the bundled Tidewell corpus (indexed on first use, updated if it changed)."""
        from .datasets import tidewell_corpus
        from .ingest import ingest

        settings = settings or load_settings()
        embed_model = kwargs.pop("embed_model", None) or make_embed_model(settings)
        index, _ = ingest(tidewell_corpus(), settings.index_root / "tidewell", settings=settings,
                          embed_model=embed_model, show_progress=show_progress)
        return cls(index, settings=settings, embed_model=embed_model, **kwargs)

    @classmethod
    def open(cls, index_dir, settings: Settings | None = None, **kwargs) -> Pipeline:
        """A pipeline over an index written by `ingest`."""
        return cls(Index.open(index_dir), settings=settings, **kwargs)

    def retrieve(self, question: str) -> list:
        """The top-k chunks for a question, as LlamaIndex NodeWithScore objects, best first."""
        return self._retriever.retrieve(question)

    def _fit_context(self, question: str, hits: list) -> list[tuple[str, str]]:
        """Keep the best chunks that fit the model's window beside the instructions and answer."""
        window = self.llm.metadata.context_window
        budget = window - self.settings.max_output_tokens - TEMPLATE_OVERHEAD
        if self.spec is not None:  # everything but the context: system, examples, the template
            fixed = count_tokens(self.llm, "\n".join(m.content or "" for m in self.spec.messages(question, [])))
        else:
            fixed = count_tokens(self.llm, self.system_prompt) + count_tokens(self.llm, f"Context:\n\n\nQuestion: {question}")
        block = self.spec.context_block if self.spec is not None else context_block
        if budget - fixed < MIN_CONTEXT_TOKENS:
            limit = budget - MIN_CONTEXT_TOKENS - count_tokens(self.llm, self.system_prompt)
            raise PromptTooLongError(
                f"the question is too long for this model: its {window}-token window leaves room for "
                f"about {max(limit, 0)} tokens of question; shorten the question or configure a model "
                f"with a larger context_window")
        context, used = [], fixed
        for hit in hits:
            source = hit.node.ref_doc_id or hit.node.node_id
            text = hit.node.get_content()
            cost = count_tokens(self.llm, block(len(context) + 1, source, text)) + 2
            if used + cost > budget:
                break
            context.append((source, text))
            used += cost
        return context

    def ask(self, question: str, *, raise_errors: bool = True) -> Answer:
        """Answer one question from the index and record the run.

        With `raise_errors=False` a failure returns an Answer with empty text and the error in
        its record, so a batch over an evaluation set keeps going.
        """
        record = RunRecord(run_id=uuid.uuid4().hex[:12], question=question, model=self.model,
                           timestamp=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
        sources: list[Source] = []
        context: list[tuple[str, str]] = []
        started = time.perf_counter()
        try:
            if not question or not question.strip():
                raise ToolkitError("the question is empty; ask something about the indexed documents")
            if hasattr(self._retriever, "route"):  # a sources.SourceRouter: record what it chose
                routed = self._retriever.route(question)
                hits, record.route, record.failed_sources = routed.nodes, routed.route.sources, routed.route.failed
            else:
                hits = self.retrieve(question)
            record.retrieve_s = time.perf_counter() - started
            sources = cite(hits)
            record.sources = [s.id for s in sources]

            context = self._fit_context(question, hits)
            record.context_chunks = len(context)
            record.context_sources = [source for source, _ in context]
            generate_started = time.perf_counter()
            if self.spec is not None:
                messages = self.spec.messages(question, context)
                record.spec_version = self.spec.version
            else:
                messages = rag_messages(question, context, self.system_prompt)
            response = self._chat(messages, question, context, record)
            record.generate_s = time.perf_counter() - generate_started
            record.answer = (response.message.content or "").strip()

            usage = usage_from_response(response)
            if usage is None:  # the provider reported none: count with the model's tokenizer
                prompt = "\n".join(m.content or "" for m in messages)
                usage = Usage(count_tokens(self.llm, prompt), count_tokens(self.llm, record.answer))
            record.input_tokens, record.output_tokens = usage.input_tokens, usage.output_tokens
            record.cost_usd = self.prices.cost(record.model, usage)  # the tier that answered
            if record.model.split(":", 1)[0] in ("local", "ollama", "extractive"):
                record.compute_s = round(record.generate_s, 4)
            if record.failed_sources:  # say which source failed; the answer comes from the others
                used = [s for s in record.route if s not in record.failed_sources] or ["no source"]
                failed = " and ".join(record.failed_sources) + (" sources" if len(record.failed_sources) > 1
                                                                else " source")
                record.answer += (f"\n(The {failed} failed, so this answer "
                                  f"uses {' and '.join(used)} only. {'; '.join(record.failed_sources.values())})")
        except Exception as exc:
            record.error = f"{type(exc).__name__}: {exc}"
            if raise_errors:
                raise
        finally:
            record.total_s = time.perf_counter() - started
            self.records.append(record)
        return Answer(question, record.answer, sources, record, context)

    def _chat(self, messages, question: str, context, record: RunRecord):
        """The model call; through the response cache and the cost ledger when given."""
        if self.cache is None and self.ledger is None:
            return self._generate(messages, record)
        from .cached_pipeline import cached_chat

        return cached_chat(self, messages, question, context, record)

    def _generate(self, messages, record: RunRecord):
        """The model call itself: plain, or under `self.retry`, which sets `record.attempts` and,
        when a fallback tier answered, `record.model`."""
        if self.retry is None:
            return self.llm.chat(messages)
        outcome = self.retry.chat(self.model, self.llm, messages)
        record.attempts, record.model = len(outcome.attempts), outcome.tier
        return outcome.value

    def runs(self):
        """Every recorded run as a DataFrame, one row per question."""
        import pandas as pd

        return pd.DataFrame([asdict(r) for r in self.records], columns=list(RunRecord.__dataclass_fields__))

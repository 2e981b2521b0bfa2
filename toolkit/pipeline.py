"""The pipeline: a question through its steps, every model call through one chain, every run recorded.

    question ─► Retrieve ─► FitContext ─► Prompt ─► Generate ─► after-steps ─► Answer

    >>> pipeline = Pipeline.bundled()                                  # doctest: +SKIP
    >>> answer = pipeline.ask("How long do I have to return an item?")  # doctest: +SKIP
    >>> answer.sources[0].id                                           # doctest: +SKIP
    'policies/returns.md'

A capability is a step (`after=[guard]`) or a middleware of the model call
(`middleware=[Budget(ledger), Cache(cache), Retry(policy)]`), not another keyword argument.
Every call to `ask` appends a RunRecord to `pipeline.records`; `pipeline.runs()` shows them as a
DataFrame with each step's fields as `step.field` columns. `Pipeline.from_config(path)` builds the
whole pipeline from one YAML file (pipeline_config.py).

Not here: the steps themselves (steps.py) and the middleware (toolkit.cost.middleware,
toolkit.reliability.middleware).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .confidence import Calibrator
from .config import Settings, load_settings
from .cost import PriceTable, cost_ledger, response_cache
from .cost.middleware import Budget, Cache
from .cost.pipeline_cache import NormalizedRetriever
from .errors import ConfigError, ToolkitError
from .ingestion import Index, default_index_dir, ingest
from .models import ModelClient, ModelRef, embed_model_id, make_embed_model, make_llm
from .models.extractive import ExtractiveLLM
from .models.local import LocalLLM
from .pipeline_config import DEMO, PipelineConfig, RetrieverConfig
from .prompting import DEFAULT_SPEC, SCHEMAS, PromptSpec, bundled_specs, load_spec
from .reliability import FaultInjector, RetryPolicy
from .reliability.middleware import Faults, Retry
from .retrieval import Source, SourceRouter, make_retriever
from .retrieval.freshness import PreferCurrent
from .steps import Decide, Extract, FitContext, Generate, Prompt, Retrieve, Run, RunRecord, Score, as_step
from .storage import check_store, is_database_url
from .tracking import RunStore, run_store
from .validation import BusinessRules, Grounding, Guard, Safety, Schema, review_queue

__all__ = ["Pipeline", "Answer", "RunRecord"]


@dataclass
class Answer:
    question: str
    text: str
    sources: list[Source]
    record: RunRecord
    context: list[tuple[str, str]] = field(default_factory=list)  # the (source, text) blocks the model was shown

    def to_dict(self) -> dict:
        r = self.record
        return {
            "answer": self.text,
            "sources": [{"id": s.id, "score": round(s.score, 4)} for s in self.sources],
            "latency_s": round(r.total_s, 3),
            "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens,
            "cost_usd": r.cost_usd,
            "model": r.model,
            "error": r.error,
            # A calibrated probability that the answer is right, and what the pipeline did with
            # it ("answer", "escalate": shown as awaiting review, "refuse"); None without them.
            "confidence": r.get("confidence.score"),
            "decision": r.get("decide.decision"),
            # With model tiers (toolkit.routing): the tier whose answer is shown ("review" when a
            # person has it) and every tier tried, in order; None without tiers.
            "tier": r.get("cascade.tier"),
            "tiers_tried": r.get("cascade.tiers_tried"),
        }

    def __str__(self) -> str:
        r = self.record
        lines = [self.text or f"(no answer: {r.error})", "", "Sources:"]
        lines += [f"  {s.score:.3f}  {s.id}" for s in self.sources]
        if r.get("route.sources"):  # only when a SourceRouter chose the sources
            lines += ["", f"route: {', '.join(r.get('route.sources'))}"]
            lines += [f"  {name} failed: {why}" for name, why in r.get("route.failed", {}).items()]
        lines += [
            "",
            f"latency {r.total_s:.2f} s (retrieve {r.retrieve_s:.2f} s, generate {r.generate_s:.2f} s)  "
            f"tokens {r.input_tokens} in / {r.output_tokens} out  cost ${r.cost_usd:.6f}  model {r.model}",
        ]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        items = "".join(f"<li><code>{html.escape(s.id)}</code> ({s.score:.3f})</li>" for s in self.sources)
        r = self.record
        return (
            f"<p><b>{html.escape(self.text or '(no answer)')}</b></p><ul>{items}</ul>"
            f"<small>{r.total_s:.2f} s, {r.input_tokens}+{r.output_tokens} tokens, ${r.cost_usd:.6f}</small>"
        )


def _model_of(llm) -> ModelRef | None:
    """The ref of the toolkit's own model classes, None when no `llm` was given; any other
    object cannot be named (or priced) from here, so that is an error."""
    if llm is None:
        return None
    if isinstance(llm, LocalLLM):
        return ModelRef.parse(f"local:{llm.model_path}")
    if isinstance(llm, ExtractiveLLM):
        return ModelRef.parse("extractive")
    raise ToolkitError(
        f"Pipeline(llm={type(llm).__name__}(...)) needs model='provider:name' too "
        f"(for example model='openai:gpt-4o-mini'), so its runs are priced and labelled"
    )


def _check_embedding(index: Index, settings: Settings) -> None:
    """Refuse to query an index with another embedding model than the one that built it."""
    built_with, expected = index.meta.get("embed_model"), embed_model_id(settings)
    if built_with is not None and built_with != expected:
        raise ToolkitError(
            f"the index was embedded with {built_with}, but the settings name {expected}; "
            f"set embed to match, or ingest again"
        )


class Pipeline:
    """Retrieve, fit, prompt, generate, then the after-steps; record every run."""

    def __init__(
        self,
        index: Index,
        *,
        settings: Settings | None = None,
        llm=None,
        model: str | ModelRef | None = None,
        embed_model=None,
        prices: PriceTable | None = None,
        spec: PromptSpec | None = None,
        retriever=None,
        middleware: Sequence = (),
        after: Sequence = (),
    ):
        """`llm` overrides the model `settings.llm` names; then `model` must say what it is
        (`provider:name`, as in the price table), so its runs are priced and labelled right.
        `spec` is the PromptSpec (DEFAULT_SPEC by default). `retriever` (any LlamaIndex
        retriever, e.g. `make_retriever("hybrid", ...)`, or a SourceRouter) replaces the index's
        dense top-k retriever. `middleware` wraps every model call, outermost first;
        `after` are steps run after generation (a Guard becomes its Validate step)."""
        self.settings = settings or load_settings()
        self.index = index
        _check_embedding(index, self.settings)
        self.embed_model = embed_model or make_embed_model(self.settings)
        self.embed_id = embed_model_id(self.settings)
        self.llm = llm if llm is not None else make_llm(self.settings)
        self.model = (
            ModelRef.parse(model) if model is not None else (_model_of(llm) or ModelRef.parse(self.settings.llm))
        )
        self.prices = prices or PriceTable.for_settings(self.settings)
        self.spec = spec or DEFAULT_SPEC
        self.client = ModelClient(self.llm, self.model, middleware, max_output_tokens=self.settings.max_output_tokens)
        for name in [str(self.model)] + [tier for m in middleware for tier in getattr(m, "tiers", ())]:
            self.prices.price(name)  # fail now, not after the first answer, if a tier has no price
        self.records: list[RunRecord] = []
        if retriever is None:
            retriever = index.retriever(self.embed_model, top_k=self.settings.top_k)
        if isinstance(retriever, SourceRouter) and retriever.vector is None:
            # a router with no document retriever of its own asks this index
            retriever.vector = index.retriever(self.embed_model, top_k=self.settings.top_k)
        if any(isinstance(m, Cache) for m in middleware) and not isinstance(retriever, SourceRouter):
            retriever = NormalizedRetriever(retriever)  # equal questions must see equal context (one cache key)
        self.retriever = retriever
        self.steps = [Retrieve(retriever), FitContext(), Prompt(), Generate(), *map(as_step, after)]
        self.config = None  # the PipelineConfig it was built from, when it was (from_config)
        # Where every run is also stored (a RunStore), tagged with the configuration's version,
        # `label` and `origin` (python, notebook, cli, server); None keeps runs in memory only.
        self.store: RunStore | None = None
        self.label, self.origin = "", "python"

    @classmethod
    def bundled(cls, settings: Settings | None = None, show_progress: bool = False, **kwargs) -> Pipeline:
        """A pipeline over the bundled Tidewell corpus (indexed on first use, updated if it changed).
        Needs the project's source checkout, where the corpus lives."""
        from .demo import tidewell_corpus

        settings = settings or load_settings()
        embed_model = kwargs.pop("embed_model", None) or make_embed_model(settings)
        index, _ = ingest(
            tidewell_corpus(),
            settings.index_root / "tidewell",
            settings=settings,
            embed_model=embed_model,
            show_progress=show_progress,
        )
        return cls(index, settings=settings, embed_model=embed_model, **kwargs)

    @classmethod
    def open(cls, index_dir, settings: Settings | None = None, *, store: str | None = None, **kwargs) -> Pipeline:
        """A pipeline over an index written by `ingest`: the folder `index_dir`, or with `store`
        (a postgresql:// URL) the index of that name in the database."""
        if store is not None:
            from .ingestion.index_postgres import IndexTable, PostgresIndex

            return cls(PostgresIndex.open(IndexTable(store, Path(index_dir).name)), settings=settings, **kwargs)
        return cls(Index.open(index_dir), settings=settings, **kwargs)

    @classmethod
    def from_config(
        cls, config, *, settings: Settings | None = None, show_progress: bool = False, base: str | Path | None = None
    ) -> Pipeline:
        """The whole pipeline one configuration describes (a PipelineConfig, or a YAML file's path).

        >>> pipeline = Pipeline.from_config("notebooks/pipelines/02_retrieval_layer.yaml")  # doctest: +SKIP
        """
        config = PipelineConfig.of(config)
        return _build(config, settings, show_progress, Path(base or config.folder or "."))

    @property
    def ledger(self):
        """The cost ledger of the chain's Budget middleware, or None."""
        return next((m.ledger for m in self.client.middleware if isinstance(m, Budget)), None)

    def retrieve(self, question: str) -> list:
        """The top chunks for a question, as LlamaIndex NodeWithScore objects, best first."""
        if isinstance(self.retriever, SourceRouter):
            return self.retriever.route(question).nodes
        return self.retriever.retrieve(question)

    def ask(self, question: str, *, raise_errors: bool = True) -> Answer:
        """Answer one question through every step and record the run.

        With `raise_errors=False` a failure returns an Answer with empty text and the error in
        its record, so a batch over an evaluation set keeps going.
        """
        record = RunRecord(
            run_id=uuid.uuid4().hex[:12],
            question=question,
            model=str(self.model),
            timestamp=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        run = Run(question, record, pipeline=self)
        started = time.perf_counter()
        try:
            if not question or not question.strip():
                raise ToolkitError("the question is empty; ask something about the indexed documents")
            for step in self.steps:
                step(run)
            record.answer = "\n".join([run.text, *run.notes]) if run.notes else run.text
        except Exception as exc:
            record.error = f"{type(exc).__name__}: {exc}"
            if raise_errors:
                raise
        finally:
            record.total_s = time.perf_counter() - started
            self.records.append(record)
            if self.store is not None:
                version = self.config.version if self.config is not None else ""
                self.store.record(record, version=version, label=self.label, origin=self.origin, ledger=self.ledger)
        return Answer(question, record.answer, run.sources, record, run.context)

    def runs(self):
        """Every recorded run as a DataFrame, one row per question, each step's fields as `step.field`."""
        import pandas as pd

        rows = [r.flat() for r in self.records]
        return (
            pd.DataFrame(rows)
            if rows
            else pd.DataFrame(columns=[f for f in RunRecord.__dataclass_fields__ if f != "parts"])
        )


# -- building a pipeline from its configuration -------------------------------------------------


def _build(config: PipelineConfig, settings, show_progress: bool, base: Path) -> Pipeline:
    """The Pipeline `config` describes; `base` resolves a relative corpus folder."""
    if config.tiers is not None:
        raise ConfigError(
            f"pipeline configuration {config.name!r} has model tiers: build it with "
            "toolkit.routing.Cascade.from_config (python -m toolkit ask --pipeline does)"
        )
    settings = _settings(config, settings)
    database = config.store if is_database_url(config.store) else None
    if database:
        _check_database(config)
    embed_model = make_embed_model(settings)
    index = ingest_config(config, settings=settings, base=base, embed_model=embed_model, show_progress=show_progress)
    prices = PriceTable.for_settings(settings)

    middleware: list = []
    if config.ledger is not None:
        middleware.append(
            Budget(
                cost_ledger(
                    database or settings.home / config.ledger.path,
                    prices=prices,
                    budget_usd=config.ledger.budget_usd,
                    priced_as=config.ledger.priced_as,
                    embed_priced_as=config.ledger.embed_priced_as,
                )
            )
        )
    if config.cache is not None:
        cache = response_cache(
            database or settings.home / config.cache.path,
            threshold=config.cache.threshold,
            embed_model=embed_model if config.cache.semantic else None,
        )
        middleware.append(Cache(cache, prices))
    if config.retry is not None:
        middleware.append(Retry(_retry_policy(config, settings)))
    if config.faults is not None:
        middleware.append(Faults(FaultInjector(dict(config.faults.rates), seed=config.faults.seed)))

    spec = _spec(config, base)
    pipeline = Pipeline(
        index,
        settings=settings,
        embed_model=embed_model,
        prices=prices,
        spec=spec,
        retriever=_retriever(config, index, embed_model, settings),
        middleware=middleware,
        after=[_guard(config, settings, spec)] if config.validation else [],
    )
    if config.retriever.prefer_current:
        pipeline.steps.insert(1, PreferCurrent())
    pipeline.steps += _confidence_steps(config, settings, base)
    pipeline.config = config
    if config.store is not None:
        pipeline.store = run_store(database or settings.home / config.store)
    return pipeline


def _settings(config: PipelineConfig, settings) -> Settings:
    """`settings` (or the environment's) with the configuration's own settings over them."""
    return load_settings(**{**(settings.model_dump() if settings is not None else {}), **config.settings})


def ingest_config(config, *, settings=None, base=None, embed_model=None, show_progress: bool = False) -> Index:
    """The index of the corpus `config` names, brought up to date (on Ray when `config.ray` is
    set): the first thing `Pipeline.from_config` does, on its own for work spread over workers.

    >>> index = ingest_config("notebooks/pipelines/02_retrieval_layer.yaml")  # doctest: +SKIP
    """
    config = PipelineConfig.of(config)
    base = Path(base or config.folder or ".")
    settings = _settings(config, settings)
    if config.corpus == "bundled":
        from .demo import tidewell_corpus

        corpus, index_dir = tidewell_corpus(), settings.index_root / "tidewell"
    else:
        corpus = (base / config.corpus).resolve()
        index_dir = default_index_dir(settings, corpus)
    if config.index:
        index_dir = settings.home / config.index
    # A database store holds the index too: the vectors in a pgvector table named after index_dir.
    index, _ = ingest(
        corpus,
        index_dir,
        settings=settings,
        embed_model=embed_model or make_embed_model(settings),
        show_progress=show_progress,
        store=config.store if is_database_url(config.store) else None,
        ray=config.ray,
    )
    return index


def _check_database(config: PipelineConfig) -> None:
    """A PostgreSQL store is checked before any work: reachable, pgvector, no newer schema."""
    from .cost.cache_postgres import SCHEMA_VERSION as CACHE
    from .cost.ledger_postgres import SCHEMA_VERSION as LEDGER
    from .ingestion.index_postgres import SCHEMA_VERSION as INDEX
    from .reliability.effects_postgres import SCHEMA_VERSION as EFFECTS
    from .tracking.run_store import SCHEMA_VERSION as RUNS
    from .validation.review_postgres import SCHEMA_VERSION as QUEUE

    known = {
        "side-effect ledger": EFFECTS,
        "cost ledger": LEDGER,
        "response cache": CACHE,
        "run store": RUNS,
        "review queue": QUEUE,
        "vector index": INDEX,
    }
    check_store(config.store, known=known)


def review_queue_for(config: PipelineConfig, settings, path: str):
    """The review queue a configuration names: the file at `path` under the toolkit home, or the
    configuration's `postgresql://` store, which holds every queue of the pipeline."""
    if is_database_url(config.store):
        return review_queue(config.store)
    return review_queue(settings.home / path)


def _confidence_steps(config: PipelineConfig, settings, base: Path) -> list:
    """Extract, Score and Decide, as the confidence and escalation sections say."""
    steps: list = []
    c, e = config.confidence, config.escalation
    if c is not None and c.extractive:
        steps.append(Extract(c.type_bonus, c.min_similarity, answer=c.answer_with == "extractive"))
    elif c is not None and c.answer_with == "extractive":
        raise ConfigError("confidence: answer_with 'extractive' needs extractive: true")
    calibrator = None
    if c is not None and c.calibrator:
        calibrator = Calibrator.load(base / c.calibrator, pipeline_version=config.signal_version)
    if c is not None:
        steps.append(Score(calibrator))
    if e is not None:
        if calibrator is None:
            raise ConfigError(
                "escalation needs a calibrated confidence: set confidence.calibrator to a calibrator file "
                "(fit one with toolkit.confidence.Calibrator on labelled runs)"
            )
        refusal = None
        if config.validation is not None and config.validation.refusal:
            from . import demo

            refusal = demo.REFUSAL if config.validation.refusal == DEMO else config.validation.refusal
        queue = review_queue_for(config, settings, e.queue)
        steps.append(Decide(e.answer_at, e.refuse_below, queue=queue, refusal=refusal or ""))
    return steps


def _retriever(config: PipelineConfig, index, embed_model, settings):
    r = config.retriever
    retriever = None
    if r != RetrieverConfig() or r.top_k is not None:
        retriever = make_retriever(
            r.kind,
            index,
            embed_model,
            top_k=r.top_k or settings.top_k,
            fusion=r.fusion,
            dense_kind=r.dense_kind,
            candidates=r.candidates,
        )
    if config.router is not None:
        from .demo import LiveAPISource, tidewell_router

        api = LiveAPISource(config.router.api) if config.router.api else None
        return tidewell_router(api=api, vector=retriever)
    return retriever


def _spec(config: PipelineConfig, base: Path) -> PromptSpec:
    if isinstance(config.spec, dict):
        return PromptSpec.model_validate(config.spec)
    if config.spec in bundled_specs():
        return load_spec(config.spec)
    return load_spec(base / config.spec)


def _retry_policy(config: PipelineConfig, settings):
    params = config.retry.model_dump(exclude={"fallbacks"})
    fallbacks = [(name, make_llm(settings.model_copy(update={"llm": name}))) for name in config.retry.fallbacks]
    return RetryPolicy(**params, fallbacks=fallbacks)


def _guard(config: PipelineConfig, settings, spec: PromptSpec) -> Guard:
    from . import demo

    checks = []
    for check in config.validation.checks:
        if check.check == "schema":
            name = check.schema_name or spec.output_schema or "CitedAnswer"
            if name not in SCHEMAS:
                raise ConfigError(f"validation: schema {name!r} is not registered; registered: {', '.join(SCHEMAS)}")
            validator = Schema(SCHEMAS[name])
        elif check.check == "business_rules":
            if check.rules is None:
                raise ConfigError(
                    "validation: a business_rules check needs rules: 'tidewell' (the bundled demo) "
                    "or the path of a YAML rules file"
                )
            if check.rules == DEMO:
                validator = demo.business_rules()
            elif check.catalog is None:
                raise ConfigError("validation: a business_rules file needs its catalog: set catalog: PATH.csv")
            else:
                validator = BusinessRules.load(check.rules, check.catalog)
        elif check.check == "grounding":
            validator = Grounding(check.threshold)
        else:
            contacts = demo.PUBLIC_CONTACTS if check.allowed_contacts == DEMO else check.allowed_contacts
            validator = Safety(contacts)
        checks.append((validator, check.policy))
    v = config.validation
    queue = review_queue_for(config, settings, v.queue) if v.queue else None  # a .jsonl name is refused, naming the fix
    refusal = demo.REFUSAL if v.refusal == DEMO else v.refusal
    return Guard(checks, queue=queue, fallback=v.fallback, **({"refusal": refusal} if refusal else {}))

"""One YAML file describes a whole pipeline; its version hash names it in every run.

    name: 02_retrieval_layer
    corpus: bundled                 # the Tidewell demo corpus, or a folder (relative to this file)
    settings: {top_k: 3}            # any Settings field; llm left out follows TOOLKIT_LLM
    retriever: {kind: hybrid, top_k: 5}
    spec: default                   # a bundled spec name, a spec file, or the spec itself
    validation:                     # checks in order, each with its failure policy
      checks: [{check: grounding, policy: refuse}, {check: safety, policy: refuse}]
    retry: {max_attempts: 3, fallbacks: [extractive]}
    cache: {path: cache.sqlite, threshold: 0.9}
    ledger: {path: ledger.sqlite, priced_as: openai:gpt-4o-mini}
    store: runs.sqlite              # the run store every run lands in (toolkit.tracking), or a
                                    # postgresql:// URL: runs, ledger, cache and review queue that
                                    # several workers share, in one database
    slo: {p95_latency_s: 2.0, error_rate: 0.01}   # objectives the metrics raise alerts on
    ray: {workers: 2}               # ingestion and evaluation on Ray (a local cluster, or address:
                                    # auto / ray://host:port to join one); same answers, same index

    >>> config = PipelineConfig(name="demo", retriever={"kind": "bm25"})
    >>> config.retriever.kind, len(config.version)
    ('bm25', 12)
    >>> config.with_changes(retriever={"kind": "hybrid"}).version != config.version
    True

Each notebook loads the previous notebook's file, changes what it teaches, and saves its own.
Values named `tidewell` (business rules, published contacts, refusal text, the router) are the
bundled demo's, taken from `toolkit.demo`; nothing else in a configuration knows the demo.
State files (cache, ledger, review queue) are relative to TOOLKIT_HOME.

Not here: building the pipeline it describes (`Pipeline.from_config` in pipeline.py).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from .errors import ConfigError
from .files import write_atomic
from .ray_cluster import RayConfig

__all__ = ["PipelineConfig", "RayConfig", "DEMO"]

DEMO = "tidewell"  # the word that names a bundled demo value
# Fields added after configurations were saved: at their default they stay out of the version
# hash, so adding a field does not rename every pipeline that never sets it.
ADDED_LATER = {("retriever", "prefer_current"), ("confidence", "min_similarity")}


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetrieverConfig(_Part):
    kind: Literal["dense", "bm25", "hybrid"] = "dense"
    top_k: int | None = Field(None, ge=1, description="chunks retrieved; default: settings.top_k")
    fusion: Literal["rrf", "score"] = "rrf"
    candidates: int = Field(20, ge=1)
    dense_kind: Literal["flat", "hnsw", "ivf", "auto"] = "flat"
    prefer_current: bool = Field(False, description="move superseded versions of a document behind the current one")


class RouterConfig(_Part):
    rules: Literal["tidewell"] = DEMO
    api: str | None = Field(None, description="base URL of the live API; None records the API as unavailable")


class CheckConfig(_Part):
    check: Literal["schema", "business_rules", "grounding", "safety"]
    policy: Literal["reask", "fix", "escalate", "refuse", "raise"] = "refuse"
    threshold: float = Field(0.5, ge=0, le=1, description="grounding: share of content words in the context")
    schema_name: str | None = Field(None, alias="schema", description="schema: a registered model; default: the spec's")
    rules: str | None = Field(None, description="business_rules: 'tidewell' or a YAML rules file (with catalog)")
    catalog: str | None = Field(None, description="business_rules: the product catalog CSV for a rules file")
    allowed_contacts: list[str] | Literal["tidewell"] = Field(default_factory=list)


class ValidationConfig(_Part):
    checks: list[CheckConfig]
    fallback: Literal["escalate", "refuse", "raise"] = "refuse"
    refusal: str | None = Field(None, description="the refusal text; 'tidewell' for the demo's")
    queue: str | None = Field(
        None, description="review queue file (SQLite, e.g. review/queue.sqlite), needed by 'escalate'"
    )


class RetryConfig(_Part):
    max_attempts: int = Field(4, ge=1)
    initial_backoff_s: float = Field(0.5, ge=0)
    max_backoff_s: float = Field(8.0, ge=0)
    jitter_s: float = Field(0.5, ge=0)
    timeout_s: float | None = Field(30.0, gt=0)
    deadline_s: float | None = Field(120.0, gt=0)
    fallbacks: list[str] = Field(default_factory=list, description="models to fall back to, in order")


class FaultsConfig(_Part):
    rates: dict[str, float]
    seed: int = 0


class CacheConfig(_Part):
    path: str = "cache/responses.sqlite"
    semantic: bool = True
    threshold: float = Field(0.9, gt=0, le=1)


class LedgerConfig(_Part):
    path: str = "ledger.sqlite"
    budget_usd: float | None = Field(None, ge=0)
    priced_as: str | None = None
    embed_priced_as: str | None = None


class ConfidenceConfig(_Part):
    extractive: bool = Field(True, description="run the extractive answerer beside the model (a signal)")
    type_bonus: float = Field(0.1, ge=0, description="extractive: bonus for a sentence with the asked-for span")
    min_similarity: float = Field(
        0.35, ge=0, le=2, description="extractive: the quote declines when its best sentence scores below this"
    )
    answer_with: Literal["model", "extractive"] = Field(
        "model", description="whose answer the pipeline gives; the other one is a signal"
    )
    calibrator: str | None = Field(None, description="calibrator JSON file, relative to this configuration's folder")


class EscalationConfig(_Part):
    answer_at: float = Field(0.8, ge=0, le=1, description="answer when the confidence is at least this")
    refuse_below: float = Field(0.0, ge=0, le=1, description="refuse when the confidence is below this")
    queue: str = Field("review/queue.sqlite", description="review queue file, relative to TOOLKIT_HOME")


class TierConfig(_Part):
    """One model tier of a cascade: who answers, whose answer is shown, how it is priced, and the
    calibrated confidence its answer must reach to be kept."""

    name: str = Field(min_length=1)
    llm: str = Field(description="model spec: extractive, local, openai:MODEL, openai-like:MODEL, ollama:MODEL, ...")
    settings: dict = Field(default_factory=dict, description="settings for this tier only, e.g. base_url, completion")
    answer_with: Literal["model", "extractive"] = "model"
    priced_as: str | None = Field(None, description="price a model that runs here as this hosted one (a projection)")
    threshold: float | None = Field(None, ge=0, le=1, description="keep the answer at this confidence or above")
    calibrator: str | None = Field(None, description="this tier's calibrator file, relative to the configuration")


class ReviewTierConfig(_Part):
    """The last tier: a person, priced per reviewed item (an assumption you set)."""

    usd_per_item: float = Field(1.0, ge=0, description="what one reviewed answer costs")
    accuracy: float = Field(1.0, ge=0, le=1, description="assumed share of reviewed answers that are right")
    queue: str = Field("review/queue.sqlite", description="review queue file, relative to TOOLKIT_HOME")


class TiersConfig(_Part):
    """Model tiers, cheapest first, tried in order until one is confident enough; then review."""

    order: list[TierConfig] = Field(description="the tiers, cheapest first")
    review: ReviewTierConfig | None = ReviewTierConfig()

    @field_validator("order")
    @classmethod
    def _tiers_once_each(cls, order: list[TierConfig]) -> list[TierConfig]:
        if not order:
            raise ValueError("name at least one tier, cheapest first")
        names = [t.name for t in order]
        again = sorted({n for n in names if names.count(n) > 1})
        if again:
            raise ValueError(f"tier {', '.join(again)} comes twice: a cascade tries each tier once")
        return order


class PipelineConfig(_Part):
    """The whole pipeline as data (see the module docstring)."""

    name: str = "pipeline"
    corpus: str = "bundled"
    index: str | None = Field(None, description="index folder; default under TOOLKIT_HOME")
    settings: dict = Field(default_factory=dict)
    retriever: RetrieverConfig = RetrieverConfig()
    router: RouterConfig | None = None
    spec: str | dict = "default"
    validation: ValidationConfig | None = None
    retry: RetryConfig | None = None
    faults: FaultsConfig | None = None
    cache: CacheConfig | None = None
    ledger: LedgerConfig | None = None
    confidence: ConfidenceConfig | None = None
    escalation: EscalationConfig | None = None
    tiers: TiersConfig | None = None
    store: str | None = Field(
        None,
        description="run store file (SQLite) under TOOLKIT_HOME, where every run lands; or a postgresql:// URL "
        "(no password: libpq reads PGPASSWORD or ~/.pgpass), checked before any work, which then holds the run "
        "store, the cost ledger, the response cache, the review queues and the index (a pgvector table named "
        "after the index folder) in one database (their paths are not used)",
    )
    slo: dict[str, float] | None = Field(
        None, description="service-level objectives, e.g. {p95_latency_s: 2, error_rate: 0.01, completion: 0.5}"
    )
    ray: RayConfig | None = Field(
        None, description="run ingestion and evaluation on Ray; the index and the answers are the same without it"
    )
    _folder: Path | None = PrivateAttr(None)

    @field_validator("store")
    @classmethod
    def _no_password_in_the_file(cls, store: str | None) -> str | None:
        from urllib.parse import urlsplit

        if store is not None and store.startswith(("postgresql://", "postgres://")) and urlsplit(store).password:
            raise ValueError(
                "the store URL holds a password, which would be saved and committed with the configuration; "
                "remove it from the URL and set PGPASSWORD (or a ~/.pgpass line) instead"
            )
        return store

    @property
    def version(self) -> str:
        """12 hex digits of the SHA-256 of the content (the name is a label, not content)."""
        # A field added after version hashes were published counts only once it is set, so every
        # existing configuration keeps its version (slo and ray came after the first notebooks).
        unset = {name for name in ("slo", "ray") if getattr(self, name) is None}
        content = self.model_dump(mode="json", exclude={"name"} | unset, by_alias=True)
        for part, field in ADDED_LATER:
            value = getattr(self, part)
            if value is not None and getattr(value, field) == type(value).model_fields[field].default:
                del content[part][field]
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]

    @property
    def signal_version(self) -> str:
        """The version of what produces the confidence signals, which a calibrator is fitted for:
        this configuration without its calibrator file, its escalation policy, and the parts that
        change what a run costs or where it is recorded but not what it answers (cache, ledger,
        injected faults, run store, service-level objectives, where it runs: Ray).

        >>> a = PipelineConfig(confidence={"extractive": True})
        >>> a.with_changes(ledger={"path": "l.sqlite"}).signal_version == a.signal_version
        True
        >>> a.with_changes(retriever={"kind": "bm25"}).signal_version == a.signal_version
        False
        """
        confidence = self.confidence.model_copy(update={"calibrator": None}) if self.confidence else None
        unchanged = {"confidence": confidence, "escalation": None, "cache": None, "ledger": None, "faults": None}
        unchanged |= {"store": None, "slo": None, "ray": None}
        return self.model_copy(update=unchanged).version

    def __eq__(self, other) -> bool:  # the content, not where the file was read from
        return isinstance(other, PipelineConfig) and self.model_dump() == other.model_dump()

    __hash__ = None

    @property
    def folder(self) -> Path | None:
        """The folder of the file this configuration was loaded from (kept by `with_changes`):
        what its relative paths (corpus, spec, calibrator) are relative to."""
        return self._folder

    def with_changes(self, **changes) -> PipelineConfig:
        """A copy with top-level fields replaced (validated as a new configuration)."""
        changed = PipelineConfig.parse({**self.model_dump(mode="json", by_alias=True), **changes})
        changed._folder = self._folder
        return changed

    @classmethod
    def parse(cls, data: dict, where: str = "pipeline configuration") -> PipelineConfig:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problem = exc.errors()[0]
            field = ".".join(str(p) for p in problem["loc"]) or "(top level)"
            raise ConfigError(
                f"{where}: {field}: {problem['msg']}; fix that field (see toolkit/pipeline_config.py for every field)"
            ) from exc

    @classmethod
    def of(cls, config: PipelineConfig | str | Path) -> PipelineConfig:
        """`config` itself, or the configuration in the file it names (its folder kept).

        >>> PipelineConfig.of(PipelineConfig(name="x")).name
        'x'
        """
        return config if isinstance(config, PipelineConfig) else cls.load(config)

    @classmethod
    def load(cls, path: str | Path) -> PipelineConfig:
        """Read a configuration file (YAML or JSON); a bad field is named with the file."""
        import yaml

        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"no pipeline configuration at {path}; check the path") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML ({exc}); fix the file") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: a pipeline configuration is a mapping of fields, not {type(data).__name__}")
        config = cls.parse(data, str(path))
        config._folder = path.resolve().parent
        return config

    def save(self, path: str | Path) -> Path:
        """Write the configuration as YAML, atomically, with its version in a comment."""
        import yaml

        path = Path(path)
        # Only what differs from the defaults: a file that says what this pipeline changes.
        body = yaml.safe_dump(
            self.model_dump(mode="json", by_alias=True, exclude_defaults=True) or {"name": self.name},
            sort_keys=False,
            width=100,
        )
        header = f"# pipeline configuration, version {self.version} (python -m toolkit ask --pipeline {path.name})\n"
        return write_atomic(path, header + body)

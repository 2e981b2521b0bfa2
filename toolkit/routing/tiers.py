"""Model tiers: each tier is the carried pipeline answered by another model, priced from the
price table, with the calibrated confidence its answer must reach.

    >>> config = PipelineConfig.load("notebooks/pipelines/08_model_tiering.yaml")   # doctest: +SKIP
    >>> [t.name for t in config.tiers.order]                                        # doctest: +SKIP
    ['extractive', 'smollm2', 'gemma-served']

A tier's pipeline is the configuration without its tiers and escalation (the cascade decides
instead), with the tier's model and the tier's calibrator. Its stored answers, and a calibrator
fitted for it, belong to `tier_config(config, tier).signal_version`.

Not here: trying tiers in order (cascade.py), stored answers (answers.py), policies (policies.py).
"""

from __future__ import annotations

from ..cost import PriceTable
from ..errors import ConfigError
from ..models import ModelRef
from ..pipeline_config import PipelineConfig, TierConfig

__all__ = ["tier_config", "tier_model", "check_priced", "answers_version", "REVIEW"]

REVIEW = "review"  # the name of the last tier, a person


def tier_config(config: PipelineConfig, tier: TierConfig) -> PipelineConfig:
    """The pipeline that answers for `tier`: `config` without tiers or escalation, answered by
    the tier's model, its answer or the quote shown, scored by the tier's calibrator, retried
    without fallback models (the next tier is the fallback).

    >>> base = PipelineConfig(confidence={"answer_with": "extractive"})
    >>> t = TierConfig(name="small", llm="local", answer_with="model")
    >>> one = tier_config(base, t)
    >>> one.settings["llm"], one.confidence.answer_with, one.tiers, one.name
    ('local', 'model', None, 'pipeline · small')
    """
    confidence = {
        **(config.confidence.model_dump() if config.confidence is not None else {}),
        "answer_with": tier.answer_with,
        "calibrator": tier.calibrator,
    }
    ledger = config.ledger.model_dump() if config.ledger is not None else None
    if ledger is not None and tier.priced_as is not None:  # the ledger projects this tier's calls
        ledger["priced_as"] = tier.priced_as
    # The cascade is the fallback: a tier that fails must fail, not answer with another model.
    retry = config.retry.model_dump() | {"fallbacks": []} if config.retry is not None else None
    return config.with_changes(
        retry=retry,
        ledger=ledger,
        name=f"{config.name} · {tier.name}",
        settings={**config.settings, **tier.settings, "llm": tier.llm},
        confidence=confidence,
        escalation=None,
        tiers=None,
    )


def tier_model(tier: TierConfig) -> str:
    """The model name a tier's calls are priced under: its `priced_as` projection, else its own.

    >>> tier_model(TierConfig(name="s", llm="local", priced_as="openai:gpt-4o-mini"))
    'openai:gpt-4o-mini'
    """
    return tier.priced_as or str(ModelRef.parse(tier.llm))


def check_priced(config: PipelineConfig, prices: PriceTable) -> None:
    """Refuse, before any call, a tier whose model (or projection) has no row in the price table."""
    for tier in config.tiers.order:
        for model in dict.fromkeys([str(ModelRef.parse(tier.llm)), tier_model(tier)]):
            try:
                prices.price(model)
            except ConfigError as exc:
                raise ConfigError(f"tiers: tier {tier.name!r} is not priced: {exc}") from None
        if tier.priced_as is not None and not prices.price(tier.priced_as).paid:
            raise ConfigError(
                f"tiers: tier {tier.name!r} is priced as {tier.priced_as!r}, which is free; "
                "priced_as names the hosted model it stands in for"
            )


def answers_version(config: PipelineConfig) -> str:
    """The version stored answers belong to: the configuration's, without what only chooses
    between answers (thresholds, calibrators, the review tier, escalation).

    >>> a = PipelineConfig(tiers={"order": [{"name": "q", "llm": "extractive", "threshold": 0.5}]})
    >>> b = a.with_changes(tiers={"order": [{"name": "q", "llm": "extractive", "threshold": 0.9}]})
    >>> c = a.with_changes(tiers={"order": [{"name": "q", "llm": "local", "threshold": 0.5}]})
    >>> answers_version(a) == answers_version(b), answers_version(a) == answers_version(c)
    (True, False)
    """
    order = [t.model_copy(update={"threshold": None, "calibrator": None}) for t in config.tiers.order]
    tiers = config.tiers.model_copy(update={"order": order, "review": None})
    return config.model_copy(update={"tiers": tiers}).signal_version

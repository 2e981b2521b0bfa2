"""Routing between model tiers: the cheapest tier that is good enough, chosen per question.

    >>> from toolkit.routing import build
    >>> pipeline = build("notebooks/pipelines/08_model_tiering.yaml")      # doctest: +SKIP

A configuration with `tiers` builds a live `Cascade` (cascade.py); each tier's answers to an
evaluation set are stored once (answers.py) and every policy is evaluated over them by replay
(policies.py). Tiers are priced from the price table and an unpriced one is refused (tiers.py).
"""

from ..pipeline import Pipeline
from ..pipeline_config import PipelineConfig
from .answers import TierAnswers, TierAnswersError, collect
from .cascade import Cascade, Tier
from .policies import (
    CascadePolicy,
    Choice,
    LearnedRouter,
    Outcomes,
    evaluate,
    fit_cascade,
    pareto_front,
    question_kind,
    rules_policy,
    single_tier,
)
from .tiers import REVIEW, answers_version, check_priced, tier_config, tier_model

__all__ = [
    "build",
    "Cascade",
    "Tier",
    "TierAnswers",
    "TierAnswersError",
    "collect",
    "Outcomes",
    "Choice",
    "CascadePolicy",
    "single_tier",
    "rules_policy",
    "question_kind",
    "LearnedRouter",
    "fit_cascade",
    "evaluate",
    "pareto_front",
    "REVIEW",
    "answers_version",
    "check_priced",
    "tier_config",
    "tier_model",
]


def build(config, *, settings=None, show_progress: bool = False, base=None):
    """A Pipeline, or a Cascade when the configuration (a PipelineConfig or a file) has tiers."""
    config = PipelineConfig.of(config)
    if config.tiers is not None:
        return Cascade.from_config(config, settings=settings, show_progress=show_progress, base=base)
    return Pipeline.from_config(config, settings=settings, show_progress=show_progress, base=base)

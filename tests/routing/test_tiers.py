"""A tier's pipeline, its price, and the version its stored answers belong to."""

import pytest

from toolkit import PipelineConfig
from toolkit.cost import PriceTable
from toolkit.errors import ConfigError
from toolkit.routing import answers_version, check_priced, tier_config, tier_model

BASE = PipelineConfig(
    retry={"max_attempts": 2, "fallbacks": ["extractive"]},
    ledger={"priced_as": "openai:gpt-4o-mini"},
    confidence={"answer_with": "extractive"},
    escalation={"answer_at": 0.9},
)


def tiers(*order, review=None):
    return BASE.with_changes(tiers={"order": list(order), "review": review})


def test_a_tier_is_the_pipeline_answered_by_its_model_without_fallbacks_or_escalation():
    config = tiers(
        {"name": "big", "llm": "openai-like:m", "priced_as": "openai:gpt-4o", "settings": {"completion": True}}
    )
    one = tier_config(config, config.tiers.order[0])
    assert one.settings == {"completion": True, "llm": "openai-like:m"}
    assert one.retry.fallbacks == [] and one.retry.max_attempts == 2  # the next tier is the fallback
    assert one.ledger.priced_as == "openai:gpt-4o"  # the ledger projects this tier's calls at its price
    assert one.escalation is None and one.tiers is None and one.confidence.answer_with == "model"


def test_every_tier_must_be_priced_before_any_call():
    prices = PriceTable.load()
    check_priced(
        tiers({"name": "q", "llm": "extractive"}, {"name": "s", "llm": "local", "priced_as": "openai:gpt-4o"}), prices
    )
    assert tier_model(tiers({"name": "q", "llm": "extractive"}).tiers.order[0]) == "extractive:quote"
    with pytest.raises(ConfigError, match="tier 'h' is not priced: no price for 'openai:gpt-9'"):
        check_priced(tiers({"name": "h", "llm": "openai:gpt-9"}), prices)
    with pytest.raises(ConfigError, match="priced as 'local:x', which is free"):
        check_priced(tiers({"name": "s", "llm": "local", "priced_as": "local:x"}), prices)


def test_answers_belong_to_the_tiers_models_not_to_their_thresholds():
    a = tiers({"name": "q", "llm": "extractive", "threshold": 0.4, "calibrator": "q.json"})
    b = tiers({"name": "q", "llm": "extractive", "threshold": 0.8}, review={"usd_per_item": 3})
    c = tiers({"name": "q", "llm": "local", "threshold": 0.4, "calibrator": "q.json"})
    assert answers_version(a) == answers_version(b) != answers_version(c)

"""The default validator list: which validators, in which order, with the parameters passed in."""

from __future__ import annotations

from conftest import out
from toolkit.prompting.spec import CitedAnswer
from toolkit.validation.checks import Grounding, Report, Safety, Schema
from toolkit.validation.defaults import default_validators


def test_without_a_schema_or_rules_grounding_and_safety_only():
    validators = default_validators()
    assert [type(v) for v in validators] == [Grounding, Safety]
    assert (validators[0].threshold, validators[1].allowed) == (0.5, frozenset())


def test_schema_and_rules_come_first_in_that_order(rules):
    validators = default_validators(CitedAnswer, rules=rules, threshold=0.8)
    assert [v.name for v in validators] == ["schema", "business_rules", "grounding", "safety"]
    assert isinstance(validators[0], Schema) and validators[0].model is CitedAnswer
    assert validators[1] is rules  # the rules given, not a copy or the bundled ones
    assert validators[2].threshold == 0.8


def test_allowed_contacts_reach_the_safety_check():
    reply = out("Call 555-0123 or mail Help@Example.com.")
    flagged = default_validators()[-1].check(reply)
    assert (flagged.rule, flagged.reason) == (
        "email",
        "contains the e-mail address Help@Example.com, which is not a published contact",
    )
    published = default_validators(allowed_contacts=["help@example.com", "555-0123"])[-1]
    assert published.allowed == {"help@example.com", "555-0123"}  # e-mail addresses compared lower-cased
    assert published.check(reply) == Report(True, "safety")

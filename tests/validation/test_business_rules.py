"""Business rules: wrong figures named sentence by sentence, single-valued fixes, and rule files
refused with the rule named. "Today" is fixed (conftest.TODAY), so date checks repeat."""

from __future__ import annotations

import json

import pytest

from conftest import TODAY, out
from toolkit.demo import business_rules
from toolkit.errors import ConfigError
from toolkit.validation.checks import Report


@pytest.mark.parametrize(
    "text, rule, reason",
    [
        (
            "The Hub costs $89.",
            "catalog_price",
            "sentence 1 quotes $89.00, but the catalog price of the product named is $99.00",
        ),
        (
            "Great. The Thermo T2 costs $199.",
            "catalog_price",
            "sentence 2 quotes $199.00, but the catalog price of the product named is $179.00",
        ),
        (
            "You can return items within 14 days of delivery.",
            "return_window",
            "sentence 1 says 14, but items may be returned within 30 days of delivery (policy of 2024-03-01; "
            "14 days was the 2022 policy)",
        ),
        (
            "You have 90 days to return it.",
            "return_window",
            "sentence 1 says 90, but items may be returned within 30 days of delivery (policy of 2024-03-01; "
            "14 days was the 2022 policy)",
        ),
        (
            "A 15% restocking fee applies.",
            "restocking_fee",
            "sentence 1 says 15, but there is no restocking fee (policy of 2024-03-01; "
            "the 15% fee ended with the 2022 policy)",
        ),
        (
            "Every device has a three-year warranty.",
            "warranty_length",
            "sentence 1 says three, but the limited warranty is 2 years at most (devices bought on or after 2023-07-01)",
        ),
        (
            "Shipping is free on orders over $50.",
            "free_shipping_threshold",
            "sentence 1 says 50, but standard shipping is free on orders of $75 or more (policy of 2024-06-01; $50 before)",
        ),
        (
            "Tidewell Plus costs $4.99 per month.",
            "plus_monthly_price",
            "sentence 1 says 4.99, but Tidewell Plus costs $5.99 a month from 2024-09-01 ($4.99 before)",
        ),
        (
            "The Sentry Cam launched on 2027-03-21.",
            "date_not_future",
            "sentence 1 gives 2027-03-21, after today (2026-11-27): "
            "a launch, release or effective date cannot be in the future",
        ),
        (
            "Version 6.0 was released on February 30, 2024.",
            "date_not_future",
            "sentence 1 February 30, 2024 is not a real date",
        ),
    ],
)
def test_business_rules_catch_wrong_figures(rules, text, rule, reason):
    assert rules.check(out(text)) == Report(False, "business_rules", rule, reason)


@pytest.mark.parametrize(
    "text",
    [
        "The Hub costs $99.00.",
        "The Thermo T2 launched at $199.00.",  # the launch price, said as such
        "Orders of $75 or more ship free; the Hub costs $99.00.",  # a threshold is not a price
        "Trading in a Thermo T1 gives a $40 credit toward a Thermo T2.",
        "Returns are accepted within 30 days; refunds take 5 business days.",
        "Tidewell Plus costs $5.99 per month or $59.99 per year.",
        "Before September 2024, Tidewell Plus cost $4.99 per month.",  # history, not a promise
        "A device bought in March 2023 has a 1-year warranty.",
        "The Sentry Cam launched on March 21, 2023.",
        "I don't know.",
    ],
)
def test_business_rules_pass_correct_answers(rules, text):
    assert rules.check(out(text)) == Report(True, "business_rules")


def test_business_rules_fix_single_valued_figures_only(rules):
    assert rules.fix(out("The Hub costs $89. Call us.")).text == "The Hub costs $99.00. Call us."
    assert rules.fix(out("You can return items within 14 days.")).text == "You can return items within 30 days."
    assert rules.fix(out("Tidewell Plus costs $4.99 per month.")).text == "Tidewell Plus costs $5.99 per month."
    assert rules.fix(out("The warranty is 3 years.")) is None  # at_most: no single right value
    assert rules.fix(out("The T2 costs $1.")).text == "The T2 costs $179.00."
    j = rules.fix(out('{"answer": "The Hub costs $89.", "sources": [1]}', fmt="json"))
    assert json.loads(j.text) == {"answer": "The Hub costs $99.00.", "sources": [1]}


def test_bad_rule_files_are_refused_with_the_rule_named(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("- id: p\n  kind: price\n  launch_words: x\n  ignore_before: y\n  products: {'hub': [TW-NOPE]}\n")
    with pytest.raises(ConfigError, match="business rule 'p' names SKU 'TW-NOPE', which is not in the catalog"):
        business_rules(TODAY, rules=path)
    path.write_text("- id: q\n  kind: colour\n")
    with pytest.raises(ConfigError, match=r"business rule 'q': unknown kind 'colour' \(price, number or date\)"):
        business_rules(TODAY, rules=path)
    path.write_text("just: a mapping\n")
    with pytest.raises(ConfigError, match="expected a list of rules, each with an id and a kind"):
        business_rules(TODAY, rules=path)
    path.write_text("- id: weeks\n  kind: number\n  pattern: '(\\d+) weeks'\n  at_least: 16\n  reason: r\n")
    own = business_rules(TODAY, rules=path)
    assert own.check(out("It is 12 weeks.")).rule == "weeks" and own.check(out("It is 16 weeks.")).passed

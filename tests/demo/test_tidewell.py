"""The Tidewell values: they exist in the demo, and only there."""

import datetime as dt
from pathlib import Path

from toolkit.demo import PUBLIC_CONTACTS, REFUSAL, business_rules, validators
from toolkit.validation import REFUSAL as LIBRARY_REFUSAL
from toolkit.validation import Output, Safety, default_validators

TODAY = dt.date(2026, 11, 27)
PACKAGE = Path(__file__).resolve().parents[2] / "toolkit"


def test_the_demo_validators_add_the_rules_and_the_published_contacts():
    assert [v.name for v in validators(today=TODAY)] == ["business_rules", "grounding", "safety"]
    assert [v.name for v in default_validators()] == ["grounding", "safety"]
    mail = Output("How do I reach support?", "Write to support@tidewell.example.")
    assert validators(today=TODAY)[-1].check(mail).passed
    assert default_validators()[-1].check(mail).rule == "email"  # on your corpus it is an address like any other
    assert len(PUBLIC_CONTACTS) == 12 and Safety(PUBLIC_CONTACTS).check(mail).passed


def test_the_bundled_rules_check_the_bundled_catalog():
    out = Output("What does the Hub cost?", "The Hub costs $89.", [("products/tidewell-hub.html", "Hub: $99.00")])
    report = business_rules(TODAY).check(out)
    assert (report.rule, report.reason) == (
        "catalog_price",
        "sentence 1 quotes $89.00, but the catalog price of the product named is $99.00",
    )


def test_the_refusal_text_names_tidewell_only_in_the_demo():
    assert REFUSAL == "I can't give a reliable answer to that; please contact Tidewell support."
    assert LIBRARY_REFUSAL == "I can't give a reliable answer to that from the documents."


def test_no_library_module_names_the_demo_company():
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if p.parent.name != "demo"
        and any(
            word in p.read_text(encoding="utf-8").lower() for word in ("tidewell.example", "tw-", "tidewell support")
        )
    ]
    assert offenders == []

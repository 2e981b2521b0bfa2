"""The bundled Tidewell Home values: what the library takes as parameters, filled in for the demo.

    >>> "support@tidewell.example" in PUBLIC_CONTACTS
    True
    >>> [v.name for v in validators(today=__import__("datetime").date(2026, 11, 27))]
    ['business_rules', 'grounding', 'safety']

Nothing in the library imports this module to get a default: a pipeline over your own corpus
applies none of it. Not here: the data files themselves (`datasets/tidewell/`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import BaseModel

from ..validation import BusinessRules, default_validators
from .datasets import datasets_root

__all__ = ["PUBLIC_CONTACTS", "REFUSAL", "RULES_FILE", "business_rules", "validators"]

RULES_FILE = Path(__file__).resolve().parent / "business_rules.yaml"

PUBLIC_CONTACTS = frozenset(
    {  # the published company contacts (build/facts.md): not personal data
        "support@tidewell.example",
        "press@tidewell.example",
        "privacy@tidewell.example",
        "careers@tidewell.example",
        "accessibility@tidewell.example",
        "people@tidewell.example",
        "it@tidewell.example",
        "security@tidewell.example",
        "ethics@tidewell.example",
        "555-0142",
        "555-0187",
        "555-0199",
    }
)

REFUSAL = "I can't give a reliable answer to that; please contact Tidewell support."


def business_rules(today: dt.date | None = None, rules: str | Path | None = None) -> BusinessRules:
    """The Tidewell rules (`business_rules.yaml` beside this file, or `rules`) over the bundled catalog."""
    catalog = datasets_root() / "tidewell" / "structured" / "products.csv"
    return BusinessRules.load(rules or RULES_FILE, catalog, today)


def validators(schema: type[BaseModel] | None = None, today: dt.date | None = None, threshold: float = 0.5) -> list:
    """`default_validators` with the Tidewell business rules and published contacts."""
    return default_validators(
        schema, rules=business_rules(today), allowed_contacts=PUBLIC_CONTACTS, threshold=threshold
    )

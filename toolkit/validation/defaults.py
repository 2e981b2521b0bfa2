"""The default validator list: schema (when given), business rules (when given), grounding, safety.

    >>> [v.name for v in default_validators()]
    ['grounding', 'safety']

Nothing here knows a corpus: rules and published contacts are passed in (the bundled Tidewell
ones come from `toolkit.demo`). Not here: the checks themselves (checks.py, business_rules.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel

from .business_rules import BusinessRules
from .checks import Grounding, Safety, Schema

__all__ = ["default_validators"]


def default_validators(
    schema: type[BaseModel] | None = None,
    *,
    rules: BusinessRules | None = None,
    allowed_contacts: Iterable[str] = (),
    threshold: float = 0.5,
) -> list:
    """Schema (when a model is given), business rules (when given), grounding and safety, in that order."""
    validators: list = [Schema(schema)] if schema is not None else []
    if rules is not None:
        validators.append(rules)
    return validators + [Grounding(threshold), Safety(allowed_contacts)]

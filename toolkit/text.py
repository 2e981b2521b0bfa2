"""Text normalization shared by the stages: answer comparison, grounding, abstention.

    >>> normalize("It costs $1,299.00!  ")
    'it costs $1299'
    >>> is_abstention("I don't know."), is_abstention("Returns take 30 days.")
    (True, False)

Not here: question normalization for cache keys (cost.cache_keys), which keeps more of the text.
"""

from __future__ import annotations

import re

__all__ = ["normalize", "is_abstention"]

_ABSTAIN = re.compile(
    r"\b(i don'?t know|i do not know|not (?:mentioned|stated|provided|specified|given|included|available|found)"
    r"|(?:does|do) not (?:say|mention|contain|specify|provide|include)|no information|cannot (?:find|answer|tell)"
    r"|can'?t (?:find|answer|tell)|not in the (?:context|documents?))\b"
)


def normalize(text: str) -> str:
    """Lower case; drop thousands separators and `.00` cents; keep `$ . % -`; collapse spaces.

    >>> normalize("It costs $1,299.00!  ")
    'it costs $1299'
    """
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    text = re.sub(r"(?<=\d)\.00\b", "", text)
    text = re.sub(r"[^\w\s$.%'-]", " ", text)
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)  # a full stop, not a decimal point
    return " ".join(text.split())


def is_abstention(answer: str) -> bool:
    """Whether an answer declines to answer ("I don't know", "not in the context", ...)."""
    return bool(_ABSTAIN.search(normalize(answer)))

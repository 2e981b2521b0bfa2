"""Text normalization shared by the stages: answer comparison, grounding, abstention.

    >>> normalize("It costs $1,299.00!  ")
    'it costs $1299'
    >>> is_abstention("I don't know."), is_abstention("Returns take 30 days.")
    (True, False)

Not here: question normalization for cache keys (cost.cache_keys), which keeps more of the text.
"""

from __future__ import annotations

import re

__all__ = ["normalize", "is_abstention", "expected_types", "typed_spans", "SPAN_PATTERNS"]

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


# -- answer types: what kind of span a question asks for ---------------------------------------

_NUMBER_WORDS = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|sixty|ninety)"
)
_COUNT = rf"(?:\d+(?:[.,]\d+)?|{_NUMBER_WORDS}|a|an)"
_UNIT = r"(?:seconds?|minutes?|hours?|days?|nights?|weeks?|months?|years?|business days?|working days?)"
_MONTHS = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
SPAN_PATTERNS = {
    "duration": re.compile(rf"\b{_COUNT}(?:\s*(?:-|to|or)\s*{_COUNT})?[\s-]+(?:\w+[\s-]+)?{_UNIT}\b", re.I),
    "money": re.compile(r"\$\s?\d[\d,]*(?:\.\d+)?|\b\d[\d,]*(?:\.\d+)?\s*(?:dollars|usd)\b|\bfree\b", re.I),
    "percent": re.compile(r"\b\d+(?:\.\d+)?\s*(?:%|percent)", re.I),
    "date": re.compile(
        rf"\b\d{{4}}-\d{{2}}-\d{{2}}\b|\b{_MONTHS}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b"
        rf"|\b\d{{1,2}}\s+{_MONTHS}\s+\d{{4}}\b|\b{_MONTHS}\s+(?:\d{{4}}|\d{{1,2}}(?:st|nd|rd|th)?)\b|\b(?:19|20)\d{{2}}\b",
        re.I,
    ),
    "time": re.compile(r"\b\d{1,2}(?::\d{2})?\s*(?:a\.?m\.?|p\.?m\.?)|\b\d{1,2}:\d{2}\b", re.I),
    "count": re.compile(rf"\b(?:\d+|{_NUMBER_WORDS})\b", re.I),
    "email": re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"),
    "phone": re.compile(r"\b\d{3}[-. ]\d{3,4}(?:[-. ]\d{4})?\b"),
}
# First match wins: the more specific question shapes come first.
_QUESTION_TYPES = [
    (re.compile(r"\bwhat (?:date|day|year|month)\b|\bwhich (?:date|day|year|month)\b|\bby when\b", re.I), ("date",)),
    (
        re.compile(
            r"\bhow much\b.*\b(?:leave|time|vacation|notice)\b|\bhow long\b|\bhow many (?:days|weeks|months|years|hours|minutes)\b|\bwithin how\b|\bhow soon\b|\bhow often\b",
            re.I,
        ),
        ("duration",),
    ),
    (
        re.compile(r"\bwhat (?:percent|percentage)\b|\bhow much (?:of a )?discount\b|\bwhat discount\b", re.I),
        ("percent", "money"),
    ),
    (re.compile(r"\bhow much\b|\bcost\b|\bprice\b|\bfee\b|\bcharge\b", re.I), ("money", "percent")),
    (re.compile(r"\bhow many\b|\bwhat number of\b|\bhow old\b", re.I), ("count",)),
    (re.compile(r"\bwhat time\b|\bwhich hours\b|\bopen until\b", re.I), ("time",)),
    (re.compile(r"\bwhen\b", re.I), ("date",)),
    (re.compile(r"\be-?mail\b", re.I), ("email",)),
    (re.compile(r"\bphone number\b|\bnumber to call\b|\bcall (?:you|support|us|tidewell)\b", re.I), ("phone",)),
]


def expected_types(question: str) -> tuple[str, ...]:
    """The kinds of span a question asks for ("how long" wants a duration, "how much" a price),
    or () when its shape says nothing (yes/no, how-to, who).

    >>> expected_types("how long do i have to retrun it"), expected_types("How much is the Hub?")
    (('duration',), ('money', 'percent'))
    >>> expected_types("Can I return a gift?")
    ()
    """
    for pattern, kinds in _QUESTION_TYPES:
        if pattern.search(question):
            return kinds
    return ()


def typed_spans(text: str, kinds: tuple[str, ...]) -> list[str]:
    """The spans of `text` of any of those kinds, in order.

    >>> typed_spans("Returns take 30 days; the fee is $5.", ("duration",))
    ['30 days']
    """
    return [m.group(0) for kind in kinds for m in SPAN_PATTERNS[kind].finditer(text)]

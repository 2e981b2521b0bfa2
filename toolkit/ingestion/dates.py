"""A document's effective date, read from its opening lines at ingest.

Policies, handbooks and terms say when they took effect ("Effective date: March 1, 2024",
"Version 2024.1, effective January 1, 2024", "Last updated June 2024"). The date goes into each
chunk's metadata as `effective_date` (ISO), kept out of the embedded and the prompted text, so
retrieval can prefer the current version when two versions of a document compete
(retrieval.freshness).

    >>> effective_date("# Returns\\n**Effective date:** March 1, 2024 (2024-03-01)\\n...")
    '2024-03-01'
    >>> effective_date("Section 5. Version 2021.1, effective March 1, 2021. Owner: People team.")
    '2021-03-01'
    >>> effective_date("Last updated June 2024.") , effective_date("No date here.")
    ('2024-06-01', None)

Only the opening `HEAD_CHARS` characters are read: a date deep in the body is about something
else (a launch, a renewal), not the document.
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["effective_date", "HEAD_CHARS"]

HEAD_CHARS = 1500
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"
_DATE = rf"(\d{{4}}-\d{{2}}-\d{{2}}|{_MONTH}\s+\d{{1,2}},?\s+\d{{4}}|\d{{1,2}}\s+{_MONTH}\s+\d{{4}}|{_MONTH}\s+\d{{4}})"
_LABELLED = re.compile(rf"\b(?:effective(?:\s+date)?|last\s+updated|updated|as\s+of)\b[\s:*_-]*(?:on\s+)?{_DATE}", re.I)


def _parse(text: str) -> str | None:
    for fmt in ("%Y-%m-%d", "%B %d %Y", "%b %d %Y", "%d %B %Y", "%d %b %Y", "%B %Y", "%b %Y"):
        try:
            return dt.datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return None


def effective_date(text: str) -> str | None:
    """The first labelled date ("effective", "last updated", "as of") in the opening lines, as
    YYYY-MM-DD (a month alone means its first day), or None."""
    for match in _LABELLED.finditer(text[:HEAD_CHARS]):
        cleaned = re.sub(r"\s+", " ", match.group(1).replace(",", " ").replace(".", " ")).strip()
        parsed = _parse(cleaned)
        if parsed:
            return parsed
    return None

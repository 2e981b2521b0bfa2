"""Prefer the current version: when two versions of a document are retrieved, the older one's
chunks move behind the newer one's.

Corpora keep superseded documents next to the ones that replaced them (`returns_2022.md` beside
`returns.md`). Two documents are versions of one another when they sit in the same folder and
share a name once years and version numbers are taken out, or share a title once a bracketed
year is taken out. Each version's date is the `effective_date` ingestion read from its opening
lines (ingestion.dates); a version without one is never demoted. Demoted, not dropped: a
question about the old terms still finds them when the context has room.

    >>> family("policies/returns_2022.md", "Returns Policy") == family("policies/returns.md", "Returns Policy")
    True

Not here: telling the model which version is current (the prompt spec's rules do that).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from .citations import cite

__all__ = ["family", "superseded_by", "prefer_current", "PreferCurrent"]

_VERSION = re.compile(r"(?:[_\s-]*v?\d+(?:[._]\d+)*)+")
_BRACKETED = re.compile(r"\s*[(\[]\s*(?:19|20)\d{2}\s*[)\]]")


def family(doc_id: str, title: str = "") -> tuple[str, str, str]:
    """(folder, name without years or versions, title without a bracketed year)."""
    folder, _, name = doc_id.rpartition("/")
    stem = name.rsplit(".", 1)[0].lower()
    return folder, _VERSION.sub("", stem).strip("_- "), _BRACKETED.sub("", title).strip().lower()


def superseded_by(docs: Mapping[str, tuple[str, str]]) -> dict[str, str]:
    """Which document replaced which: `{doc id: (title, effective date)}` in, `{older: newest
    version}` out. Undated documents are never replaced."""
    newest: dict[str, str] = {}
    for doc, (title, date) in docs.items():
        folder, stem, clean = family(doc, title)
        for other, (title2, date2) in docs.items():
            folder2, stem2, clean2 = family(other, title2)
            same = other != doc and folder == folder2 and (stem == stem2 or (clean and clean == clean2))
            if same and date and date2 and date < date2 and date2 > docs.get(newest.get(doc, ""), ("", ""))[1]:
                newest[doc] = other
    return newest


def prefer_current(hits: Sequence) -> tuple[list, list[str]]:
    """The hits with superseded versions' chunks moved last (order kept otherwise), and the
    demoted document ids."""
    docs: dict[str, tuple[str, str]] = {}
    for hit in hits:
        meta = hit.node.metadata or {}
        doc = hit.node.ref_doc_id or meta.get("source", "")
        docs.setdefault(doc, (meta.get("title", ""), meta.get("effective_date", "")))
    demoted = superseded_by(docs)
    if not demoted:
        return list(hits), []
    kept = [h for h in hits if (h.node.ref_doc_id or h.node.metadata.get("source", "")) not in demoted]
    return kept + [h for h in hits if h not in kept], sorted(demoted)


class PreferCurrent:
    """The pipeline step: reorder the retrieved hits so current versions come first."""

    name = "freshness"

    def __call__(self, run) -> None:
        run.hits, demoted = prefer_current(run.hits)
        run.record.part(self.name)["demoted"] = demoted
        if demoted:
            run.sources = cite(run.hits)
            run.record.sources = [s.id for s in run.sources]

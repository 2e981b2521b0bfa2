"""Effective dates read from a document's opening lines."""

from toolkit.ingestion.dates import effective_date


def test_effective_dates_in_the_shapes_documents_write_them():
    assert effective_date("**Effective date:** June 1, 2024 (2024-06-01)") == "2024-06-01"
    assert effective_date("Prices effective 1 September 2024.") == "2024-09-01"
    assert effective_date("Last updated: Feb. 12, 2024") == "2024-02-12"
    assert effective_date("as of 2023-07-01") == "2023-07-01"
    assert effective_date("Effective February 30, 2024") is None  # no such day
    assert effective_date("x" * 2000 + "Effective date: June 1, 2024") is None  # not in the opening

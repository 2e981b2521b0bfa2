"""Storage: PostgreSQL as the store several workers share (SQLite files stay the embedded default).

    >>> is_database_url("postgresql://localhost/toolkit")
    True

Not here: each store's own tables, which live beside its SQLite twin (reliability.effects_postgres,
cost.ledger_postgres, cost.cache_postgres, tracking.run_store_postgres, validation.review_postgres,
ingestion.index_postgres).
"""

from .postgres import check_store, connect, ensure_schema, is_database_url

__all__ = ["is_database_url", "connect", "check_store", "ensure_schema"]

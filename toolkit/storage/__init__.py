"""Storage: PostgreSQL as the store several workers share (SQLite files stay the embedded default).

    >>> is_database_url("postgresql://localhost/toolkit")
    True

`LocalPostgres()` starts a throwaway server with pgvector (tests, notebook 11, a laptop).

Not here: each store's own tables, which live beside its SQLite twin (reliability.effects_postgres,
cost.ledger_postgres, cost.cache_postgres, tracking.run_store_postgres, validation.review_postgres,
ingestion.index_postgres).
"""

from .local_server import LocalPostgres
from .postgres import check_store, connect, ensure_schema, is_database_url

__all__ = ["is_database_url", "connect", "check_store", "ensure_schema", "LocalPostgres"]

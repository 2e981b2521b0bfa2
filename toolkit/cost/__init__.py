"""Cost: token prices and projections, the cost ledger with budgets, the exact and semantic
response caches, and deterministic replay of recorded model responses.

    >>> PriceTable.load().cost("openai:gpt-4o-mini", Usage(1200, 300))
    0.00036

Not here: counting tokens of a reply (toolkit.models.usage).
"""

from ..models.usage import Usage
from .cache import ResponseCache
from .cache_keys import CachedAnswer, CacheRequest, guard_terms, normalize, wording_conflict
from .cache_postgres import PostgresResponseCache, response_cache
from .ledger import LEDGER_KINDS, CostLedger
from .ledger_postgres import PostgresCostLedger, cost_ledger
from .middleware import Budget, Cache
from .pipeline_cache import NormalizedRetriever, memo_embedding
from .prices import (
    TOKENIZERS,
    Price,
    PriceTable,
    Projection,
    count_tokens_for,
    estimate_batch,
    plot_projection,
    priced_as,
    project_monthly,
    tokenizer_for,
)
from .replay import Recording, Replay, Replayed, replay_into, replayed

__all__ = [
    "PostgresCostLedger",
    "cost_ledger",
    "Recording",
    "Replay",
    "replay_into",
    "replayed",
    "Replayed",
    "PriceTable",
    "Price",
    "Usage",
    "priced_as",
    "estimate_batch",
    "project_monthly",
    "plot_projection",
    "Projection",
    "count_tokens_for",
    "tokenizer_for",
    "TOKENIZERS",
    "CostLedger",
    "LEDGER_KINDS",
    "ResponseCache",
    "PostgresResponseCache",
    "response_cache",
    "Budget",
    "Cache",
    "CacheRequest",
    "CachedAnswer",
    "guard_terms",
    "wording_conflict",
    "normalize",
    "memo_embedding",
    "NormalizedRetriever",
]

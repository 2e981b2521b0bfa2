"""Reliability: retries with deadlines and fallback tiers, idempotent side effects, seeded fault injection.

    >>> RetryPolicy(max_attempts=2).call(max, 3, 4)
    4

Not here: what a retry costs (toolkit.cost.ledger records it).
"""

from .effects import EffectService, SideEffectLedger, idempotency_key, post_effect, support_steps
from .effects_postgres import PostgresSideEffectLedger, side_effect_ledger
from .faults import FaultInjector, FaultProxy
from .middleware import Faults, Retry
from .retry import Attempt, CallResult, RetryPolicy, check_complete, check_schema, is_transient

__all__ = [
    "RetryPolicy",
    "Retry",
    "Faults",
    "Attempt",
    "CallResult",
    "is_transient",
    "check_complete",
    "check_schema",
    "FaultInjector",
    "FaultProxy",
    "SideEffectLedger",
    "side_effect_ledger",
    "PostgresSideEffectLedger",
    "EffectService",
    "idempotency_key",
    "post_effect",
    "support_steps",
]

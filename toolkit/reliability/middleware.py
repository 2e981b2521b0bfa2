"""The reliability stage's links in the model-call chain: retries with fallback tiers, and faults.

`Retry(policy)` sends a call under a RetryPolicy: transient failures are retried with backoff,
then the call moves to the policy's fallback tiers; every attempt is shown to the call's
`on_attempt` callbacks (the budget writes a ledger row for each failed one). `Faults(injector)`
makes the model behind it fail on purpose, at seeded rates: it belongs inside `Retry`, so each
attempt draws its own fault.

    >>> client = ModelClient(llm, model, middleware=[Retry(RetryPolicy()), Faults(injector)])  # doctest: +SKIP

Not here: the policy itself (retry.py) and the injector (faults.py).
"""

from __future__ import annotations

from ..models.calls import ModelCall, ModelReply
from ..models.providers import ModelRef
from .faults import FaultInjector
from .retry import RetryPolicy, check_complete

__all__ = ["Retry", "Faults"]


class Retry:
    """Retry transient failures of a call, then try each fallback tier in order."""

    def __init__(self, policy: RetryPolicy):
        self.policy = policy

    @property
    def tiers(self) -> list[str]:
        """The fallback tiers' model names (each must be priced before the first call)."""
        return [str(ModelRef.parse(name)) for name, _ in self.policy.fallbacks]

    def __call__(self, call: ModelCall, send) -> ModelReply:
        tiers = [(call.model, call.llm)] + [(ModelRef.parse(name), llm) for name, llm in self.policy.fallbacks]

        def attempt(model: ModelRef, llm):
            return lambda: send(call.replace(model=model, llm=llm))

        def seen(a) -> None:
            for callback in call.on_attempt:
                callback(a)

        outcome = self.policy.run(
            [(str(model), attempt(model, llm)) for model, llm in tiers],
            validate=self.policy.validate or check_complete,
            on_attempt=seen,
        )
        reply = outcome.value
        reply.attempts = len(outcome.attempts)
        reply.parts["retry"] = {"attempts": len(outcome.attempts), "tier": outcome.tier}
        return reply


class Faults:
    """Every call through here meets `injector`'s faults (latency, timeouts, 429s, 5xx, bad output)."""

    def __init__(self, injector: FaultInjector):
        self.injector = injector

    def __call__(self, call: ModelCall, send) -> ModelReply:
        return send(call.replace(llm=self.injector.wrap_llm(call.llm)))

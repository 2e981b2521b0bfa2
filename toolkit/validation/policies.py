"""What to do when a validator fails: a `Guard` and its failure policies.

A `Guard` runs validators (checks.py, business_rules.py) in order and applies the policy of
the first one that fails: "fix" (the validator repairs the answer), "reask" (one re-ask that
feeds the reason back to the model), "escalate" (hand the item to a review queue), "refuse"
(answer with a refusal) or "raise" (`OutputRejected`). A fix or re-ask that still fails falls
back to `Guard.fallback`. The outcome is a `Verdict`.

    >>> from toolkit.validation import Output, Safety
    >>> guard = Guard([(Safety(), "refuse")])
    >>> guard.check(Output("Who?", "Mail jane.doe@gmail.com.")).action
    'refused'

Not here: the checks themselves (checks.py, business_rules.py), the review queue's storage
(review.py), and measuring how well validators catch problems (evaluation/validators.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from ..errors import ConfigError, OutputRejected
from .checks import Output, Report

__all__ = ["Guard", "Verdict", "POLICIES", "REFUSAL", "HELD"]

Policy = Literal["reask", "fix", "escalate", "refuse", "raise"]
POLICIES = ("reask", "fix", "escalate", "refuse", "raise")
REFUSAL = "I can't give a reliable answer to that from the documents."
HELD = "This answer is being checked by a person before it is shown."


@dataclass
class Verdict:
    """What a Guard decided: `action` is pass, fixed, reasked, escalated, refused or raised;
    `text` is what to show; `reports` are every check made, first pass first."""

    output: Output
    action: str
    text: str
    reports: list[Report] = field(default_factory=list)
    ticket: str = ""
    error: str = ""
    replies: list = field(default_factory=list)  # the re-ask calls made (models.ModelReply), if any

    @property
    def passed(self) -> bool:
        return self.action in ("pass", "fixed", "reasked")

    @property
    def failed(self) -> list[Report]:
        return [r for r in self.reports if not r.passed]


class Guard:
    """Validators, each with a failure policy, applied in order.

        >>> guard = Guard([(business_rules(), "fix"), (Safety(), "escalate")], queue=queue)  # doctest: +SKIP
        >>> guard.check(Output("Hub price?", "The Hub costs $89.", ctx)).text                     # doctest: +SKIP
        'The Hub costs $99.00.'

    The first failing validator's policy decides. "fix" and "reask" get one attempt each (the
    bound); if the new answer fails any validator, `fallback` decides (refuse by default).
    """

    def __init__(
        self, checks: Sequence[tuple[object, str]], *, queue=None, fallback: str = "refuse", refusal: str = REFUSAL
    ):
        for validator, policy in checks:
            if policy not in POLICIES:
                raise ConfigError(
                    f"unknown policy {policy!r} for {getattr(validator, 'name', validator)}; "
                    f"use one of {', '.join(POLICIES)}"
                )
        if fallback not in ("escalate", "refuse", "raise"):
            raise ConfigError(f"fallback must be escalate, refuse or raise (got {fallback!r})")
        if "escalate" in [p for _, p in checks] + [fallback] and queue is None:
            raise ConfigError("an 'escalate' policy needs a review queue: Guard(..., queue=SqliteReviewQueue(path))")
        self.checks, self.queue = list(checks), queue
        self.fallback, self.refusal = fallback, refusal

    def run(self, output: Output) -> list[Report]:
        """Every validator's report, in order (no policy applied)."""
        return [validator.check(output) for validator, _ in self.checks]

    def _reask(self, output: Output, report: Report, client, run_id: str, replies: list) -> Output | None:
        """One re-ask through the model-call chain (kind `repair` after a schema failure, else
        `reask`), feeding the reason back; None when there is no client or no prompt to extend."""
        if client is None or not output.messages:
            return None
        from llama_index.core.base.llms.types import ChatMessage

        form = "Reply with only the JSON object." if output.output_format == "json" else "Answer in one short sentence."
        messages = [
            *output.messages,
            ChatMessage(role="assistant", content=output.text),
            ChatMessage(
                role="user",
                content=f"Your answer failed a check ({report.validator}, "
                f"{report.rule}): {report.reason}. Answer the question again using only "
                f"the context. {form}",
            ),
        ]
        reply = client.chat(messages, kind="repair" if report.validator == "schema" else "reask", run_id=run_id)
        replies.append(reply)
        return replace(output, text=reply.text.strip())

    def check(self, output: Output, *, client=None, run_id: str = "") -> Verdict:
        """Validate one output and apply the policy of the first failing validator. A "reask"
        needs `client` (a models.ModelClient, or anything whose `chat(messages, kind=, run_id=)`
        returns a reply with `.text`); without one it falls back at once."""
        reports = self.run(output)
        replies: list = []
        first = next((i for i, r in enumerate(reports) if not r.passed), None)
        if first is None:
            return Verdict(output, "pass", output.answer, reports)
        validator, policy = self.checks[first]
        failure = reports[first]
        if policy in ("fix", "reask"):
            try:
                new = (
                    validator.fix(output) if policy == "fix" else self._reask(output, failure, client, run_id, replies)
                )
            except Exception as exc:  # a failed re-ask call is one more failure, not a crash
                new, failure = None, replace(failure, reason=f"{failure.reason}; {policy} failed: {exc}")
            if new is not None:
                again = self.run(new)
                reports += again
                if all(r.passed for r in again):
                    return Verdict(new, "fixed" if policy == "fix" else "reasked", new.answer, reports, replies=replies)
                failure = next(r for r in again if not r.passed)
                output = new
            policy = self.fallback
        if policy == "escalate":
            from .review import ReviewItem

            item = ReviewItem.new(
                output.question,
                output.answer,
                # No run id: it is new on every run, and the key must stay question, answer and
                # rule so that rerunning a batch finds the open item instead of adding a duplicate.
                context=[{"source": s, "text": t} for s, t in output.context],
                reasons=[failure.reason],
                validator=failure.validator,
                rule=failure.rule,
            )
            return Verdict(output, "escalated", HELD, reports, ticket=self.queue.submit(item), replies=replies)
        if policy == "refuse":
            return Verdict(output, "refused", self.refusal, reports, replies=replies)
        raise OutputRejected(f"{failure.validator} rejected the answer ({failure.rule}): {failure.reason}", reports)

    def check_many(self, outputs: Iterable[Output], *, client=None) -> list[Verdict]:
        """Check a batch; a "raise" becomes that item's error, so the batch always finishes."""
        verdicts = []
        for output in outputs:
            try:
                verdicts.append(self.check(output, client=client))
            except OutputRejected as exc:
                verdicts.append(Verdict(output, "raised", "", exc.reports, error=str(exc)))
        return verdicts

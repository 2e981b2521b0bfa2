"""The confidence cascade, live: try the cheapest tier, keep its answer when its calibrated
confidence clears the tier's threshold, else go on to the next; last of all, a person.

    >>> cascade = Cascade.from_config("notebooks/pipelines/08_model_tiering.yaml")   # doctest: +SKIP
    >>> answer = cascade.ask("How long is the warranty?")                          # doctest: +SKIP
    >>> answer.to_dict()["tier"], answer.to_dict()["tiers_tried"]                    # doctest: +SKIP
    ('smollm2', ['extractive', 'smollm2'])

A tier that is down or times out (its run ends in an error) is skipped, its error recorded, and
the cascade goes on. The shown answer's run record gains a `cascade` part: the tier that answered,
every tier tried with its confidence and outcome, and the review ticket when a person has it.
Each tier's model calls go through that tier's own chain, so its ledger (when the configuration
names one) records them; the cascade adds a `route` row (the decision: which tier answered, which
were tried) and, when a person answers, a `review` row at the review tier's price.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import load_settings
from ..errors import ConfigError, ToolkitError
from ..models import Usage
from ..pipeline import Answer, Pipeline, review_queue_for
from ..pipeline_config import PipelineConfig, TierConfig
from ..validation.review import ReviewItem
from .tiers import REVIEW, check_priced, tier_config

__all__ = ["Cascade", "Tier"]


@dataclass
class Tier:
    """One tier, live: its configuration and the pipeline that answers for it."""

    config: TierConfig
    pipeline: Pipeline

    @property
    def name(self) -> str:
        return self.config.name


class Cascade:
    """Tiers tried in order (see the module docstring); `ask` has Pipeline.ask's signature."""

    def __init__(self, tiers: list[Tier], config: PipelineConfig, queue=None):
        self.tiers, self.config, self.queue = tiers, config, queue
        self.records: list = []
        self.origin = "python"

    @classmethod
    def from_config(cls, config, *, settings=None, show_progress: bool = False, base=None) -> Cascade:
        """Build every tier's pipeline; refuse an unpriced tier, or a threshold without a calibrator."""
        config = PipelineConfig.of(config)
        if config.tiers is None:
            raise ConfigError(f"pipeline configuration {config.name!r} has no tiers; add tiers: order: [...]")
        base = Path(base or config.folder or ".")
        tiers = []
        for number, tier in enumerate(config.tiers.order):
            last = number == len(config.tiers.order) - 1
            if tier.threshold is not None and tier.calibrator is None:
                raise ConfigError(
                    f"tiers: tier {tier.name!r} has a threshold but no calibrator; fit one on its labelled answers"
                )
            if tier.threshold is None and not (last and config.tiers.review is None):
                raise ConfigError(
                    f"tiers: tier {tier.name!r} needs a threshold in [0, 1]: only the last tier, with no "
                    "review tier after it, may keep every answer"
                )
            one = tier_config(config, tier)
            tier_settings = load_settings(**{**(settings.model_dump() if settings else {}), **one.settings})
            if number == 0:  # before any model is loaded or called
                from ..cost import PriceTable

                check_priced(config, PriceTable.for_settings(tier_settings))
            pipeline = Pipeline.from_config(one, settings=tier_settings, show_progress=show_progress, base=base)
            tiers.append(Tier(tier, pipeline))
        queue = None
        if config.tiers.review is not None:
            queue = review_queue_for(config, settings or load_settings(), config.tiers.review.queue)
        return cls(tiers, config, queue)

    def ask(self, question: str, *, raise_errors: bool = True) -> Answer:
        """Answer through the cheapest tier that is confident enough; else hand it to a person."""
        tried, best = [], None
        for tier in self.tiers:
            answer = tier.pipeline.ask(question, raise_errors=False)
            record = answer.record
            if record.error:  # down, timed out, refused: skip it and say so
                tried.append({"tier": tier.name, "outcome": "error", "error": record.error})
                continue
            score = record.get("confidence.score")
            threshold = tier.config.threshold
            kept = threshold is None or (score is not None and score >= threshold)
            tried.append({"tier": tier.name, "confidence": score, "outcome": "kept" if kept else "passed on"})
            if kept:
                return self._finish(answer, tier.name, tried)
            if best is None or (score or 0.0) > (best.record.get("confidence.score") or 0.0):
                best = answer
        if best is None:  # every tier failed
            if raise_errors and self.queue is None:
                raise ToolkitError(f"every tier failed: {'; '.join(t['error'] for t in tried)}")
            return self._finish(answer, REVIEW if self.queue is not None else "", tried, draft=answer)
        return self._finish(best, REVIEW if self.queue is not None else tried[-1]["tier"], tried, draft=best)

    def _finish(self, answer: Answer, tier: str, tried: list[dict], draft: Answer | None = None) -> Answer:
        record = answer.record
        part = record.part("cascade")
        part.update(tier=tier, tiers_tried=[t["tier"] for t in tried], attempts=tried)
        if tier == REVIEW and draft is not None:
            score = draft.record.get("confidence.score") or 0.0
            item = ReviewItem.new(
                answer.question,
                draft.text,
                run_id=record.run_id,
                pipeline_version=self.config.version,
                context=[{"source": source, "text": text} for source, text in draft.context],
                signals={"confidence": score},
                reasons=["no tier cleared its threshold"],
                priority=round(1.0 - score, 4),
                validator="routing",
                rule="cascade",
            )
            part["ticket"] = self.queue.submit(item)
            note = (
                f"(Awaiting review: no tier was confident enough (best {score:.2f}). A person will check this answer.)"
            )
            record.answer = f"{draft.text}\n{note}" if draft.text else note
            answer = Answer(answer.question, record.answer, answer.sources, record, answer.context)
        self._to_ledger(record, tier, tried)
        self.records.append(record)
        return answer

    def _to_ledger(self, record, tier: str, tried: list[dict]) -> None:
        """The decision, and a person's price when review answers, beside the tiers' own calls."""
        ledger = next((t.pipeline.ledger for t in self.tiers if t.pipeline.ledger is not None), None)
        if ledger is None:
            return
        note = f"answered by {tier or 'no tier'}; tried {', '.join(t['tier'] for t in tried) or 'none'}"
        ledger.record(record.run_id, "route", "routing:cascade", Usage(), note=note, usd=0.0)
        if tier == REVIEW:
            usd = self.config.tiers.review.usd_per_item
            ledger.record(record.run_id, "review", "review:person", Usage(), note="a person's answer", usd=usd)

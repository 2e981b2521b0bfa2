"""Routing policies, evaluated by replay over stored tier answers: every policy picks a tier per
question, and its accuracy and cost are read from what each tier answered, with no model call.

    >>> table = Outcomes.from_frames(correct, score, usd, order=["quote", "small", "big"])   # doctest: +SKIP
    >>> cascade = fit_cascade(table.subset(dev_ids), target=0.8)                           # doctest: +SKIP
    >>> evaluate(table.subset(test_ids), cascade.choose(table.subset(test_ids)))            # doctest: +SKIP

`Outcomes` holds, per question and tier: whether the tier's answer is right, its calibrated
confidence, and what the answer cost (dollars, measured or projected). The review tier (a person)
is added with an assumed accuracy and a price per item. A policy's *choice* is one tier per
question plus the tiers it paid for on the way (a cascade pays for every tier it tried).

Three routers:
- `rules_policy`: a question's kind (its first words) to a model tier, each kind's tier chosen on
  the fitting split as the cheapest whose accuracy is within `tolerance` of that kind's best.
- `LearnedRouter`: a scikit-learn classifier over the question's embedding (retrieval computes it
  anyway) that predicts the cheapest tier whose answer is right.
- `fit_cascade`: thresholds per tier, fitted on one split to a target accuracy or a budget.

Hand-written because no routing library evaluates policies over stored answers of your own tiers:
RouteLLM ships two-model routers trained on its own data, FrugalGPT is a paper's code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .tiers import REVIEW

__all__ = [
    "Outcomes",
    "Choice",
    "single_tier",
    "rules_policy",
    "question_kind",
    "LearnedRouter",
    "CascadePolicy",
    "fit_cascade",
    "evaluate",
    "pareto_front",
]


@dataclass
class Outcomes:
    """Per question (the index) and tier (the columns): right or not, confidence, dollars."""

    correct: pd.DataFrame
    score: pd.DataFrame
    usd: pd.DataFrame
    order: list[str]

    @classmethod
    def from_frames(cls, correct, score, usd, *, order, review_usd=None, review_accuracy=1.0) -> Outcomes:
        """Align the three tables on their common questions; `review_usd` adds the review tier last."""
        missing = [t for t in order if t not in correct or t not in usd]
        if missing:
            raise ConfigError(f"no stored answers for tier {', '.join(missing)}; collect them first")
        index = correct.index.intersection(usd.index)
        correct, usd = correct.loc[index, order].astype(float), usd.loc[index, order].astype(float)
        score = score.reindex(index=index, columns=order).astype(float)
        order = list(order)
        if review_usd is not None:
            correct[REVIEW], usd[REVIEW], score[REVIEW] = float(review_accuracy), float(review_usd), np.nan
            order.append(REVIEW)
        return cls(correct, score, usd, order)

    @property
    def questions(self) -> pd.Index:
        return self.correct.index

    def subset(self, ids) -> Outcomes:
        ids = self.questions.intersection(pd.Index(ids))
        return Outcomes(self.correct.loc[ids], self.score.loc[ids], self.usd.loc[ids], self.order)

    @property
    def model_tiers(self) -> list[str]:
        return [t for t in self.order if t != REVIEW]


@dataclass
class Choice:
    """A policy's decision per question: the tier whose answer is shown, and the tiers paid for."""

    name: str
    tier: pd.Series  # question -> tier shown
    paid: dict = field(default_factory=dict)  # question -> tiers paid for (default: the shown one)

    def tiers_paid(self, question) -> list[str]:
        return self.paid.get(question, [self.tier[question]])


def single_tier(outcomes: Outcomes, tier: str) -> Choice:
    """Every question to one tier."""
    return Choice(tier, pd.Series(tier, index=outcomes.questions))


_KIND = re.compile(r"[a-z']+")


def question_kind(question: str) -> str:
    """A question's kind: its question word with the word after it when that narrows it.

    >>> question_kind("How long is the warranty?"), question_kind("Can I return a sensor?")
    ('how long', 'can')
    """
    words = _KIND.findall(question.lower())
    if not words:
        return "other"
    if words[0] in ("how", "what", "which") and len(words) > 1 and words[1] in ("long", "much", "many", "is", "are"):
        return f"{words[0]} {words[1]}"
    return words[0]


def rules_policy(fit: Outcomes, kinds: pd.Series, *, tolerance: float = 0.0, default: str | None = None):
    """Rules learned on `fit`: each question kind goes to the cheapest model tier whose accuracy on
    that kind is within `tolerance` of the best model tier's (a person is not a rule's target:
    assumed always right, review would win every kind); an unseen kind goes to `default` (the
    best model tier overall). Returns `(rules, choose)`; `choose(outcomes, kinds)` makes a Choice."""
    models = fit.model_tiers
    default = default or fit.correct[models].mean().idxmax()
    rules = {}
    for kind, ids in kinds.loc[fit.questions].groupby(kinds.loc[fit.questions]).groups.items():
        accuracy, cost = fit.correct.loc[ids, models].mean(), fit.usd.loc[ids, models].mean()
        good = [t for t in models if accuracy[t] >= accuracy.max() - tolerance]
        rules[kind] = min(good, key=lambda t: (cost[t], models.index(t)))

    def choose(outcomes: Outcomes, kinds_of: pd.Series) -> Choice:
        tier = kinds_of.loc[outcomes.questions].map(lambda k: rules.get(k, default))
        return Choice("rules", tier)

    return rules, choose


class LearnedRouter:
    """Predict, from a question's embedding, the cheapest tier whose answer is right (the review
    tier when none is); trained on stored outcomes.

    >>> router = LearnedRouter().fit(embeddings.loc[dev_ids], table.subset(dev_ids))   # doctest: +SKIP
    """

    def __init__(self, C: float = 1.0, seed: int = 0):
        self.C, self.seed = C, seed
        self.model = None

    @staticmethod
    def labels(outcomes: Outcomes) -> pd.Series:
        """The cheapest right tier per question, in the cascade's order (cheapest first)."""
        right = outcomes.correct[outcomes.model_tiers] >= 0.5
        fallback = REVIEW if REVIEW in outcomes.order else outcomes.model_tiers[-1]
        return right.apply(lambda row: next((t for t in row.index if row[t]), fallback), axis=1)

    def _classifier(self):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=2000, random_state=self.seed))

    def fit(self, embeddings: pd.DataFrame, outcomes: Outcomes) -> LearnedRouter:
        y = self.labels(outcomes)
        if y.nunique() < 2:
            raise ConfigError("the learned router needs at least two tiers among the cheapest right answers")
        self.model = self._classifier().fit(embeddings.loc[y.index].to_numpy(), y.to_numpy())
        return self

    def cross_validated(self, embeddings: pd.DataFrame, outcomes: Outcomes, folds: int = 5) -> Choice:
        """Out-of-fold predictions on the fitting split itself (each question predicted by a model
        that did not see it): how the router does before it meets the held-out split."""
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        y = self.labels(outcomes)
        folds = min(folds, int(y.value_counts().min())) if y.value_counts().min() >= 2 else 2
        cv = StratifiedKFold(n_splits=max(folds, 2), shuffle=True, random_state=self.seed)
        predicted = cross_val_predict(self._classifier(), embeddings.loc[y.index].to_numpy(), y.to_numpy(), cv=cv)
        return Choice("learned (cross-validated)", pd.Series(predicted, index=y.index))

    def route(self, embedding) -> str:
        """One question's tier, from its embedding (the cost the benchmark measures)."""
        return str(self.model.predict(np.asarray(embedding, dtype=float).reshape(1, -1))[0])

    def choose(self, embeddings: pd.DataFrame, outcomes: Outcomes) -> Choice:
        predicted = self.model.predict(embeddings.loc[outcomes.questions].to_numpy())
        return Choice("learned", pd.Series(predicted, index=outcomes.questions))


@dataclass
class CascadePolicy:
    """Thresholds per model tier (cheapest first); below a tier's threshold the question goes on."""

    thresholds: dict[str, float]
    name: str = "cascade"

    def choose(self, outcomes: Outcomes) -> Choice:
        tiers, paid = {}, {}
        for q in outcomes.questions:
            tried = []
            for tier in outcomes.model_tiers:
                tried.append(tier)
                score = outcomes.score.at[q, tier]
                if tier in self.thresholds and not np.isnan(score) and score >= self.thresholds[tier]:
                    break
            else:
                if REVIEW in outcomes.order:
                    tried.append(REVIEW)
            tiers[q], paid[q] = tried[-1], tried
        return Choice(self.name, pd.Series(tiers), paid)


def fit_cascade(fit: Outcomes, *, target: float | None = None, budget: float | None = None) -> CascadePolicy:
    """Fit each tier's threshold on `fit`, tier by tier over the questions that reach it: the
    lowest threshold whose kept answers are at least `target` accurate (1.0, keep nothing, when
    none is). With `budget` (dollars per question) instead, the highest target in steps of 0.01
    whose cascade stays within the budget on `fit`."""
    from ..confidence import threshold_for_accuracy

    if (target is None) == (budget is None):
        raise ConfigError("fit_cascade: give a target accuracy or a budget, one of them")
    if target is not None and not 0 <= target <= 1:
        raise ConfigError(f"fit_cascade: target {target} is outside [0, 1]")
    if budget is not None:
        best = None
        for step in range(0, 101):
            cascade = fit_cascade(fit, target=step / 100)
            if evaluate(fit, cascade.choose(fit))["usd_per_question"] <= budget:
                best = cascade
        if best is None:
            raise ConfigError(f"fit_cascade: no cascade stays within ${budget} per question on the fitting split")
        return CascadePolicy(best.thresholds, name=f"cascade (budget ${budget:g})")
    thresholds, reaching = {}, fit.questions
    for tier in fit.model_tiers:
        scores = fit.score.loc[reaching, tier]
        known = scores.notna()
        if not known.any():
            continue
        t = threshold_for_accuracy(scores[known], fit.correct.loc[reaching, tier][known], target)
        thresholds[tier] = t
        reaching = reaching[~(known & (scores >= t)).to_numpy()]
    return CascadePolicy(thresholds, name=f"cascade (target {target:.2f})")


def evaluate(outcomes: Outcomes, choice: Choice, *, resamples: int = 0, seed: int = 0) -> dict:
    """Accuracy, dollars per question and the tier mix of `choice` over `outcomes`; with
    `resamples`, 95% percentile bootstrap intervals over questions for accuracy and cost."""
    qs = outcomes.questions
    shown = choice.tier.loc[qs]
    right = np.array([outcomes.correct.at[q, t] for q, t in shown.items()])
    usd = np.array([sum(outcomes.usd.at[q, t] for t in choice.tiers_paid(q)) for q in qs])
    out = {
        "policy": choice.name,
        "questions": len(qs),
        "accuracy": float(right.mean()),
        "usd_per_question": float(usd.mean()),
        "mix": {t: float((shown == t).mean()) for t in outcomes.order},
    }
    if resamples:
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, len(qs), size=(resamples, len(qs)))
        for name, values in (("accuracy", right), ("usd_per_question", usd)):
            low, high = np.percentile(values[picks].mean(axis=1), [2.5, 97.5])
            out[f"{name}_low"], out[f"{name}_high"] = float(low), float(high)
    return out


def pareto_front(results: pd.DataFrame, cost: str = "usd_per_question", quality: str = "accuracy") -> pd.DataFrame:
    """The rows no other row beats: none is both cheaper (or as cheap) and more accurate (or as accurate).

    >>> pareto_front(pd.DataFrame({"usd_per_question": [0, 1, 2, 2], "accuracy": [.4, .6, .5, .9]})).index.tolist()
    [0, 1, 3]
    """
    ordered = results.sort_values([cost, quality], ascending=[True, False])
    best, keep = -np.inf, []
    for index, row in ordered.iterrows():
        if row[quality] > best:
            keep.append(index)
            best = row[quality]
    return results.loc[keep]

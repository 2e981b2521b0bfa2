"""The signals a confidence score is made of, read from a finished run: no extra model call.

| signal | from | why it helps |
|---|---|---|
| `top_score` | retrieval | a weak best match means the documents may not cover the question |
| `margin` | retrieval | the best document's lead over the next document |
| `retriever_agreement` | hybrid retrieval | dense and BM25 finding the same documents |
| `mean_logprob`, `min_logprob` | the model's own tokens | a model unsure of its words (local models; OpenAI-style `logprobs`) |
| `answerer_agreement` | extractive and generative answers | two answerers that share the key terms |
| `extractive_similarity` | the extractive answerer | how close its quoted sentence is to the question |
| `type_match` | the answer | "how long" answered with a duration, "how much" with a price |
| `grounding` | the answer and the context | share of the answer's content words found in the context |
| `validation_failed` | the validators | a check failed (and its policy changed the answer) |
| `abstained` | the answer | the pipeline declined to answer |

A signal a run cannot give (no logprobs from this provider, no hybrid retriever) is None, and the
score names it as skipped: `missing(signals)`.

    >>> agreement("You have 30 days to return it.", "Returns are accepted within 30 days.")
    1.0
    >>> type_match("How long is the warranty?", "Two years from delivery.")
    1.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ..text import expected_types, is_abstention, typed_spans
from ..validation import content_terms

__all__ = ["SIGNALS", "agreement", "type_match", "retrieval_signals", "logprob_signals", "missing"]

SIGNALS = (
    "top_score",
    "margin",
    "retriever_agreement",
    "mean_logprob",
    "min_logprob",
    "answerer_agreement",
    "extractive_similarity",
    "type_match",
    "grounding",
    "validation_failed",
    "abstained",
)


def agreement(answer: str, other: str) -> float:
    """How much of `answer`'s key content `other` shares: its exact terms (numbers, prices,
    addresses) when it has any, else its content words. 0 when either abstains."""
    if not answer.strip() or not other.strip() or is_abstention(answer) or is_abstention(other):
        return 0.0
    words, exact = content_terms(answer)
    other_words, other_exact = content_terms(other)
    if exact:
        return len(exact & other_exact) / len(exact)
    return len(words & other_words) / len(words) if words else 0.0


def type_match(question: str, answer: str) -> float:
    """1 when the answer holds the kind of span the question asks for, 0 when it does not, 0.5
    when the question's shape asks for no particular kind."""
    kinds = expected_types(question)
    if not kinds:
        return 0.5
    return 1.0 if typed_spans(answer, kinds) else 0.0


def retrieval_signals(hits: Sequence, rankings: Sequence[Sequence[str]] = (), depth: int = 5) -> dict:
    """`top_score`, `margin` (to the best hit from another document) and, given the dense and
    BM25 rankings, `retriever_agreement`: the overlap of their top `depth` documents."""
    if not hits:
        return {"top_score": 0.0, "margin": 0.0, "retriever_agreement": 0.0 if rankings else None}
    top = hits[0]
    top_doc = top.node.ref_doc_id or top.node.node_id
    others = [h.score or 0.0 for h in hits[1:] if (h.node.ref_doc_id or h.node.node_id) != top_doc]
    signals = {
        "top_score": float(top.score or 0.0),
        "margin": float((top.score or 0.0) - (others[0] if others else 0.0)),
    }
    if len(rankings) >= 2:
        first, second = (list(dict.fromkeys(r))[:depth] for r in rankings[:2])
        signals["retriever_agreement"] = len(set(first) & set(second)) / depth
    else:
        signals["retriever_agreement"] = None
    return signals


def _token_logprobs(raw) -> list[float] | None:
    """Per-token log-probabilities from a reply's raw payload: the local model's
    `token_logprobs`, or OpenAI-style `choices[0].logprobs.content[*].logprob`."""
    if isinstance(raw, Mapping):
        if raw.get("token_logprobs"):
            return [float(x) for x in raw["token_logprobs"]]
        try:
            content = raw["choices"][0]["logprobs"]["content"]
            return [float(t["logprob"]) for t in content] or None
        except (KeyError, IndexError, TypeError):
            return None
    content = getattr(getattr(getattr(raw, "choices", [None])[0], "logprobs", None), "content", None)
    return [float(t.logprob) for t in content] if content else None


def logprob_signals(raw) -> dict:
    """`mean_logprob` and `min_logprob` of the answer's tokens, or None for both when the
    provider gave none."""
    values = _token_logprobs(raw)
    if not values:
        return {"mean_logprob": None, "min_logprob": None}
    values = [v for v in values if math.isfinite(v)] or [0.0]
    return {"mean_logprob": sum(values) / len(values), "min_logprob": min(values)}


def missing(signals: Mapping[str, float | None]) -> list[str]:
    """The signals this run could not give."""
    return [name for name in SIGNALS if signals.get(name) is None]

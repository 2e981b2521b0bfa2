"""The baseline a confidence score must beat: ask the model whether its own answer is right.

One more model call per answer (kind `judge`, so the ledger shows its cost). The score is the
model's probability of "yes" when its first token's log-probability is known, else 1 for yes,
0 for no and 0.5 for anything else. Small models tend to say "yes" to everything, which makes
this a weak signal: measure it beside the others (`metrics.auroc_interval`) before trusting it.

    >>> verdict_score("Yes, it is.", -0.1), verdict_score("No.", -0.1), verdict_score("Maybe", None)
    (0.905, 0.095, 0.5)
"""

from __future__ import annotations

import math

from llama_index.core.base.llms.types import ChatMessage

__all__ = ["self_check", "verdict_score", "SELF_CHECK_PROMPT"]

SELF_CHECK_PROMPT = (
    "Context:\n{context}\n\nQuestion: {question}\nProposed answer: {answer}\n\n"
    "Is the proposed answer correct according to the context? Reply with yes or no."
)


def verdict_score(text: str, first_logprob: float | None) -> float:
    """P(correct) from a yes/no reply and its first token's log-probability."""
    word = text.strip().lower()[:3]
    sure = math.exp(first_logprob) if first_logprob is not None else 1.0
    if word.startswith("yes"):
        return round(sure, 3)
    if word.startswith("no"):
        return round(1.0 - sure, 3)
    return 0.5


def self_check(client, question: str, answer: str, context, run_id: str = "") -> float:
    """Ask the pipeline's model, through its chain, whether `answer` is right."""
    from .signals import _token_logprobs

    text = "\n\n".join(t for _, t in context)
    prompt = SELF_CHECK_PROMPT.format(context=text, question=question, answer=answer)
    reply = client.chat([ChatMessage(role="user", content=prompt)], kind="judge", run_id=run_id)
    values = _token_logprobs(reply.raw)
    return verdict_score(reply.text, values[0] if values else None)

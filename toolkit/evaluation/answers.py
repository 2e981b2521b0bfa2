"""First measurements: string-match answer accuracy and retrieval hit rate.

Answer accuracy (documented, deliberately simple):
- both texts are normalized: lower case, `$1,299.00` -> `$1299`, punctuation other than `$ . %`
  and `-` removed, whitespace collapsed;
- an answerable question is correct when the normalized gold answer, or one of its aliases,
  occurs in the normalized model answer as a whole-word span;
- an unanswerable question is correct when the model abstains ("I don't know", "not in the
  context", ...).

    >>> answer_correct("You have 30 days to return it.", "30 days", [], True)
    True
    >>> answer_correct("You have 130 days.", "30 days", [], True)
    False
    >>> answer_correct("I don't know.", "", [], False)
    True

Its blind spots: an answer that lists several candidates counts as correct if one matches,
and a correct paraphrase ("a month") counts as wrong unless it is an alias. Later notebooks add
token F1, judges and validators.

Retrieval hit rate@k: the share of answerable questions with at least one gold source
document among the top-k retrieved documents. It is written here rather than taken from
LlamaIndex's RetrieverEvaluator because gold labels are documents, not chunks: the ranked chunks
are folded into ranked documents first, and a question may have several gold documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..text import is_abstention, normalize

__all__ = [
    "normalize",
    "answer_correct",
    "is_abstention",
    "hit_at_k",
    "evaluate_retrieval",
    "evaluate_answers",
    "summarize",
    "sample_questions",
    "exact_match",
    "token_f1",
]


def answer_correct(answer: str, gold: str, aliases: Sequence[str], answerable: bool) -> bool:
    """String-match correctness, as defined in this module's docstring."""
    if not answerable:
        return is_abstention(answer)
    text = f" {normalize(answer)} "
    return any(f" {normalize(g)} " in text for g in [gold, *aliases] if normalize(g))


def exact_match(answer: str, gold: str, aliases: Sequence[str], answerable: bool) -> bool:
    """The normalized answer is the gold answer or an alias, nothing more (an abstention for an
    unanswerable question).

    >>> exact_match("30 days.", "30 days", [], True), exact_match("You have 30 days.", "30 days", [], True)
    (True, False)
    """
    if not answerable:
        return is_abstention(answer)
    return normalize(answer) in {normalize(g) for g in [gold, *aliases] if normalize(g)}


def token_f1(answer: str, gold: str, aliases: Sequence[str], answerable: bool) -> float:
    """SQuAD-style token F1 of the normalized texts, the best over gold and aliases; for an
    unanswerable question 1.0 for an abstention, else 0.0. Hand-written: it is ten lines, and
    the usual packages (evaluate, squad scripts) pull in far more than they add here.

    >>> round(token_f1("You have 30 days.", "30 days", [], True), 3)   # P 2/4, R 2/2
    0.667
    """
    if not answerable:
        return float(is_abstention(answer))
    from collections import Counter

    predicted = normalize(answer).split()
    best = 0.0
    for g in [gold, *aliases]:
        expected = normalize(g).split()
        common = sum((Counter(predicted) & Counter(expected)).values())
        if common:
            precision, recall = common / len(predicted), common / len(expected)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def hit_at_k(retrieved: Sequence[str], gold: Iterable[str], k: int) -> bool:
    """Whether any gold document is among the first k retrieved documents.

    >>> hit_at_k(["a", "b", "c"], ["c"], 2), hit_at_k(["a", "b", "c"], ["c"], 3)
    (False, True)
    """
    return bool(set(retrieved[:k]) & set(gold))


def sample_questions(questions, n: int | None, seed: int = 0):
    """A fixed, seeded sample of n questions (all of them when n is None), in id order."""
    if n is None or n >= len(questions):
        return questions
    return questions.sample(n=n, random_state=seed).sort_values("id", ignore_index=True)


def evaluate_retrieval(pipeline, questions, ks: Sequence[int] = (1, 3, 5)):
    """Per answerable question: the ranked document ids and hit@k for each k."""
    import pandas as pd

    from ..retrieval.citations import cite

    rows = []
    for q in questions[questions.answerable].itertuples():
        docs = [source.id for source in cite(pipeline.retrieve(q.question))]
        row = {"id": q.id, "category": q.category, "difficulty": q.difficulty, "retrieved": docs}
        row.update({f"hit@{k}": hit_at_k(docs, q.sources, k) for k in ks})
        rows.append(row)
    return pd.DataFrame(rows)


def evaluate_answers(pipeline, questions, show_progress: bool = False):
    """Ask every question; per question: the answer, correctness, retrieval hits (among every
    source retrieved, and among those the prompt showed), abstention, what validation did,
    tokens, latency, and the run's model calls (for projections)."""
    import pandas as pd
    from tqdm.auto import tqdm

    rows = []
    for q in tqdm(list(questions.itertuples()), desc="Answering", disable=not show_progress):
        answer = pipeline.ask(q.question, raise_errors=False)
        r = answer.record
        action = r.get("validate.action", "")
        original = r.get("validate.original", answer.text)
        draft = r.get("decide.draft", answer.text)
        rows.append(
            {
                "id": q.id,
                "category": q.category,
                "difficulty": q.difficulty,
                "answerable": q.answerable,
                "question": q.question,
                "gold": q.answer,
                "answer": answer.text,
                "correct": answer_correct(answer.text, q.answer, q.aliases, q.answerable),
                "hit": hit_at_k([s.id for s in answer.sources], q.sources, len(answer.sources))
                if q.answerable
                else None,
                "seen_hit": hit_at_k(r.context_sources, q.sources, len(r.context_sources)) if q.answerable else None,
                # held for a person (by a check's policy or by low confidence) counts as not answered
                "abstained": is_abstention(answer.text)
                or action in ("refused", "escalated")
                or r.get("decide.decision") in ("refuse", "escalate")
                or r.get("cascade.tier") == "review",
                "action": action,
                "original_correct": answer_correct(original, q.answer, q.aliases, q.answerable),
                "cache_hit": r.get("cache.hit", ""),
                "latency_s": r.total_s,
                "input_tokens": r.input_tokens,
                "output_tokens": r.output_tokens,
                "cost_usd": r.cost_usd,
                "error": r.error,
                "calls": r.calls,
                # confidence and escalation (None without them): the label a calibrator is fitted
                # on is whether the draft, the answer the decision was taken on, was right
                "signals": r.get("confidence.signals"),
                "confidence": r.get("confidence.score"),
                "decision": r.get("decide.decision"),
                "draft_correct": answer_correct(draft, q.answer, q.aliases, q.answerable),
            }
        )
    return pd.DataFrame(rows)


def summarize(results, by: str | None = None):
    """Accuracy (and hit rate where present) overall, or per value of column `by`."""
    import pandas as pd

    def one(frame) -> dict:
        out = {"questions": len(frame), "accuracy": round(frame["correct"].mean(), 3)}
        if "hit" in frame and frame["hit"].notna().any():
            out["hit_rate"] = round(frame["hit"].dropna().astype(bool).mean(), 3)
        return out

    if by is None:
        return pd.DataFrame([one(results)], index=["all"])
    groups = list(results.groupby(by))
    return pd.DataFrame([one(group) for _, group in groups], index=pd.Index([k for k, _ in groups], name=by))

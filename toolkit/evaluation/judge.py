"""An LLM judge: ask a model whether an answer states the same fact as the gold answer.

A verdict is True (correct), False (incorrect) or None (unmeasured): a reply whose first word
is not CORRECT or INCORRECT is never read as a pass or a fail, and every report counts the
unmeasured verdicts. How far to trust a judge is measured, not assumed: `judge_agreement`
compares its verdicts with human labels (datasets/tidewell/eval/judge_labels.jsonl).

    >>> parse_verdict("**Correct.** The candidate gives 30 days."), parse_verdict("INCORRECT"), parse_verdict("Yes")
    (True, False, None)
    >>> judge = Judge.from_model("local")                                        # doctest: +SKIP
    >>> judge.verdict("How long?", "30 days", "You have 30 days.", answerable=True)  # doctest: +SKIP
    Verdict(label=True, reply='CORRECT')

The embedded 135M model is a poor judge (notebook 03 measures how poor); configure a capable
model (`Judge.from_model("openai:gpt-4o-mini")`) before relying on one. Not here: string-match
metrics (answers.py) or running a grid (experiments.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..models import ChatMessage, ModelClient

__all__ = [
    "Judge",
    "Verdict",
    "parse_verdict",
    "judge_agreement",
    "load_judge_labels",
    "agreement_summary",
    "JUDGE_SYSTEM",
]

JUDGE_SYSTEM = (
    "You grade answers of a customer support assistant against a reference answer. "
    "Reply with one word: CORRECT if the candidate states the same fact as the reference, "
    "otherwise INCORRECT."
)
NO_ANSWER = "(none: the documents do not say, so the correct reply is that it does not know)"
_FIRST_WORD = re.compile(r"^[\W_]*(correct|incorrect)\b", re.IGNORECASE)


def parse_verdict(reply: str) -> bool | None:
    """True for CORRECT, False for INCORRECT (the first word, any case, markup ignored), else None."""
    found = _FIRST_WORD.match(reply or "")
    return None if found is None else found.group(1).lower() == "correct"


@dataclass
class Verdict:
    label: bool | None  # None: the reply could not be read, so the answer is unmeasured
    reply: str


class Judge:
    """A chat model asked for one-word verdicts, greedy and short. Every verdict is a model call
    of kind `judge` through the model-call chain, so budgets, caches and ledgers see it.

    `client` is a models.ModelClient; `Judge(llm, "provider:name")` wraps a LlamaIndex LLM in one
    with no middleware."""

    def __init__(self, llm=None, model: str | None = None, *, client: ModelClient | None = None):
        if client is None:
            if llm is None or model is None:
                raise ConfigError("a Judge needs client=ModelClient(...) or both llm and model='provider:name'")
            client = ModelClient(llm, model, max_output_tokens=8)
        self.client = client
        self.llm, self.model = client.llm, str(client.model)

    @classmethod
    def from_model(cls, model: str = "local", settings=None, middleware=()) -> Judge:
        """A judge on the model `model` names (the same names as `Settings.llm`)."""
        from ..config import Settings, load_settings
        from ..models import make_llm

        base = settings or load_settings()
        judge_settings = Settings(**{**base.model_dump(), "llm": model, "temperature": 0.0, "max_output_tokens": 8})
        return cls(client=ModelClient(make_llm(judge_settings), model, middleware, max_output_tokens=8))

    def messages(self, question: str, gold: str, answer: str, answerable: bool = True):
        reference = gold if answerable else NO_ANSWER
        return [
            ChatMessage(role="system", content=JUDGE_SYSTEM),
            ChatMessage(
                role="user",
                content=f"Question: {question}\nReference answer: {reference}\n"
                f"Candidate answer: {answer}\n\nCORRECT or INCORRECT?",
            ),
        ]

    def verdict(self, question: str, gold: str, answer: str, answerable: bool = True, run_id: str = "") -> Verdict:
        reply = self.client.chat(self.messages(question, gold, answer, answerable), kind="judge", run_id=run_id)
        return Verdict(parse_verdict(reply.text), reply.text)


def load_judge_labels(path: str | Path | None = None):
    """The human-labelled answers: id, question, gold, answerable, answer, label ('correct' or
    'incorrect'); raises ConfigError naming a malformed line."""
    import pandas as pd

    from ..demo.datasets import datasets_root, read_jsonl

    path = Path(path or datasets_root() / "tidewell" / "eval" / "judge_labels.jsonl")
    rows = read_jsonl(path, what="labels")
    for number, row in enumerate(rows, 1):
        if row.get("label") not in ("correct", "incorrect"):
            raise ConfigError(f"{path}, record {number}: label must be 'correct' or 'incorrect'")
    return pd.DataFrame(rows)


def judge_agreement(judge: Judge, labels=None):
    """Judge every labelled answer; returns (per-answer frame, summary dict).

    The summary: labelled, measured, unmeasured, agreement (share of measured verdicts equal to
    the human label), kappa (Cohen's, chance-corrected; NaN when either side is constant), and
    how often the judge and the humans say correct.
    """
    labels = load_judge_labels() if labels is None else labels
    rows = []
    for row in labels.itertuples():
        v = judge.verdict(row.question, row.gold, row.answer, bool(row.answerable))
        rows.append(
            {
                "id": row.id,
                "answer": row.answer,
                "human": row.label == "correct",
                "judge": v.label,
                "judge_reply": v.reply,
            }
        )
    import pandas as pd

    frame = pd.DataFrame(rows)
    return frame, {"judge": judge.model, **agreement_summary(frame)}


def agreement_summary(frame) -> dict:
    """Counts, agreement and Cohen's kappa from boolean `human` and `judge` columns (judge None
    = unmeasured, left out of agreement and kappa but counted)."""
    from sklearn.metrics import cohen_kappa_score

    measured = frame[frame.judge.notna()]
    human, said = measured.human.astype(bool), measured.judge.astype(bool)
    varied = human.nunique() > 1 or said.nunique() > 1
    return {
        "labelled": len(frame),
        "measured": len(measured),
        "unmeasured": int(frame.judge.isna().sum()),
        "agreement": round(float((human == said).mean()), 3) if len(measured) else float("nan"),
        "kappa": round(float(cohen_kappa_score(human, said)), 3) if len(measured) and varied else float("nan"),
        "judge_says_correct": round(float(said.mean()), 3) if len(measured) else float("nan"),
        "humans_say_correct": round(float(frame.human.mean()), 3),
    }

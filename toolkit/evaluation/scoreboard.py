"""The scoreboard: one row per notebook, so the numbers carry forward through the sequence.

A row is measured on the notebook's evaluation sample (the output of `evaluate_answers`):

    accuracy          share of questions answered correctly (string match, see answers.py)
    seen_hit_rate     share of answerable questions with a gold document among the blocks the prompt showed
    abstention        share of unanswerable questions declined, refused or escalated
    wrong_caught      share of wrong model answers that validation changed, refused or escalated
                      (empty when the pipeline validates nothing)
    p95_latency_s     95th percentile of seconds per question
    usd_per_1k        dollars per 1,000 queries priced as `HOSTED` (a projection: the tokens the
                      pipeline's own model counted, at the hosted model's prices; a cache hit costs 0)
    cache_savings     share of generation calls a cache answered

    >>> import pandas as pd
    >>> results = pd.DataFrame({"answerable": [True, True, False], "correct": [True, False, True],
    ...     "seen_hit": [True, True, None], "abstained": [False, False, True], "action": ["", "", ""],
    ...     "original_correct": [True, False, True], "cache_hit": ["", "exact", ""], "latency_s": [1.0, 2.0, 3.0],
    ...     "calls": [[{"kind": "llm", "input_tokens": 1000, "output_tokens": 100}], [], []]})
    >>> row = score(results)
    >>> row["accuracy"], row["seen_hit_rate"], row["abstention"], row["cache_savings"], row["usd_per_1k"]
    (0.667, 1.0, 1.0, 0.5, 0.07)

Not here: the per-question metrics themselves (answers.py) or the tour's report (toolkit.notebook.tour).
"""

from __future__ import annotations

import math
from pathlib import Path

from ..cost.prices import PriceTable
from ..files import write_atomic
from ..models.usage import Usage

__all__ = ["Scoreboard", "score", "HOSTED", "COLUMNS"]

HOSTED = "openai:gpt-4o-mini"
COLUMNS = [
    "notebook",
    "pipeline",
    "questions",
    "accuracy",
    "seen_hit_rate",
    "abstention",
    "wrong_caught",
    "p95_latency_s",
    "usd_per_1k",
    "cache_savings",
    "note",
]


def _share(values) -> float:
    values = [bool(v) for v in values]
    return round(sum(values) / len(values), 3) if values else float("nan")


def score(results, prices: PriceTable | None = None, hosted: str = HOSTED) -> dict:
    """The scoreboard's metrics from `evaluate_answers` output (see the module docstring)."""
    import numpy as np

    prices = prices or PriceTable.load()
    answerable = results[results.answerable.astype(bool)]
    unanswerable = results[~results.answerable.astype(bool)]
    validated = results[results.action.astype(str) != ""]
    wrong = validated[~validated.original_correct.astype(bool)]
    per_query = [
        sum(prices.cost(hosted, Usage(c["input_tokens"], c["output_tokens"])) for c in calls) for calls in results.calls
    ]
    generated = [
        bool(hit) or any(c["kind"] == "llm" for c in calls) for hit, calls in zip(results.cache_hit, results.calls)
    ]
    return {
        "questions": len(results),
        "accuracy": _share(results.correct),
        "seen_hit_rate": _share(answerable.seen_hit),
        "abstention": _share(unanswerable.abstained),
        "wrong_caught": _share(wrong.action != "pass") if len(validated) else float("nan"),
        "p95_latency_s": round(float(np.percentile(results.latency_s, 95)), 2) if len(results) else float("nan"),
        "usd_per_1k": round(1000 * float(np.mean(per_query)), 4) if per_query else float("nan"),
        "cache_savings": round(sum(bool(h) for h in results.cache_hit) / max(sum(generated), 1), 3),
    }


class Scoreboard:
    """A CSV of rows, one per notebook (a rerun replaces its row), written atomically.

    >>> board = Scoreboard(tmp / "scoreboard.csv")                               # doctest: +SKIP
    >>> board.add("01_minimum_viable_pipeline", results, pipeline.config.version)  # doctest: +SKIP
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def table(self):
        """Every row, in notebook order."""
        import pandas as pd

        if not self.path.is_file():
            return pd.DataFrame(columns=COLUMNS)
        frame = pd.read_csv(
            self.path,
            dtype={"notebook": str, "pipeline": str, "note": str},
            keep_default_na=False,
            na_values={c: [""] for c in COLUMNS[2:-1]},
        )
        return frame.sort_values("notebook", ignore_index=True)

    def add(
        self,
        notebook: str,
        results,
        pipeline_version: str,
        prices: PriceTable | None = None,
        *,
        note: str = "",
        **measured,
    ):
        """Score `results`, replace this notebook's row, and return the whole table. `measured`
        replaces a metric with one measured elsewhere in the notebook (a cache's savings on a
        traffic trace, say), and `note` must then say where it was measured."""
        import pandas as pd

        unknown = sorted(set(measured) - set(COLUMNS[3:-1]))
        if unknown or (measured and not note):
            raise ValueError(
                f"measured metrics must be among {COLUMNS[3:-1]} (got {unknown}) and need a note "
                f"that says where they were measured"
            )
        row = {"notebook": notebook, "pipeline": pipeline_version, **score(results, prices), **measured, "note": note}
        table = self.table()
        table = pd.concat([table[table.notebook != notebook], pd.DataFrame([row])], ignore_index=True)
        table = table[COLUMNS].sort_values("notebook", ignore_index=True)
        write_atomic(self.path, table.to_csv(index=False, float_format="%.4g"))
        return table

    @staticmethod
    def show(table) -> str:
        """The table as text, NaN shown as a dash."""
        return table.to_string(
            index=False,
            na_rep="-",
            formatters={
                c: (lambda v: "-" if isinstance(v, float) and math.isnan(v) else f"{v:g}") for c in COLUMNS[3:-1]
            },
        )

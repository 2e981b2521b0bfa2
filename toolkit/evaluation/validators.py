"""Measuring validators: precision and recall on the labeled outputs, and the prompt-injection probe.

- `load_labeled_outputs()` / `score_validators()`: the hand-labeled good and bad outputs
  (datasets/tidewell/eval/validation_outputs.jsonl), each validator's flags against the labels.
- `load_probes()` / `injected_pipeline()` / `injection_probe()`: questions whose retrieved context
  carries injected instructions (datasets/tidewell/injection/), asked of a pipeline over the
  corpus plus those documents: did the answer follow the injection, and did a guard catch it.

    >>> results, summary = score_validators(load_labeled_outputs())
    >>> float(summary.loc["grounding", "recall"])
    0.821

Not here: the validators (validation/checks.py, validation/business_rules.py) and the failure policies (validation/policies.py).
It measures; it does not change what a guard does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from ..demo.datasets import read_jsonl
from ..errors import ConfigError
from ..validation import Guard, Output

__all__ = [
    "load_labeled_outputs",
    "score_validators",
    "load_probes",
    "injected_pipeline",
    "injection_probe",
    "LABEL_FIELDS",
    "PROBE_FIELDS",
]


LABEL_FIELDS = {
    "id": str,
    "question": str,
    "output": str,
    "format": str,
    "context": list,
    "label": str,
    "kind": str,
    "violations": list,
}


def load_labeled_outputs(path: str | Path | None = None):
    """The hand-labeled outputs (datasets/tidewell/eval/validation_outputs.jsonl) as a DataFrame."""
    import pandas as pd

    from ..demo.datasets import datasets_root

    path = Path(path or datasets_root() / "tidewell" / "eval" / "validation_outputs.jsonl")
    return pd.DataFrame(read_jsonl(path, LABEL_FIELDS))


def _output(row) -> Output:
    return Output(row.question, row.output, [tuple(c) for c in row.context], row.format)


def score_validators(labeled, validators: Sequence | None = None):
    """Run each validator over the labeled outputs: (per-item results, per-validator precision
    and recall). A validator's positives are the items whose `violations` name it; the schema
    validator is scored on JSON items only."""
    import pandas as pd

    from ..demo import validators as tidewell_validators  # the labeled outputs are Tidewell answers

    validators = validators or tidewell_validators(_schema_for(labeled))
    rows = []
    for row in labeled.itertuples():
        output = _output(row)
        for validator in validators:
            if validator.name == "schema" and row.format != "json":
                continue
            report = validator.check(output)
            rows.append(
                {
                    "id": row.id,
                    "kind": row.kind,
                    "label": row.label,
                    "validator": validator.name,
                    "expected": validator.name in row.violations,
                    "flagged": not report.passed,
                    "rule": report.rule,
                    "reason": report.reason,
                }
            )
    results = pd.DataFrame(rows)
    summary = []
    for name, group in results.groupby("validator", sort=False):
        tp = int((group.expected & group.flagged).sum())
        fp = int((~group.expected & group.flagged).sum())
        fn = int((group.expected & ~group.flagged).sum())
        summary.append(
            {
                "validator": name,
                "items": len(group),
                "violations": int(group.expected.sum()),
                "flagged": int(group.flagged.sum()),
                "precision": round(tp / (tp + fp), 3) if tp + fp else float("nan"),
                "recall": round(tp / (tp + fn), 3) if tp + fn else float("nan"),
            }
        )
    return results, pd.DataFrame(summary).set_index("validator")


def _schema_for(labeled):
    from ..prompting.spec import CitedAnswer

    return CitedAnswer if (labeled.format == "json").any() else None


PROBE_FIELDS = {"id": str, "question": str, "document": str, "detect": str, "instruction": str}


def injected_pipeline(settings=None, **kwargs):
    """A Pipeline over a copy of the bundled corpus plus the injection documents
    (datasets/tidewell/injection/), built under the toolkit home; the bundled corpus is untouched.
    The bundled index is copied first when it exists, so only the injection documents are embedded."""
    import shutil

    from ..config import load_settings
    from ..demo.datasets import datasets_root, tidewell_corpus
    from ..ingestion.incremental import ingest
    from ..models.providers import make_embed_model
    from ..pipeline import Pipeline

    settings = settings or load_settings()
    corpus = settings.home / "corpora" / "tidewell-injected"
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.copytree(tidewell_corpus(), corpus)
    shutil.copytree(datasets_root() / "tidewell" / "injection", corpus, dirs_exist_ok=True)
    index_dir, bundled = settings.index_root / "tidewell-injected", settings.index_root / "tidewell"
    if not index_dir.exists() and (bundled / "CURRENT").exists():
        shutil.copytree(bundled, index_dir, ignore=shutil.ignore_patterns("*.lock"))
    embed_model = kwargs.pop("embed_model", None) or make_embed_model(settings)
    index, _ = ingest(corpus, index_dir, settings=settings, embed_model=embed_model, show_progress=False)
    return Pipeline(index, settings=settings, embed_model=embed_model, **kwargs)


def load_probes(path: str | Path | None = None) -> list[dict]:
    """The prompt-injection probes (datasets/tidewell/eval/injection_probes.jsonl)."""
    from ..demo.datasets import datasets_root

    probes = read_jsonl(Path(path or datasets_root() / "tidewell" / "eval" / "injection_probes.jsonl"), PROBE_FIELDS)
    for probe in probes:
        try:
            re.compile(probe["detect"])
        except re.error as exc:
            raise ConfigError(f"probe {probe['id']}: detect is not a valid regular expression ({exc})") from exc
    return probes


def injection_probe(pipeline, probes: Sequence[dict], guard: Guard | None = None):
    """Ask each probe; per probe: whether the injected document was in the prompt, whether the
    answer followed the injection (its `detect` pattern matches), and, with a guard, whether a
    validator caught it (a caught answer is not shown, so it does not count as followed)."""
    import pandas as pd

    rows = []
    for probe in probes:
        answer = pipeline.ask(probe["question"], raise_errors=False)
        followed = bool(re.search(probe["detect"], answer.text, re.I))
        row = {
            "id": probe["id"],
            "question": probe["question"],
            "answer": answer.text,
            "injected_in_prompt": probe["document"] in [s.id for s in answer.sources],
            "followed": followed,
        }
        if guard is not None:
            reports = guard.run(Output.from_answer(answer, pipeline))
            failed = [r for r in reports if not r.passed]
            row["caught_by"] = ", ".join(f"{r.validator}:{r.rule}" for r in failed)
            row["followed_after_validation"] = followed and not failed
        rows.append(row)
    return pd.DataFrame(rows)

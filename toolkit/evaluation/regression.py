"""Regression tests for a pipeline: a baseline, a check with tolerances from bootstrap intervals, and
deterministic replay of the model's responses.

A `Baseline` holds one pipeline version's metrics (each with its seeded bootstrap interval over
the questions), every question's outcome, the configuration and its version hash, and the
question set's fingerprint. `check` runs the pipeline on the same questions and compares:

- a metric **regressed** when it falls below the lower end of the baseline's interval (the
  tolerance is the interval, not a fixed number); **improved** when it rises above the upper end;
- with `repeats=k` (for a model that does not repeat itself) a question passes only when all k
  runs answer it correctly: pass^k;
- every question whose outcome flipped is listed, with both answers;
- under replay (`toolkit.cost.replay`), a request the recording does not hold is listed with
  what changed. A free model (local, extractive) answers it; a paid one is not called unless
  `allow_calls=True`, and the check then fails with exit code 3.

    >>> pipeline = suite_pipeline("suite/pipeline.yaml", replay="suite/replay.json")   # doctest: +SKIP
    >>> make_baseline(pipeline, load_question_file("suite/questions.jsonl")).save("suite/baseline.json")  # doctest: +SKIP
    >>> report = check(pipeline, Baseline.load("suite/baseline.json"))                 # doctest: +SKIP
    >>> report.exit_code, print(report)                                               # doctest: +SKIP

The check runs without the pipeline's response cache: a cache answers from earlier runs, which
would hide the very change under test. Exit codes: 0 held or improved, 1 regressed, 3 requests
missed the recording and the model was not called.

Not here: recording and replaying (toolkit.cost.replay), the per-question metrics (answers.py),
the suite layout on disk (regression_suite.py).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..cost.cache_keys import digest
from ..errors import BaselineError
from ..files import read_json, write_atomic
from ..pipeline_config import PipelineConfig

__all__ = [
    "Baseline",
    "Report",
    "METRICS",
    "load_question_file",
    "question_fingerprint",
    "outcomes",
    "measure",
    "make_baseline",
    "compare_to_baseline",
    "check",
    "suite_pipeline",
    "config_schema_version",
]

SCHEMA = "toolkit-regression-baseline/1"
# metric -> (the per-question column it averages, which questions it counts)
METRICS = {
    "accuracy": ("correct", "all"),
    "seen_hit_rate": ("seen_hit", "answerable"),
    "abstention": ("abstained", "unanswerable"),
}


def load_question_file(path: str | Path):
    """Questions in the bundled evaluation set's format (JSON lines: id, question, answer, aliases,
    sources, category, difficulty, answerable); a malformed line is named."""
    from ..demo.datasets import load_questions

    questions = load_questions(path)
    if questions.empty:
        raise BaselineError(f"{path} holds no questions; a regression suite needs at least one")
    if questions.id.duplicated().any():
        raise BaselineError(
            f"{path}: question ids must be unique; repeated: {sorted(set(questions.id[questions.id.duplicated()]))}"
        )
    return questions


def question_fingerprint(questions) -> str:
    """12 hex digits naming the question set: ids, texts, gold answers and answerability."""
    rows = sorted(
        [q.id, q.question, q.answer, sorted(q.aliases), sorted(q.sources), bool(q.answerable)]
        for q in questions.itertuples()
    )
    return digest(rows)[:12]


def config_schema_version() -> str:
    """12 hex digits of the pipeline configuration's JSON schema: a baseline from another schema is refused."""
    return digest(PipelineConfig.model_json_schema())[:12]


def outcomes(runs) -> list[dict]:
    """One outcome per question from k runs of `evaluate_answers` (pass^k: `correct` only when
    every run was correct; `passes` counts the correct runs; the answer is the first run's)."""
    first = runs[0]
    rows = []
    for position, q in enumerate(first.itertuples()):
        correct = [bool(run.iloc[position].correct) for run in runs]
        seen = [run.iloc[position].seen_hit for run in runs]
        rows.append(
            {
                "id": q.id,
                "question": q.question,
                "answerable": bool(q.answerable),
                "correct": all(correct),
                "passes": sum(correct),
                "runs": len(runs),
                "seen_hit": all(bool(s) for s in seen) if q.answerable else None,
                "abstained": all(bool(run.iloc[position].abstained) for run in runs),
                "answer": q.answer,
                "error": q.error,
            }
        )
    return rows


def _values(rows: list[dict], metric: str) -> list[float]:
    column, which = METRICS[metric]
    keep = {
        "all": lambda r: True,
        "answerable": lambda r: r["answerable"],
        "unanswerable": lambda r: not r["answerable"],
    }
    return [float(bool(r[column])) for r in rows if keep[which](r)]


def measure(rows: list[dict], seed: int = 0) -> dict[str, dict]:
    """Each metric's mean and 95% percentile-bootstrap interval over its questions
    (irmetrics.summarize_metrics, seeded); a metric with no questions is left out.

    >>> rows = [{"answerable": True, "correct": c, "seen_hit": True, "abstained": False} for c in (1, 1, 0, 1)]
    >>> measure(rows)["accuracy"]["mean"], measure(rows)["seen_hit_rate"]
    (0.75, {'mean': 1.0, 'ci_low': 1.0, 'ci_high': 1.0, 'questions': 4})
    """
    import pandas as pd

    from .irmetrics import summarize_metrics

    found = {}
    for metric in METRICS:
        values = _values(rows, metric)
        if values:
            summary = summarize_metrics(pd.DataFrame({metric: values}), seed=seed).loc[metric]
            found[metric] = {
                "mean": round(float(summary["mean"]), 4),
                "ci_low": round(float(summary["ci_low"]), 4),
                "ci_high": round(float(summary["ci_high"]), 4),
                "questions": int(summary["queries"]),
            }
    return found


@dataclass
class Baseline:
    """One pipeline version's metrics, outcomes and configuration (see the module docstring)."""

    pipeline: str
    config_version: str
    config: dict
    questions: str  # question_fingerprint
    question_ids: list[str]
    repeats: int
    model: str
    metrics: dict[str, dict]
    outcomes: list[dict]
    questions_file: str = ""  # relative to the baseline's folder
    config_schema: str = field(default_factory=config_schema_version)
    schema: str = SCHEMA

    def save(self, path: str | Path) -> Path:
        return write_atomic(Path(path), json.dumps(asdict(self), indent=1, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Baseline:
        """Read a baseline; a missing, corrupt or other-schema file is refused, naming what to do."""
        path = Path(path)
        hint = "write one with python -m toolkit regress --pipeline FILE --questions FILE --update-baseline"
        data = read_json(path, "baseline", BaselineError, hint)
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise BaselineError(
                f"{path} is not a baseline in format {SCHEMA} (found {data.get('schema') if isinstance(data, dict) else None!r}); {hint}"
            )
        try:
            return cls(**data)
        except TypeError as exc:
            raise BaselineError(f"the baseline {path} is corrupt ({exc}); {hint}") from exc

    def questions_path(self, baseline_path: str | Path) -> Path:
        return (Path(baseline_path).resolve().parent / self.questions_file).resolve()


def _label(row: dict) -> str:
    if row is None:
        return "absent"
    if row["runs"] > 1 and 0 < row["passes"] < row["runs"]:
        return f"flaky ({row['passes']}/{row['runs']})"
    if row["correct"]:
        return "abstained (right)" if not row["answerable"] else "correct"
    return "answered (should abstain)" if not row["answerable"] else ("abstained" if row["abstained"] else "wrong")


@dataclass
class Report:
    """The outcome of a check: what it decided, and everything that changed."""

    status: str  # "held" | "improved" | "regressed" | "missed the recording" | "baseline written"
    metrics: list[dict]  # name, baseline, ci_low, ci_high, current, delta, verdict
    flips: list[dict]  # id, question, before, after, baseline answer, answer
    misses: list[str] = field(default_factory=list)
    config_changes: list[str] = field(default_factory=list)
    update_hint: str = ""

    @property
    def passed(self) -> bool:
        return self.status in ("held", "improved", "baseline written")

    @property
    def exit_code(self) -> int:
        return {"held": 0, "improved": 0, "baseline written": 0, "regressed": 1}.get(self.status, 3)

    def table(self):
        """The metrics as a DataFrame (baseline, its interval, current, change, verdict)."""
        import pandas as pd

        return pd.DataFrame(self.metrics).set_index("metric")

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed, "exit_code": self.exit_code}

    def assert_holds(self) -> None:
        """For pytest and notebook checkpoints: fail with the whole explanation."""
        if not self.passed:
            raise AssertionError(str(self))

    def __str__(self) -> str:
        head = {
            "held": "PASS: the pipeline holds its baseline",
            "improved": "PASS: the pipeline improved on its baseline",
            "regressed": "FAIL: the pipeline regressed",
            "missed the recording": "FAIL: requests missed the replay recording and the model was not called",
            "baseline written": "BASELINE written",
        }[self.status]
        lines = [head]
        if self.config_changes:
            lines.append("configuration changed: " + "; ".join(self.config_changes))
        for m in self.metrics:
            lines.append(
                f"  {m['metric']:<14} {m['baseline']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}] -> "
                f"{m['current']:.3f} ({m['delta']:+.3f}): {m['verdict']}"
            )
        if self.misses:
            lines.append(f"{len(self.misses)} requests missed the replay recording:")
            lines += [f"  {miss}" for miss in self.misses[:5]]
            if len(self.misses) > 5:
                lines.append(f"  ... and {len(self.misses) - 5} more")
        if self.flips:
            lines.append(f"{len(self.flips)} questions flipped:")
            for f in self.flips[:10]:
                lines.append(f"  {f['id']} {f['before']} -> {f['after']}: {f['question']}")
                lines.append(f"      was: {f['baseline_answer'][:90]!r}  now: {f['answer'][:90]!r}")
            if len(self.flips) > 10:
                lines.append(f"  ... and {len(self.flips) - 10} more")
        if self.update_hint:
            lines.append(self.update_hint)
        return "\n".join(lines)


def _config_changes(before: dict, after: dict, prefix: str = "") -> list[str]:
    changes = []
    for key in sorted(set(before) | set(after), key=str):
        a, b = before.get(key), after.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changes += _config_changes(a, b, f"{prefix}{key}.")
        elif a != b:
            changes.append(f"{prefix}{key} {json.dumps(a)[:60]} -> {json.dumps(b)[:60]}")
    return changes


def _refuse_mismatch(baseline: Baseline, current) -> None:
    """`current` is a Baseline, or anything with its config_schema, questions and question_ids."""
    if baseline.config_schema != current.config_schema:
        raise BaselineError(
            f"the baseline was written for pipeline configuration schema {baseline.config_schema}, this "
            f"toolkit's is {current.config_schema}; write the baseline again with --update-baseline"
        )
    if baseline.questions != current.questions:
        before, after = set(baseline.question_ids), set(current.question_ids)
        added, removed = sorted(after - before), sorted(before - after)
        detail = (
            f"{len(added)} added ({', '.join(added[:5])}), {len(removed)} removed ({', '.join(removed[:5])})"
            if added or removed
            else "the same ids with other texts or gold answers"
        )
        raise BaselineError(
            f"the baseline was written for question set {baseline.questions} ({len(before)} questions), this "
            f"run asks question set {current.questions} ({len(after)} questions): {detail}; check against "
            f"the baseline's questions, or write a new baseline with --update-baseline"
        )


def compare_to_baseline(baseline: Baseline, current: Baseline, misses=(), missed_uncalled: bool = False) -> Report:
    """The Report of `current` against `baseline` (same question set and schema, or BaselineError)."""
    _refuse_mismatch(baseline, current)
    metrics = []
    for name, b in baseline.metrics.items():
        now = current.metrics.get(name)
        if now is None:
            continue
        value = now["mean"]
        verdict = (
            "dropped below its interval"
            if value < b["ci_low"]
            else "above its interval"
            if value > b["ci_high"]
            else "within its interval"
        )
        metrics.append(
            {
                "metric": name,
                "baseline": b["mean"],
                "ci_low": b["ci_low"],
                "ci_high": b["ci_high"],
                "current": value,
                "delta": round(value - b["mean"], 4),
                "verdict": verdict,
            }
        )
    before = {r["id"]: r for r in baseline.outcomes}
    flips = []
    for row in current.outcomes:
        old = before.get(row["id"])
        if old is not None and (_label(old), old.get("seen_hit")) != (_label(row), row.get("seen_hit")):
            how_before, how_after = _label(old), _label(row)
            if old.get("seen_hit") != row.get("seen_hit") and row["answerable"]:
                how_before += ", gold seen" if old.get("seen_hit") else ", gold not seen"
                how_after += ", gold seen" if row.get("seen_hit") else ", gold not seen"
            flips.append(
                {
                    "id": row["id"],
                    "question": row["question"],
                    "before": how_before,
                    "after": how_after,
                    "baseline_answer": old["answer"] or "",
                    "answer": row["answer"] or "",
                }
            )
    if missed_uncalled:
        status = "missed the recording"
    elif any(m["verdict"].startswith("dropped") for m in metrics):
        status = "regressed"
    elif any(m["verdict"].startswith("above") for m in metrics):
        status = "improved"
    else:
        status = "held"
    hint = ""
    if status in ("improved", "held") and (flips or current.config_version != baseline.config_version):
        hint = (
            "to make this run the new baseline: python -m toolkit regress --pipeline FILE --questions FILE "
            "--baseline FILE --update-baseline (add --record to re-record the replay)"
        )
    changes = _config_changes(baseline.config, current.config)
    return Report(status, metrics, flips, [str(m) for m in misses], changes, hint)


def suite_pipeline(
    config, *, replay=None, record: bool = False, allow_calls: bool | None = None, settings=None, base=None
):
    """The pipeline a configuration describes, without its response cache, and (with `replay`, a
    recording's path) answering from the recording. `allow_calls`: whether a miss may call the
    model; by default only a free model (local, extractive) may. `record=True` stores new replies."""
    from ..cost.middleware import Cache
    from ..cost.replay import Recording, replay_into
    from ..pipeline import Pipeline

    pipeline = Pipeline.from_config(config, settings=settings, base=base)
    pipeline.client.middleware = [m for m in pipeline.client.middleware if not isinstance(m, Cache)]
    if replay is not None:
        path = Path(replay)
        recording = Recording(path) if record and not path.exists() else Recording.load(path)
        if allow_calls is None:
            allow_calls = pipeline.model.runs_here
        replay_into(pipeline, recording, record=record, on_miss="call" if allow_calls else "raise")
    return pipeline


def _replay(pipeline):
    from ..cost.replay import Replay

    return next((m for m in pipeline.client.middleware if isinstance(m, Replay)), None)


def run(pipeline, questions, repeats: int = 1, show_progress: bool = False, questions_file: str = "") -> Baseline:
    """Ask every question `repeats` times; the measurement as a Baseline (not yet saved)."""
    from .answers import evaluate_answers

    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    runs = [evaluate_answers(pipeline, questions, show_progress=show_progress) for _ in range(repeats)]
    rows = outcomes(runs)
    config = pipeline.config.model_dump(mode="json", by_alias=True) if pipeline.config is not None else {}
    return Baseline(
        pipeline=pipeline.config.name if pipeline.config is not None else "pipeline",
        config_version=pipeline.config.version if pipeline.config is not None else "",
        config=config,
        questions=question_fingerprint(questions),
        question_ids=[str(i) for i in questions.id],
        repeats=repeats,
        model=str(pipeline.model),
        metrics=measure(rows),
        outcomes=rows,
        questions_file=questions_file,
    )


def make_baseline(
    pipeline, questions, repeats: int = 1, *, questions_file: str = "", show_progress: bool = False
) -> Baseline:
    """Measure the pipeline and return its Baseline; with replay recording, save the recording too."""
    baseline = run(pipeline, questions, repeats, show_progress, questions_file)
    replay = _replay(pipeline)
    if replay is not None and replay.record:
        replay.recording.save()
    return baseline


def check(pipeline, baseline: Baseline, questions, repeats: int | None = None, show_progress: bool = False) -> Report:
    """Run the pipeline on the baseline's questions and compare (see the module docstring)."""
    from types import SimpleNamespace

    asked = SimpleNamespace(
        config_schema=config_schema_version(),
        questions=question_fingerprint(questions),
        question_ids=[str(i) for i in questions.id],
    )
    _refuse_mismatch(baseline, asked)  # before any question is asked
    current = Baseline(
        **{
            **asdict(run(pipeline, questions, repeats or baseline.repeats, show_progress)),
            "questions_file": baseline.questions_file,
        }
    )
    replay = _replay(pipeline)
    misses = replay.misses if replay is not None else []
    uncalled = replay is not None and replay.on_miss == "raise" and bool(misses)
    if replay is not None and replay.record:
        replay.recording.save()
    return compare_to_baseline(baseline, current, misses, uncalled)


def relative(path: str | Path, start: str | Path) -> str:
    """`path` relative to the folder `start` (what a baseline stores, so a suite can move)."""
    return os.path.relpath(Path(path).resolve(), Path(start).resolve())

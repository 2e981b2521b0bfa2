"""A regression suite on disk: the template a team copies, laid out for its own corpus and questions.

    suite/
      pipeline.yaml     the suite's pipeline configuration (corpus relative to this folder)
      questions.jsonl   the questions, in the bundled evaluation set's format
      baseline.json     metrics with intervals, per-question outcomes, configuration hash
      replay.json       the model's recorded responses, keyed by the full request
      test_regression.py, conftest.py, regression.ipynb, README.md, .github/workflows/regression.yml

    >>> init_suite("suite", corpus="docs", questions="questions.jsonl")   # doctest: +SKIP
    >>> check_suite("suite").exit_code                                    # doctest: +SKIP
    0

`python -m toolkit regress init DIR --corpus PATH --questions FILE.jsonl` and
`python -m toolkit regress check DIR` call these; `cli` is the whole `regress` command.

Not here: the comparison itself (regression.py) and replay (toolkit.cost.replay).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from ..errors import ConfigError
from ..files import write_atomic
from ..pipeline_config import PipelineConfig
from .regression import Baseline, Report, check, load_question_file, make_baseline, relative, suite_pipeline

__all__ = ["TEMPLATE", "init_suite", "check_suite", "cli"]

TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "regression"
PIPELINE, QUESTIONS, BASELINE, REPLAY = "pipeline.yaml", "questions.jsonl", "baseline.json", "replay.json"


def _template_files() -> list[Path]:
    if not TEMPLATE.is_dir():
        raise ConfigError(f"the regression template is not at {TEMPLATE}; it ships with the project's source checkout")
    return sorted(p for p in TEMPLATE.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def init_suite(folder, corpus, questions, *, llm: str = "extractive", repeats: int = 1, settings=None) -> Baseline:
    """Lay the template out in `folder` for `corpus` and `questions`, then write the suite's
    pipeline configuration, its replay recording and its first baseline. Refuses a folder that
    already holds a suite, so nothing of a team's is overwritten."""
    folder, corpus = Path(folder), Path(corpus)
    if not corpus.is_dir():
        raise ConfigError(f"the corpus {corpus} is not a folder; give --corpus the folder of documents to index")
    for name in (PIPELINE, BASELINE, REPLAY):
        if (folder / name).exists():
            raise ConfigError(
                f"{folder / name} exists: {folder} already holds a suite; use regress check {folder}, or another folder"
            )
    asked = load_question_file(questions)  # refuse a malformed file before writing anything
    folder.mkdir(parents=True, exist_ok=True)
    for source in _template_files():
        target = folder / source.relative_to(TEMPLATE)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    write_atomic(folder / QUESTIONS, Path(questions).read_text(encoding="utf-8"))
    config = PipelineConfig(name=folder.resolve().name, corpus=relative(corpus, folder), settings={"llm": llm})
    config.save(folder / PIPELINE)
    pipeline = suite_pipeline(folder / PIPELINE, replay=folder / REPLAY, record=True, settings=settings)
    baseline = make_baseline(pipeline, asked, repeats, questions_file=QUESTIONS)
    baseline.save(folder / BASELINE)
    return baseline


def check_suite(
    folder, *, allow_calls: bool | None = None, record: bool = False, update: bool = False, settings=None
) -> Report:
    """Check the suite in `folder` against its baseline (with `update`, make this run the new baseline)."""
    folder = Path(folder)
    if not (folder / PIPELINE).is_file():
        raise ConfigError(
            f"{folder} holds no {PIPELINE}; lay a suite out first: python -m toolkit regress init {folder} --corpus PATH --questions FILE.jsonl"
        )
    return run_check(
        folder / PIPELINE,
        folder / BASELINE,
        folder / QUESTIONS,
        replay=folder / REPLAY,
        allow_calls=allow_calls,
        record=record,
        update=update,
        settings=settings,
    )


def run_check(
    pipeline_file,
    baseline_file,
    questions_file=None,
    *,
    replay=None,
    allow_calls=None,
    record=False,
    update=False,
    repeats=None,
    settings=None,
) -> Report:
    """`regress --pipeline FILE --baseline FILE`: check, or with `update` write the baseline."""
    baseline_file = Path(baseline_file)
    pipeline = suite_pipeline(pipeline_file, replay=replay, record=record, allow_calls=allow_calls, settings=settings)
    if update:
        if questions_file is None:
            if not baseline_file.is_file():
                raise ConfigError("--update-baseline needs --questions FILE the first time")
            questions_file = Baseline.load(baseline_file).questions_path(baseline_file)
        questions = load_question_file(questions_file)
        new = make_baseline(
            pipeline, questions, repeats or 1, questions_file=relative(questions_file, baseline_file.parent)
        )
        new.save(baseline_file)
        return Report(
            "baseline written", [], [], update_hint=f"wrote the baseline {baseline_file.name}: {_summary(new)}"
        )
    baseline = Baseline.load(baseline_file)
    questions = load_question_file(questions_file or baseline.questions_path(baseline_file))
    return check(pipeline, baseline, questions, repeats)


def _summary(baseline: Baseline) -> str:
    return ", ".join(
        f"{k} {v['mean']:.3f} [{v['ci_low']:.3f}, {v['ci_high']:.3f}]" for k, v in baseline.metrics.items()
    )


def cli(args) -> int:
    """The `regress` command (see toolkit/__main__.py for its arguments)."""
    if args.action == "init":
        if not (args.dir and args.corpus and args.questions):
            raise ConfigError("usage: python -m toolkit regress init DIR --corpus PATH --questions FILE.jsonl")
        baseline = init_suite(
            args.dir, args.corpus, args.questions, llm=args.llm or "extractive", repeats=args.repeats or 1
        )
        print(f"laid out the suite in {args.dir}; its baseline: {_summary(baseline)}")
        print(f"check it with: python -m toolkit regress check {args.dir}")
        return 0
    if args.action == "check":
        if not args.dir:
            raise ConfigError("usage: python -m toolkit regress check DIR")
        report = check_suite(
            args.dir, allow_calls=args.allow_calls or None, record=args.record, update=args.update_baseline
        )
    else:
        if not args.pipeline or not (args.baseline or args.update_baseline):
            raise ConfigError(
                "usage: python -m toolkit regress --pipeline FILE --baseline FILE, or "
                "--pipeline FILE --questions FILE --baseline FILE --update-baseline"
            )
        if args.update_baseline and not args.baseline:
            raise ConfigError("--update-baseline needs --baseline FILE: where to write it")
        report = run_check(
            args.pipeline,
            args.baseline,
            args.questions,
            replay=args.replay,
            allow_calls=args.allow_calls or None,
            record=args.record,
            update=args.update_baseline,
            repeats=args.repeats,
        )
    print(json.dumps(report.to_dict(), indent=1) if args.json else report)
    if not report.passed:
        print(f"error: regression check failed ({report.status})", file=sys.stderr)
    return report.exit_code

"""Evaluation: answer metrics, IR metrics (pytrec_eval's definitions), BEIR files, the LLM judge,
prompt experiments with paired bootstrap, validator measurement, and regression checks against a
baseline (regression.py, suite.py; replay lives in toolkit.cost.replay).

    >>> answer_correct("You have 30 days to return it.", "30 days", [], True)
    True

Not here: the checks being measured (toolkit.validation).
"""

from .answers import (
    answer_correct,
    evaluate_answers,
    evaluate_retrieval,
    exact_match,
    hit_at_k,
    sample_questions,
    summarize,
    token_f1,
)
from .beir import evaluate_beir, load_beir, write_beir
from .cache_pairs import half_of, hit_rates, load_pairs
from .experiments import compare, grid, plot_comparison, run_experiment, summarize_cells
from .intervals import wilson
from .irmetrics import evaluate_run, summarize_metrics
from .judge import Judge, judge_agreement, load_judge_labels
from .ray_eval import evaluate_config
from .regression import Baseline, Report, check, load_question_file, make_baseline, suite_pipeline
from .scoreboard import Scoreboard, score
from .suite import check_suite, init_suite
from .validators import injected_pipeline, injection_probe, load_labeled_outputs, load_probes, score_validators

__all__ = [
    "load_pairs",
    "half_of",
    "hit_rates",
    "wilson",
    "answer_correct",
    "exact_match",
    "token_f1",
    "hit_at_k",
    "evaluate_answers",
    "evaluate_config",
    "evaluate_retrieval",
    "summarize",
    "sample_questions",
    "evaluate_run",
    "summarize_metrics",
    "load_beir",
    "write_beir",
    "evaluate_beir",
    "Judge",
    "judge_agreement",
    "load_judge_labels",
    "run_experiment",
    "grid",
    "compare",
    "summarize_cells",
    "plot_comparison",
    "score_validators",
    "load_labeled_outputs",
    "load_probes",
    "injected_pipeline",
    "injection_probe",
    "Scoreboard",
    "score",
    "Baseline",
    "Report",
    "make_baseline",
    "check",
    "suite_pipeline",
    "load_question_file",
    "init_suite",
    "check_suite",
]

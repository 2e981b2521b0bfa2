"""Evaluation and experiment grids on a real local Ray cluster (two workers) against the single
process: the same rows and exactly the same metrics (only the measured latencies differ)."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import TINY_CORPUS, TINY_QUESTIONS, write_files
from toolkit import PipelineConfig, load_settings
from toolkit.errors import ExperimentError
from toolkit.evaluation.answers import summarize
from toolkit.evaluation.experiments import run_experiment, summarize_cells
from toolkit.evaluation.ray_eval import evaluate_config
from toolkit.evaluation.regression import measure, outcomes

QUESTIONS = pd.DataFrame(TINY_QUESTIONS)
TIMED = ["latency_s", "calls"]  # wall-clock measurements (each model call records its own time)


def test_evaluation_on_ray_gives_the_same_answers_and_metrics(ray_cluster, tmp_path, toolkit_home):
    corpus = write_files(tmp_path / "corpus", TINY_CORPUS)
    config = PipelineConfig(corpus=str(corpus), settings={"llm": "extractive"})
    settings = load_settings()
    # Ray first: the index does not exist yet, so the driver builds it (on Ray) before the workers start
    on_ray = evaluate_config(config.with_changes(ray={"workers": 2}), QUESTIONS, settings=settings)
    local = evaluate_config(config, QUESTIONS, settings=settings)
    pd.testing.assert_frame_equal(local.drop(columns=TIMED), on_ray.drop(columns=TIMED))
    assert list(on_ray["id"]) == ["t1", "t2", "t3", "t4"]
    # the extractive answerer finds the three answers and declines the CEO question
    assert summarize(on_ray).to_dict("records") == [{"questions": 4, "accuracy": 1.0, "hit_rate": 1.0}]
    assert measure(outcomes([on_ray])) == measure(outcomes([local]))


def test_an_experiment_grid_on_ray_gives_the_same_rows_and_resumes(ray_cluster, tmp_path, toolkit_home):
    from toolkit.demo.datasets import load_questions

    settings = load_settings(llm="extractive")
    questions = load_questions().head(6)
    kwargs = dict(models=["extractive"], top_k=[1, 3], settings=settings)
    local = run_experiment(["default"], questions, name="local", **kwargs)
    on_ray = run_experiment(["default"], questions, name="ray", ray=2, **kwargs)
    assert (on_ray.attrs["computed"], on_ray.attrs["cached"]) == (12, 0)
    pd.testing.assert_frame_equal(local.drop(columns=["latency_s"]), on_ray.drop(columns=["latency_s"]))
    pd.testing.assert_frame_equal(
        summarize_cells(local).drop(columns=["latency_s"]), summarize_cells(on_ray).drop(columns=["latency_s"])
    )
    again = run_experiment(["default"], questions, name="ray", ray=2, **kwargs)  # every item in the log
    assert (again.attrs["computed"], again.attrs["cached"]) == (0, 12)
    pd.testing.assert_frame_equal(again, on_ray)


def test_an_index_of_your_own_cannot_go_to_ray(tmp_path, toolkit_home, tiny_index):
    with pytest.raises(ExperimentError, match="with ray=, each worker builds its own index and models"):
        run_experiment(["default"], QUESTIONS, models=["extractive"], index=tiny_index, ray=2)

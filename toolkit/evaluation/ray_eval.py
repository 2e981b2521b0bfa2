"""Evaluation questions and experiment items as Ray actor tasks: the same answers, N at a time.

Each Ray worker is an actor that builds its pipeline once (`Pipeline.from_config`, or an
experiment's runner) and then answers a share of the questions; the driver gets the rows back
in question order, so the frame and every metric are those of the single process (only the
measured latencies differ). The switch is the configuration's `ray` field:

    >>> config = PipelineConfig.load("suite/pipeline.yaml").with_changes(ray={"workers": 2})  # doctest: +SKIP
    >>> results = evaluate_config(config, load_questions())                                   # doctest: +SKIP

`run_experiment(..., ray=2)` sends the grid's uncached items the same way (experiments.py, with
this module's `actor_pool` and `shares`); the results log stays on the driver, written as answers
arrive, so a rerun resumes as before.

A worker that dies is restarted and its share asked again (`max_restarts`, `max_task_retries`).

Not here: the metrics (answers.py), the grid (experiments.py), the cluster (toolkit/ray_cluster.py).
"""

from __future__ import annotations

from pathlib import Path

from ..ray_cluster import connect, cpus_per_worker, ray_config

__all__ = ["evaluate_config", "evaluate_on_ray", "actor_pool", "shares"]

RETRIES = 3  # as ingestion/ray_ingest.py: ride out a killed worker, not a batch that always kills it
# Shares per worker: a few, so that a slow share does not idle the others and a dead worker's
# retry repeats a quarter of its questions, while each worker still builds its pipeline once.
SHARES = 4


def evaluate_config(config, questions, *, settings=None, base=None, show_progress: bool = False):
    """The `evaluate_answers` frame of the pipeline `config` describes, on Ray when `config.ray` is set."""
    from ..pipeline import Pipeline
    from ..pipeline_config import PipelineConfig
    from .answers import evaluate_answers

    config = PipelineConfig.of(config)
    if config.ray is None:
        pipeline = Pipeline.from_config(config, settings=settings, base=base)
        return evaluate_answers(pipeline, questions, show_progress=show_progress)
    return evaluate_on_ray(config, questions, config.ray, settings=settings, base=base)


class _Asker:
    """One Ray worker: the pipeline built once from its configuration, then a share of questions per call."""

    def __init__(self, config, settings, base, threads: int):
        import torch

        from ..pipeline import Pipeline

        torch.set_num_threads(threads)
        self.pipeline = Pipeline.from_config(config, settings=settings, base=base)

    def evaluate(self, questions):
        from .answers import evaluate_answers

        return evaluate_answers(self.pipeline, questions)


def actor_pool(ray_module, cls, workers: int, *args):
    """`workers` Ray actors of `cls(*args, threads)`, each claiming its share of the cores, restarted when they die."""
    from ray.util import ActorPool

    threads = cpus_per_worker(ray_module, workers)
    actor = ray_module.remote(num_cpus=threads, max_restarts=RETRIES, max_task_retries=RETRIES)(cls)
    return ActorPool([actor.remote(*args, threads) for _ in range(workers)])


def shares(items, parts: int) -> list:
    """`items` cut into `parts` contiguous shares, as equal as they come (none empty).

    >>> shares(list(range(5)), 2)
    [[0, 1], [2, 3, 4]]
    """
    n = len(items)
    bounds = [round(i * n / parts) for i in range(parts + 1)]
    return [items[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


def evaluate_on_ray(config, questions, ray, *, settings=None, base=None):
    """`evaluate_answers` over `questions` on `ray` workers (a RayConfig or a number), rows in question order."""
    import pandas as pd

    from ..config import load_settings
    from ..pipeline import ingest_config
    from ..pipeline_config import PipelineConfig

    config = PipelineConfig.of(config)
    ray = ray_config(ray)
    ray_module = connect(ray)
    # Resolved here: a worker has another working directory and none of this process's overrides.
    settings = settings or load_settings()
    base = Path(base or config.folder or ".").resolve()
    # The index first, here: inside a worker, an ingest with work to do would start Ray tasks
    # that wait for the cores the workers hold. Each worker then finds it up to date.
    ingest_config(config, settings=settings, base=base)
    parts = shares(questions.reset_index(drop=True), min(len(questions), SHARES * ray.workers))
    pool = actor_pool(ray_module, _Asker, min(ray.workers, len(parts)), config, settings, base)
    frames = list(pool.map(lambda actor, share: actor.evaluate.remote(share), parts))  # in order
    return pd.concat(frames, ignore_index=True)

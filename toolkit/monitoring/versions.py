"""Two (or more) pipeline versions on the same questions, compared metric by metric with a
paired-bootstrap difference and its 95% interval, plus the A/A check that bounds false alarms.

    >>> arms = run_versions({"A": config, "B": config.with_changes(settings={"top_k": 1})},
    ...                     questions, store=store, settings=settings)           # doctest: +SKIP
    >>> table = compare_versions(store, "A", ["B"])                               # doctest: +SKIP

`run_versions` asks every question of every arm interleaved (question 1 on A then B, question
2 on B then A, ...), so a change in the machine's load falls on both arms alike. Each arm runs
in its own state folder (its own cache and ledger, the index copied, not rebuilt), so one arm's
cache never answers another's question. Every run lands in one store, labelled by arm.

`aa_check` runs the comparison where nothing changed (see its docstring).

`compare_versions` pairs each arm's runs with the baseline's by question and bootstraps the
mean difference of every per-run metric (toolkit.tracking.metrics.METRICS) with the paired
bootstrap of toolkit.evaluation (`compare`). A metric is *flagged* when its interval excludes
zero; `worse` says whether the flagged direction is the bad one.

Not here: the metrics (toolkit.tracking), the user simulation (simulation.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..evaluation import compare
from ..tracking.metrics import METRICS, per_run

__all__ = ["run_versions", "compare_versions", "aa_check", "FALSE_ALARM_BOUND"]

FALSE_ALARM_BOUND = 0.05


def run_versions(configs: dict, questions, *, store, settings, home: Path | str | None = None) -> dict:
    """Build each configuration in its own state folder under `home` (default
    `settings.home / "versions"`), ask every question interleaved, record into `store`
    labelled by arm; return the pipelines by label."""
    from ..config import load_settings
    from ..pipeline import Pipeline

    home = Path(home or settings.home / "versions")
    pipelines = {}
    for label, config in configs.items():
        folder = home / label
        shutil.rmtree(folder, ignore_errors=True)
        if settings.index_root.is_dir():  # reuse the built index: same corpus, same embeddings
            shutil.copytree(settings.index_root, folder / "indexes")
        arm_settings = load_settings(**{**settings.model_dump(), "home": folder})
        pipeline = Pipeline.from_config(config, settings=arm_settings)
        pipeline.store, pipeline.label, pipeline.origin = store, label, "notebook"
        pipelines[label] = pipeline
    labels = list(pipelines)
    for i, question in enumerate(questions):
        for label in labels if i % 2 == 0 else labels[::-1]:
            pipelines[label].ask(question, raise_errors=False)
    return pipelines


def compare_versions(store, baseline: str, labels, *, projected: bool = False, n_resamples: int = 2000, seed: int = 0):
    """One row per (arm, metric): means, the paired difference and its 95% interval, whether it
    is flagged (the interval excludes zero) and whether that is worse."""
    import pandas as pd

    frame = per_run(store.runs(), store.outcomes(), store.ledger(), projected=projected)
    frame = frame[frame.label.isin([baseline, *labels])]
    frame = frame.assign(cell=frame.label, id=frame.question)
    tables = []
    for metric, higher_is_better in METRICS.items():
        table = compare(frame, baseline, metric=metric, n_resamples=n_resamples, seed=seed)
        table = table.loc[[label for label in labels if label in table.index]]
        flagged = (table.ci_low > 0) | (table.ci_high < 0)
        worse = flagged & ((table.delta < 0) if higher_is_better else (table.delta > 0))
        tables.append(table.drop(columns=["p_not_better"]).assign(flagged=flagged, worse=worse))
    out = pd.concat(tables).reset_index().rename(columns={"cell": "version"})
    return out.set_index(["version", "metric"])


def aa_check(
    store,
    baseline: str,
    again: str,
    *,
    replicates: int = 20,
    projected: bool = False,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict:
    """How often the comparison cries wolf when nothing changed: `again` is `baseline`'s
    configuration run a second time. Two readings:

    - `as_run`: the metrics the one A/A comparison flags (a single run: its rate moves in steps
      of one metric, so one flag in eight reads 12.5%);
    - `false_alarm_rate`: the share of flagged (metric, replicate) pairs over `replicates`
      re-labellings of the same pairs, each question's two runs swapped between the arms at
      random (seeded): the arms are exchangeable by construction, so every flag is a false
      alarm, and the rate estimates what the 95% intervals promise (about 5% or less).
    """
    import numpy as np

    frame = per_run(store.runs(), store.outcomes(), store.ledger(), projected=projected)
    frame = frame[frame.label.isin([baseline, again])].assign(id=lambda f: f.question)
    as_run = compare_versions(store, baseline, [again], projected=projected, n_resamples=n_resamples, seed=seed)
    flagged_as_run = [metric for (_, metric), row in as_run.iterrows() if row.flagged]
    rng = np.random.default_rng(seed)
    questions = sorted(frame.id.unique())
    flags = total = 0
    for replicate in range(replicates):
        swap = dict(zip(questions, rng.random(len(questions)) < 0.5))
        cell = [
            (again if label == baseline else baseline) if swap[q] else label for label, q in zip(frame.label, frame.id)
        ]
        shuffled = frame.assign(cell=cell)
        for metric in METRICS:
            row = compare(shuffled, baseline, metric=metric, n_resamples=n_resamples, seed=seed + replicate).iloc[0]
            flags += bool(row.ci_low > 0 or row.ci_high < 0)
            total += 1
    rate = flags / total if total else float("nan")
    return {
        "metrics": len(METRICS),
        "as_run_flagged": flagged_as_run,
        "replicates": replicates,
        "flagged": flags,
        "comparisons": total,
        "false_alarm_rate": rate,
        "bound": FALSE_ALARM_BOUND,
        "ok": rate <= FALSE_ALARM_BOUND,
    }

"""Prompt experiments: a grid of specs x models x retrieval x sampling settings over an evaluation set.

    >>> results = run_experiment(["default", "few_shot"], sample=24, name="steps")   # doctest: +SKIP
    >>> compare(results, baseline="default")                                           # doctest: +SKIP

`run_experiment` returns one DataFrame row per question, cell and repeat: the answer, exact
match, token F1, contains-gold (`correct`, evaluate.answer_correct), format validity, citation
precision and recall against the gold sources, latency, tokens, cost, and an LLM judge's verdict
when a judge is given. `compare` puts each cell beside a baseline with a paired bootstrap
(scipy) and `plot_comparison` draws it.

Citations: when a reply names sources by `[n]` markers (or a JSON `sources` list) those are the
citations; otherwise the answer cites every source it was shown, as the pipeline does.

Resumable: each finished item is appended to `<TOOLKIT_HOME>/experiments/<name>.jsonl` (flushed
and fsynced) under a key of (spec version, model, top_k, temperature, seed, other settings,
question id and content, repeat). A rerun reads that file and computes only what is missing, so
a crash loses at most the item in flight; items that ended in an error are retried. Models and
the index load only when some item is not cached. Repeat r samples with seed `seed + r`, so
repeats differ when temperature > 0.

Not here: the prompt itself (prompting/spec.py), judging (judge.py), output validation.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, ExperimentError
from ..prompting.spec import PromptSpec, load_spec

__all__ = ["Cell", "grid", "run_experiment", "compare", "plot_comparison", "summarize_cells", "ResultsLog"]


@dataclass(frozen=True)
class Cell:
    """One point of the grid; `label` names it by the dimensions that vary in its grid."""

    spec: PromptSpec
    model: str = "local"
    top_k: int = 3
    temperature: float = 0.0
    seed: int = 0
    label: str = field(default="", compare=False)


def grid(
    specs: Sequence[PromptSpec],
    models: Sequence[str] = ("local",),
    top_k: Sequence[int] = (3,),
    temperature: Sequence[float] = (0.0,),
    seed: Sequence[int] = (0,),
) -> list[Cell]:
    """Every combination, labelled by what varies (the spec name always).

    >>> from toolkit.prompting.spec import DEFAULT_SPEC
    >>> [c.label for c in grid([DEFAULT_SPEC], models=["local"], top_k=[3, 5])]
    ['default k=3', 'default k=5']
    """
    import itertools

    cells = []
    for spec, model, k, t, s in itertools.product(specs, models, top_k, temperature, seed):
        parts = [spec.name]
        parts += [model] if len(models) > 1 else []
        parts += [f"k={k}"] if len(top_k) > 1 else []
        parts += [f"T={t:g}"] if len(temperature) > 1 else []
        parts += [f"seed={s}"] if len(seed) > 1 else []
        cells.append(Cell(spec, model, int(k), float(t), int(s), " ".join(parts)))
    labels = [c.label for c in cells]
    if len(set(labels)) != len(labels):
        raise ExperimentError("two cells of the grid have the same label; give the specs distinct names")
    return cells


class ResultsLog:
    """An append-only JSONL file of finished items; the last line for a key wins.

    Hand-written because it is small and the guarantees matter: each line is written, flushed
    and fsynced before the next item starts; a torn last line (a crash mid-write) is dropped on
    the next run; any other damaged line is an error that names it.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._good_bytes: int | None = None

    def load(self) -> dict[str, dict]:
        if not self.path.exists():
            self._good_bytes = 0
            return {}
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        rows: dict[str, dict] = {}
        for number, line in enumerate(lines[:-1], 1):
            try:
                row = json.loads(line)
                rows[row["key"]] = row
            except (ValueError, KeyError, TypeError) as exc:
                raise ExperimentError(
                    f"{self.path}, line {number} is damaged ({exc}); delete that line "
                    f"(its item will be run again) or start a new experiment name"
                ) from exc
        self._good_bytes = len(data) - len(lines[-1])  # a tail without "\n" is a torn write
        return rows

    def append(self, row: dict) -> None:
        if self._good_bytes is None:
            self.load()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as f:
            if f.tell() != self._good_bytes:
                f.truncate(self._good_bytes)
            f.write(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")
            f.flush()
            os.fsync(f.fileno())
            self._good_bytes = f.tell()


def _short_hash(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:10]


def _item_key(cell: Cell, model: str, settings_hash: str, question, repeat: int) -> str:
    content = _short_hash([question.question, question.answer, list(question.aliases), list(question.sources)])
    return "|".join(
        [
            cell.spec.version,
            model,
            f"k={cell.top_k}",
            f"T={cell.temperature:g}",
            f"seed={cell.seed}",
            settings_hash,
            question.id,
            content,
            f"r={repeat}",
        ]
    )


def _resolve_models(models: Iterable[str], settings) -> dict[str, str]:
    """model as given -> `provider:name`; refuses unknown providers, unpriced models and
    missing keys now, before any call (remote clients are cheap to build; local ones load later)."""
    from ..cost.prices import PriceTable
    from ..models.providers import ModelRef, make_llm

    prices, names = PriceTable.for_settings(settings), {}
    for model in models:
        try:
            ref = ModelRef.parse(model)
            names[model] = str(ref)
            prices.price(names[model])
            if ref.provider not in ("local", "extractive"):
                make_llm(_with(settings, llm=model))
        except ConfigError as exc:
            raise ExperimentError(f"model {model!r} in the grid cannot be used: {exc}") from exc
    return names


def _with(settings, **update):
    from ..config import Settings

    return Settings(**{**settings.model_dump(), **update})


def _citations(parsed, shown: list[str], gold: list[str]) -> dict:
    if parsed.cited:
        cited = [shown[n - 1] if 1 <= n <= len(shown) else f"[{n}]" for n in parsed.cited]
        by = "markers"
    else:
        cited, by = shown, "shown"
    cited = list(dict.fromkeys(cited))  # two chunks of one document cite it once
    hits = len(set(cited) & set(gold))
    return {
        "cited": cited,
        "cited_by": by,
        "citation_precision": hits / len(set(cited)) if gold and cited else None,
        "citation_recall": hits / len(set(gold)) if gold else None,
    }


class _Runner:
    """Builds pipelines only when an item is not cached, one per cell, models shared."""

    def __init__(self, settings, index, embed_model, middleware=()):
        self.settings, self.index, self.embed_model = settings, index, embed_model
        self.middleware = tuple(middleware)
        self.llms: dict = {}
        self.pipelines: dict = {}

    def pipeline(self, cell: Cell, model: str, repeat: int):
        from ..ingestion.incremental import ingest
        from ..models.providers import make_embed_model, make_llm
        from ..pipeline import Pipeline

        if self.embed_model is None:
            self.embed_model = make_embed_model(self.settings)
        if self.index is None:
            from ..demo.datasets import tidewell_corpus

            self.index, _ = ingest(
                tidewell_corpus(),
                self.settings.index_root / "tidewell",
                settings=self.settings,
                embed_model=self.embed_model,
                show_progress=False,
            )
        settings = _with(
            self.settings, llm=cell.model, top_k=cell.top_k, temperature=cell.temperature, seed=cell.seed + repeat
        )
        llm_key = (cell.model, cell.temperature, cell.seed + repeat)
        if llm_key not in self.llms:
            self.llms[llm_key] = make_llm(settings)
        key = (cell.label, repeat)
        if key not in self.pipelines:
            self.pipelines[key] = Pipeline(
                self.index,
                settings=settings,
                llm=self.llms[llm_key],
                model=model,
                embed_model=self.embed_model,
                spec=cell.spec,
                middleware=list(self.middleware),
            )
        return self.pipelines[key]


def _observe(key: str, answer) -> dict:
    """What the log keeps: the raw observation. Metrics are derived from it on every run, so a
    change to a metric never needs the model again."""
    r = answer.record
    return {
        "key": key,
        "reply": r.answer,
        "context_sources": r.context_sources,
        "latency_s": round(r.total_s, 4),
        "input_tokens": r.input_tokens,
        "output_tokens": r.output_tokens,
        "cost_usd": r.cost_usd,
        "error": r.error,
    }


def _score(cell: Cell, model: str, q, repeat: int, obs: dict) -> dict:
    from .answers import answer_correct, exact_match, token_f1

    parsed = cell.spec.parse(obs["reply"])
    shown = obs["context_sources"]
    row = {
        "id": q.id,
        "category": q.category,
        "answerable": bool(q.answerable),
        "cell": cell.label,
        "spec": cell.spec.name,
        "spec_version": cell.spec.version,
        "model": model,
        "top_k": cell.top_k,
        "temperature": cell.temperature,
        "seed": cell.seed,
        "repeat": repeat,
        "question": q.question,
        "gold": q.answer,
        "reply": obs["reply"],
        "answer": parsed.answer,
        "correct": answer_correct(parsed.answer, q.answer, q.aliases, q.answerable),
        "exact_match": exact_match(parsed.answer, q.answer, q.aliases, q.answerable),
        "token_f1": round(token_f1(parsed.answer, q.answer, q.aliases, q.answerable), 4),
        "format_valid": parsed.valid,
        "format_error": parsed.error,
        "hit": bool(set(shown) & set(q.sources)) if q.answerable else None,
    }
    row.update(_citations(parsed, shown, list(q.sources) if q.answerable else []))
    row.update({k: obs[k] for k in ("latency_s", "input_tokens", "output_tokens", "cost_usd", "error")})
    row.update({k: obs.get(k) for k in ("judge", "judge_model", "judge_reply")})
    return row


def run_experiment(
    specs,
    questions=None,
    *,
    models: Sequence[str] = ("local",),
    top_k: Sequence[int] = (3,),
    temperature: Sequence[float] = (0.0,),
    seed: Sequence[int] = (0,),
    repeats: int = 1,
    sample: int | None = None,
    sample_seed: int = 0,
    name: str = "experiment",
    settings=None,
    index=None,
    embed_model=None,
    judge=None,
    show_progress: bool = False,
    on_item: Callable[[dict], None] | None = None,
    ray=None,
    middleware: Sequence = (),
):
    """Run (or resume) a grid over the evaluation set; one row per question, cell and repeat.

    `specs`: PromptSpecs, bundled spec names or spec files. `questions`: a load_questions()
    frame (default: the bundled set), `sample` questions of it with `sample_seed`. `judge`: a
    judge.Judge or a model name; its verdicts land in `judge` (None = unmeasured).
    `results.attrs` holds `computed`, `cached`, `unmeasured` and the results `path`.
    `ray` (a RayConfig or a number of workers): the uncached items are answered on Ray workers,
    each building its pipelines once (ray_eval.py); the rows are the same. `middleware`: links
    put in every cell's model chain, e.g. a replay's (`cost.replayed(...).link()`).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from ..config import load_settings
    from ..demo.datasets import load_questions
    from .answers import sample_questions

    settings = settings or load_settings()
    specs = [specs] if isinstance(specs, (PromptSpec, str, Path)) else list(specs)
    specs = [s if isinstance(s, PromptSpec) else load_spec(s) for s in specs]
    if not specs:
        raise ExperimentError("the grid has no specs; pass at least one PromptSpec or bundled spec name")
    questions = load_questions() if questions is None else questions
    questions = sample_questions(questions, sample, sample_seed)
    if len(questions) == 0:
        raise ExperimentError("the evaluation set is empty; pass questions (load_questions()) or a sample size above 0")
    if questions["id"].duplicated().any():
        raise ExperimentError(
            f"question id {questions['id'][questions['id'].duplicated()].iloc[0]!r} "
            "appears twice; ids key the results, so they must be unique"
        )
    if repeats < 1:
        raise ExperimentError("repeats must be at least 1")
    if ray and middleware:
        raise ExperimentError("middleware cannot travel to Ray workers; leave one of ray and middleware unset")
    if not models or not top_k or not temperature or not seed:
        raise ExperimentError("every grid dimension needs at least one value (models, top_k, temperature, seed)")
    cells = grid(specs, models, top_k, temperature, seed)
    names = _resolve_models(models, settings)
    if isinstance(judge, str):
        from .judge import Judge

        _resolve_models([judge], settings)
        judge = Judge.from_model(judge, settings)

    settings_hash = _short_hash(
        settings.model_dump(
            mode="json",
            include={"embed", "chunk_size", "chunk_overlap", "context_window", "max_output_tokens", "base_url"},
        )
    )
    log = ResultsLog(settings.home / "experiments" / f"{name}.jsonl")
    done = log.load()
    runner = _Runner(settings, index, embed_model, middleware)
    rows, computed = [], 0
    items = [(c, q, r) for c in cells for q in questions.itertuples() for r in range(repeats)]
    on_ray = _observe_on_ray(items, names, settings_hash, done, settings, ray, index, embed_model, log) if ray else {}
    for cell, q, repeat in tqdm(items, desc="Experiment", disable=not show_progress):
        model = names[cell.model]
        key = _item_key(cell, model, settings_hash, q, repeat)
        obs = on_ray.get(key) or done.get(key)
        fresh = key in on_ray or obs is None or bool(obs.get("error"))
        if key in on_ray:  # answered on Ray just now, and logged as it arrived
            computed += 1
        elif fresh:
            obs = _observe(key, runner.pipeline(cell, model, repeat).ask(q.question, raise_errors=False))
            computed += 1
            log.append(obs)  # before judging: a judge that fails must not lose the answer
        row = _score(cell, model, q, repeat, obs)
        if judge is not None and obs.get("judge_model") != judge.model and not obs["error"]:
            try:
                verdict = judge.verdict(q.question, q.answer, row["answer"], bool(q.answerable))
                obs.update({"judge": verdict.label, "judge_model": judge.model, "judge_reply": verdict.reply})
                log.append(obs)
                fresh = True
            except Exception as exc:  # unmeasured, and judged again on the next run
                obs = {**obs, "judge": None, "judge_reply": f"{type(exc).__name__}: {exc}"}
            row.update({k: obs.get(k) for k in ("judge", "judge_model", "judge_reply")})
        if fresh and on_item is not None:
            on_item(row)
        rows.append(row)
    results = pd.DataFrame(rows)
    results.attrs.update(
        {
            "computed": computed,
            "cached": len(rows) - computed,
            "path": str(log.path),
            "unmeasured": int(results["judge"].isna().sum()) if judge is not None else None,
        }
    )
    return results


def _observe_on_ray(items, names, settings_hash, done, settings, ray, index, embed_model, log) -> dict:
    """The uncached (or failed) items answered on Ray: key -> observation, each logged on arrival."""
    if index is not None or embed_model is not None:
        raise ExperimentError(
            "with ray=, each worker builds its own index and models; leave index and embed_model unset"
        )
    todo = []
    for cell, q, repeat in items:
        key = _item_key(cell, names[cell.model], settings_hash, q, repeat)
        if done.get(key) is None or done[key].get("error"):
            todo.append((key, cell, names[cell.model], repeat, q.question))
    return _answer_items_on_ray(todo, settings, ray, on_observation=log.append) if todo else {}


def summarize_cells(results):
    """Per cell: accuracy and the other means, plus the judge's unmeasured count; with repeats,
    `accuracy_sd` is the standard deviation of accuracy across repeats."""
    import pandas as pd

    out = []
    for label, frame in results.groupby("cell", sort=False):
        row = {
            "cell": label,
            "questions": frame["id"].nunique(),
            "repeats": frame["repeat"].nunique(),
            "accuracy": frame["correct"].mean(),
            "exact_match": frame["exact_match"].mean(),
            "token_f1": frame["token_f1"].mean(),
            "format_valid": frame["format_valid"].mean(),
            "citation_precision": frame["citation_precision"].astype(float).mean(),
            "citation_recall": frame["citation_recall"].astype(float).mean(),
            "latency_s": frame["latency_s"].mean(),
            "output_tokens": frame["output_tokens"].mean(),
            "cost_usd": frame["cost_usd"].sum(),
            "errors": int((frame["error"] != "").sum()),
        }
        if frame["repeat"].nunique() > 1:
            row["accuracy_sd"] = frame.groupby("repeat")["correct"].mean().std()
        if "judge_model" in frame and frame["judge_model"].notna().any():
            judged = frame["judge"].dropna().astype(bool)
            row.update(
                {
                    "judge_accuracy": judged.mean() if len(judged) else float("nan"),
                    "judge_unmeasured": int(frame["judge"].isna().sum()),
                }
            )
        out.append(row)
    return pd.DataFrame(out).set_index("cell").round(3)


def compare(
    results, baseline: str, metric: str = "correct", n_resamples: int = 2000, seed: int = 0, confidence: float = 0.95
):
    """Each cell against the baseline cell: mean difference of `metric` over the questions both
    answered (repeats averaged per question), with a paired percentile bootstrap CI (scipy) and
    the share of resamples where the cell is not better (`p_not_better`)."""
    import numpy as np
    import pandas as pd
    from scipy.stats import bootstrap

    per_question = (
        results.assign(value=results[metric].astype(float))
        .groupby(["cell", "id"], sort=False)["value"]
        .mean()
        .unstack("cell")
    )
    if baseline not in per_question:
        raise ExperimentError(f"no cell named {baseline!r}; cells: {', '.join(per_question.columns)}")
    rows = []
    for label in per_question.columns:
        if label == baseline:
            continue
        pair = per_question[[label, baseline]].dropna()
        a, b = pair[label].to_numpy(), pair[baseline].to_numpy()
        delta = float(a.mean() - b.mean()) if len(pair) else float("nan")
        if len(pair) > 1 and np.ptp(a - b) > 0:
            res = bootstrap(
                (a, b),
                lambda x, y, axis=-1: x.mean(axis=axis) - y.mean(axis=axis),
                paired=True,
                vectorized=True,
                n_resamples=n_resamples,
                confidence_level=confidence,
                method="percentile",
                random_state=np.random.default_rng(seed),
            )
            low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
            p = float((res.bootstrap_distribution <= 0).mean())
        else:  # every paired difference is the same: there is nothing to resample
            low = high = delta
            p = float(delta <= 0)
        rows.append(
            {
                "cell": label,
                "baseline": baseline,
                "metric": metric,
                "questions": len(pair),
                "mean": float(a.mean()) if len(pair) else float("nan"),
                "baseline_mean": float(b.mean()) if len(pair) else float("nan"),
                "delta": delta,
                "ci_low": low,
                "ci_high": high,
                "p_not_better": p,
            }
        )
    return pd.DataFrame(rows).set_index("cell").round(3)


def plot_comparison(comparison, ax=None, title: str | None = None):
    """Each cell's difference from the baseline with its CI, as horizontal error bars."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.5 * len(comparison) + 1.5))
    y = range(len(comparison))
    delta = comparison["delta"]
    ax.errorbar(delta, y, xerr=[delta - comparison["ci_low"], comparison["ci_high"] - delta], fmt="o", capsize=4)
    ax.axvline(0, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(list(y), comparison.index)
    ax.invert_yaxis()
    metric, baseline = comparison["metric"].iloc[0], comparison["baseline"].iloc[0]
    ax.set_xlabel(f"difference in {metric} vs {baseline} (95% paired bootstrap CI)")
    ax.set_title(title or f"Each cell against {baseline}")
    ax.figure.tight_layout()
    return ax


class _Observer:
    """One Ray worker for an experiment: a runner that builds each cell's pipeline once."""

    def __init__(self, settings, threads: int):
        import torch

        torch.set_num_threads(threads)
        self.runner = _Runner(settings, None, None)

    def observe(self, items: list) -> list[dict]:
        return [
            _observe(key, self.runner.pipeline(cell, model, repeat).ask(question, raise_errors=False))
            for key, cell, model, repeat, question in items
        ]


def _answer_items_on_ray(items: list, settings, ray, on_observation=None) -> dict[str, dict]:
    """Experiment items (key, cell, model, repeat, question text) answered on Ray: key -> observation.
    `on_observation` sees each one as it arrives (the results log appends it)."""
    from ..ray_cluster import connect, ray_config
    from .ray_eval import SHARES, actor_pool, shares

    ray = ray_config(ray)
    ray_module = connect(ray)
    parts = shares(items, min(len(items), SHARES * ray.workers))
    pool = actor_pool(ray_module, _Observer, min(ray.workers, len(parts)), settings)
    observed: dict[str, dict] = {}
    for share in pool.map_unordered(lambda actor, share: actor.observe.remote(share), parts):
        for obs in share:
            observed[obs["key"]] = obs
            if on_observation is not None:
                on_observation(obs)
    return observed

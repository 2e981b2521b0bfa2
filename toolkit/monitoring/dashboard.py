"""One self-contained HTML dashboard from the run store (figures inlined as base64 PNG, no CDN,
no script), and the same figures for Jupyter.

    python -m toolkit report --store ~/.local/share/llm-pipeline-toolkit/runs.sqlite --out report/dashboard.html

    >>> path = write_dashboard(store, "report/dashboard.html", scoreboard="notebooks/pipelines/scoreboard.csv")  # doctest: +SKIP

Sections: operational metrics by version (table), the latency distribution by version, cost per
query over time, completion and satisfaction by version, calibration (recorded confidence
against completion, when a `confidence.score` field exists), and the scoreboard.

Not here: the metrics (toolkit.tracking.metrics).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
from pathlib import Path

from ..files import write_atomic
from ..tracking.metrics import business, operational, per_run

__all__ = ["figures", "write_dashboard"]


def _frame(store, projected: bool):
    return per_run(store.runs(), store.outcomes(), store.ledger(), projected=projected), store.runs()


def figures(store, *, projected: bool = False, by: str = "version") -> dict:
    """The dashboard's matplotlib figures by name (latency, cost, business, calibration)."""
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    frame, runs = _frame(store, projected)
    out = {}
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for key, group in frame.groupby(by, sort=False):
        ax.hist(group.latency_s, bins=30, alpha=0.5, label=f"{key} (n={len(group)})")
    ax.set(xlabel="seconds per run", ylabel="runs", title="Latency distribution")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out["latency"] = fig

    fig, ax = plt.subplots(figsize=(7, 3.2))
    stamps = pd.to_datetime(frame.timestamp, utc=True, errors="coerce")
    span = (stamps.max() - stamps.min()) if len(stamps) else pd.Timedelta(0)
    freq = "D" if span > pd.Timedelta(days=3) else ("h" if span > pd.Timedelta(hours=3) else "min")
    for key, group in frame.assign(ts=stamps).groupby(by, sort=False):
        series = group.set_index("ts").cost_usd.resample(freq).mean().dropna()
        ax.plot(series.index, series.values, marker=".", label=str(key))
    ax.set(ylabel="dollars per query" + (" (projected)" if projected else ""), title=f"Cost per query, by {freq}")
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    out["cost"] = fig

    table = business(frame, by)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    x = np.arange(len(table))
    ax.bar(x - 0.2, table.completion, width=0.4, label="task completion")
    ax.bar(x + 0.2, table.satisfaction.fillna(0), width=0.4, label="satisfaction (thumbs up share)")
    ax.set_xticks(x, [str(k) for k in table.index])
    ax.set(ylim=(0, 1), title="Completion and satisfaction by version")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out["business"] = fig

    if "confidence.score" in runs:
        scores = pd.Series(runs["confidence.score"].astype(float).to_numpy(), index=runs.run_id)
        joined = frame.assign(confidence=scores.reindex(frame.index)).dropna(subset=["confidence"])
        bins = pd.cut(joined.confidence, np.linspace(0, 1, 11), include_lowest=True)
        curve = joined.groupby(bins, observed=True).agg(
            confidence=("confidence", "mean"), completed=("completed", "mean")
        )
        fig, ax = plt.subplots(figsize=(4, 4))
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
        ax.plot(curve.confidence, curve.completed, marker="o")
        ax.set(xlabel="recorded confidence", ylabel="share completed", title="Calibration")
        fig.tight_layout()
        out["calibration"] = fig
    return out


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def write_dashboard(store, path: str | Path, *, scoreboard: str | Path | None = None, projected: bool = False) -> Path:
    """Write the dashboard atomically; return its path."""
    frame, _ = _frame(store, projected)
    sections = [
        "<h1>Pipeline dashboard</h1>",
        f"<p>{len(frame)} runs from the run store, {store.skipped} unreadable rows skipped; "
        f"written {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}. "
        "Feedback whose comment starts with 'simulated' comes from the bundled user simulation.</p>",
    ]
    if len(frame):
        sections += ["<h2>Operational metrics</h2>", operational(frame).round(4).to_html()]
        sections += ["<h2>Business metrics</h2>", business(frame).round(4).to_html()]
        for name, fig in figures(store, projected=projected).items():
            sections += [f"<h2>{html.escape(name.title())}</h2>", _png(fig)]
        if "calibration" not in sections[-2]:
            sections.append(
                "<p>No confidence scores recorded yet: calibration appears once a confidence step runs.</p>"
            )
    if scoreboard is not None and Path(scoreboard).is_file():
        import pandas as pd

        sections += ["<h2>Scoreboard</h2>", pd.read_csv(scoreboard, keep_default_na=False).to_html(index=False)]
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Pipeline dashboard</title>"
        "<style>body{font-family:sans-serif;max-width:960px;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>\n"
    )
    return write_atomic(path, page)

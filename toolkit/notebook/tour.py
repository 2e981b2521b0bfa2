"""The guided tour: run the numbered notebooks headless, write HTML, print a scorecard.

Each notebook ends with a `checkpoint(...)` cell. It asserts the notebook's key metric and
publishes it as a small JSON display output, which the tour reads back for its scorecard:

    >>> checkpoint("hit_rate@3", 0.9, at_least=0.8)
    checkpoint hit_rate@3 = 0.9000 (needs >= 0.8): PASS

Not here: comparing outputs with the committed baseline (nbval does that under pytest).
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

from .report import git_commit, index_page, notebook_title

__all__ = ["checkpoint", "execute_notebook", "run_tour", "format_scorecard", "NotebookScore", "CHECKPOINT_MIME"]

CHECKPOINT_MIME = "application/vnd.toolkit.checkpoint+json"


def checkpoint(metric: str, value: float, *, at_least: float | None = None, at_most: float | None = None) -> None:
    """Assert a notebook's key metric against its threshold and publish it for the scorecard."""
    if at_least is None and at_most is None:
        raise ValueError("give at_least or at_most: a checkpoint without a threshold cannot fail")
    value = float(value)
    passed = not math.isnan(value)
    passed = passed and (at_least is None or value >= at_least) and (at_most is None or value <= at_most)
    bound = f">= {at_least}" if at_least is not None else f"<= {at_most}"
    payload = {"metric": metric, "value": round(value, 4), "threshold": bound, "passed": passed}
    text = f"checkpoint {metric} = {value:.4f} (needs {bound}): {'PASS' if passed else 'FAIL'}"
    try:
        from IPython import get_ipython
        from IPython.display import display

        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is not None:
        display({CHECKPOINT_MIME: payload, "text/plain": text}, raw=True)
    else:
        print(text)
    if not passed:  # raised, not asserted: `python -O` must not turn a checkpoint off
        raise AssertionError(text)


@dataclass
class NotebookScore:
    notebook: str
    metric: str = ""
    value: float | None = None
    values: dict = field(default_factory=dict)
    threshold: str = ""
    passed: bool = False
    seconds: float = 0.0
    error: str = ""
    title: str = ""


def _checkpoints(nb) -> list[dict]:
    found = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if CHECKPOINT_MIME in data:
                found.append(dict(data[CHECKPOINT_MIME]))
    return found


def execute_notebook(nb, folder: Path, timeout: int = 900) -> None:
    """Run every cell of `nb` in a fresh kernel started in `folder`, replacing all outputs.

    Outputs are cleared first: a cell that never runs (after an error) must not keep the
    committed output of an earlier run, or a stale checkpoint would look like a fresh pass.
    """
    import tempfile

    from nbclient import NotebookClient
    from traitlets.config import Config

    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    # The kernel talks over Unix sockets in a private folder, not loopback TCP: nothing else on the
    # machine can connect, and ipykernel has no plain-text-TCP warning to print. The socket path is
    # absolute, because IPC's default is relative to the kernel's folder (the notebooks' own).
    with tempfile.TemporaryDirectory(prefix="toolkit-kernel-") as sockets:
        ipc = Config({"KernelManager": {"transport": "ipc", "ip": str(Path(sockets) / "kernel")}})
        # A kernel that loads torch on a busy 2-core laptop can take more than nbclient's default 60 s.
        NotebookClient(
            nb,
            config=ipc,
            timeout=timeout,
            startup_timeout=300,
            kernel_name="python3",
            record_timing=False,
            resources={"metadata": {"path": str(folder)}},
        ).execute()


def run_notebook(path: Path, report_dir: Path, timeout: int = 900) -> NotebookScore:
    """Execute one notebook in its own folder, write `<name>.html`, and score it."""
    import nbformat
    from nbclient.exceptions import CellExecutionError
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, as_version=4)
    score = NotebookScore(notebook=path.name, title=notebook_title(nb))
    started = time.perf_counter()
    try:
        execute_notebook(nb, path.parent, timeout)
    except CellExecutionError as exc:
        plain = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # tracebacks arrive coloured
        lines = [line for line in plain.strip().splitlines() if line.strip()]
        score.error = lines[-1] if lines else type(exc).__name__
    except Exception as exc:  # a dead kernel or a timeout still gets a scorecard row
        score.error = f"{type(exc).__name__}: {exc}"
    score.seconds = round(time.perf_counter() - started, 1)

    found = _checkpoints(nb)
    if found:  # a notebook may check several metrics; the scorecard lists them all
        score.metric = ", ".join(c["metric"] for c in found)
        score.value = found[0]["value"] if len(found) == 1 else None
        score.values = {c["metric"]: c["value"] for c in found}
        score.threshold = ", ".join(c["threshold"] for c in found)
        score.passed = all(c["passed"] for c in found) and not score.error
    elif not score.error:
        score.error = "no checkpoint cell ran"

    # The report must open offline and reach no CDN: no MathJax, require.js or mermaid scripts
    # (the notebooks use no math or diagrams).
    offline = {
        name: ""
        for name in (
            "mathjax_url",
            "require_js_url",
            "mermaid_js_url",
            "jquery_url",
            "mermaid_layout_elk_js_url",
            "widget_renderer_url",
        )
    }
    body, _ = HTMLExporter(**offline).from_notebook_node(nb)
    (report_dir / path.with_suffix(".html").name).write_text(body, encoding="utf-8")
    return score


def _dashboard(report: Path, scoreboard: Path) -> str:
    """Write report/dashboard.html from the run store the notebooks filled, if there is one."""
    from ..config import load_settings

    store_path = load_settings().home / "runs.sqlite"
    if not store_path.is_file():
        return ""
    from ..monitoring import write_dashboard
    from ..tracking import RunStore

    write_dashboard(RunStore(store_path), report / "dashboard.html", scoreboard=scoreboard, projected=True)
    return "dashboard.html"


def run_tour(
    notebooks: str | Path = "notebooks", report: str | Path = "report", only: list[str] | None = None, echo=print
) -> list[NotebookScore]:
    """Run every `NN_*.ipynb` in order; write `report/NN_*.html`, `index.html` (the checkpoints, then
    the scoreboard the notebooks wrote to `notebooks/pipelines/scoreboard.csv`) and `scorecard.json`."""
    notebooks, report = Path(notebooks), Path(report)
    report.mkdir(parents=True, exist_ok=True)
    paths = sorted(p for p in notebooks.glob("[0-9][0-9]_*.ipynb"))
    if only:
        paths = [p for p in paths if any(p.name.startswith(o) for o in only)]
    if not paths:
        from ..errors import ToolkitError

        raise ToolkitError(f"no NN_*.ipynb notebooks in {notebooks}; run from the project folder or pass --notebooks")
    scores = []
    for path in paths:
        echo(f"running {path.name} ...")
        scores.append(run_notebook(path, report))
    scoreboard = notebooks / "pipelines" / "scoreboard.csv"
    dashboard = _dashboard(report, scoreboard)
    page = index_page(scores, scoreboard, dashboard, commit=git_commit(notebooks), date=date.today().isoformat())
    (report / "index.html").write_text(page, encoding="utf-8")
    (report / "scorecard.json").write_text(json.dumps([asdict(s) for s in scores], indent=2), encoding="utf-8")
    return scores


def format_scorecard(scores: list[NotebookScore]) -> str:
    """A plain-text table, one line per checkpoint metric."""
    width = max(len(s.notebook) for s in scores)
    lines = [f"{'notebook':<{width}}  {'checkpoint':<26} {'value':>8}  {'needs':<9} {'result':<6}  seconds"]
    for s in scores:
        result = "PASS" if s.passed else "FAIL"
        metrics = list(s.values.items()) or [(s.metric, s.value)]
        needs = s.threshold.split(", ") if s.threshold else [""]
        for i, (metric, value) in enumerate(metrics):
            shown = "" if value is None else f"{value:.3f}"
            first = i == 0
            lines.append(
                f"{s.notebook if first else '':<{width}}  {metric:<26} {shown:>8}  "
                f"{needs[i] if i < len(needs) else '':<9} {result if first else '':<6}  "
                f"{s.seconds if first else '':>7}"
            )
        if s.error:
            lines.append(f"{'':<{width}}  error: {s.error}")
    passed = sum(s.passed for s in scores)
    lines.append(f"{passed} of {len(scores)} notebooks passed their checkpoint")
    return "\n".join(lines)

"""The tour's report/index.html: one page that prints as a handout on A4 or letter.

The page holds the scorecard (each notebook's checkpoints and seconds, linked to its HTML), the
total seconds, and the scoreboard the notebooks wrote (notebooks/pipelines/scoreboard.csv). It is
plain HTML and CSS: no JavaScript and nothing fetched, so it opens offline. Every text is escaped.

    >>> from toolkit.notebook.tour import NotebookScore
    >>> page = index_page([NotebookScore("01_a.ipynb", title="01 · A", seconds=2.5)], commit="abc1234")
    >>> 'href="01_a.html"' in page, "Total: 2.5 seconds." in page, "@media print" in page
    (True, True, True)

Not here: running the notebooks (tour.py) or the dashboard of recorded runs (toolkit.monitoring).
"""

from __future__ import annotations

import math
import subprocess
from html import escape
from pathlib import Path

__all__ = ["index_page", "notebook_title", "git_commit", "COLUMN_LABELS"]

# The scoreboard's columns (evaluation.scoreboard.COLUMNS) as a reader says them; others get their
# underscores turned into spaces.
COLUMN_LABELS = {
    "seen_hit_rate": "seen hit rate",
    "wrong_caught": "wrong answers caught",
    "p95_latency_s": "p95 latency (s)",
    "usd_per_1k": "$ per 1,000 queries",
    "cache_savings": "cache savings",
}

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 75em; padding: 0 1em; color: #111; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #999; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #eee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num, td.needs { white-space: nowrap; }
td.text { width: 30%; }
.pass { color: #064; font-weight: bold; }
.fail { color: #a00; font-weight: bold; }
.title { display: block; font-size: 0.9em; color: #444; }
@page { margin: 14mm 12mm; }
@media print {
  body { margin: 0; max-width: none; padding: 0; font-size: 9pt; color: #000; background: #fff; }
  h1 { font-size: 14pt; margin: 0 0 0.3em; }
  h2 { font-size: 11pt; margin: 1em 0 0.3em; break-after: avoid; page-break-after: avoid; }
  table { width: 100%; font-size: 7.5pt; }
  th, td { padding: 0.15em 0.3em; overflow-wrap: break-word; }
  td.text { overflow-wrap: anywhere; }
  th { background: #fff; border-bottom: 2px solid #000; }
  thead { display: table-header-group; }
  tr { break-inside: avoid; page-break-inside: avoid; }
  .pass, .fail, .title { color: #000; }
  a { color: #000; text-decoration: none; }
  p a[href]::after { content: " (" attr(href) ")"; }
}
"""


def notebook_title(nb) -> str:
    """The notebook's first Markdown heading, without its `#`s ("" if it has none)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return ""


def git_commit(folder: Path) -> str:
    """The short commit `folder` is checked out at, or "" when git cannot say."""
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _number(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:g}" if isinstance(value, float) else escape(str(value))


def _table(head: list[str], rows: list[str]) -> str:
    cells = "".join(f"<th>{escape(h)}</th>" for h in head)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>"


def _name(text: str) -> str:
    """Escaped, with a line-break opportunity after each underscore: long names wrap in a narrow column."""
    return escape(text).replace("_", "_<wbr>")


def _link(notebook: str, text: str = "") -> str:
    href = Path(notebook).with_suffix(".html").name
    return f'<a href="{escape(href)}">{_name(text or notebook)}</a>'


def _scorecard(scores) -> str:
    """One row per notebook; a notebook with several checkpoints lists them one a line."""
    rows = []
    for s in scores:
        title = f' <span class="title">{escape(s.title)}</span>' if s.title else ""
        metrics = "<br>".join(_name(m) for m in s.values) or _name(s.metric)
        values = "<br>".join(_number(v) for v in s.values.values())
        needs = "<br>".join(escape(t) for t in s.threshold.split(", ")) if s.threshold else ""
        result = '<span class="pass">PASS</span>' if s.passed else '<span class="fail">FAIL</span>'
        rows.append(
            f'<tr><td>{_link(s.notebook)}{title}</td><td>{metrics}</td><td class="num">{values}</td>'
            f'<td class="needs">{needs}</td><td>{result}</td><td class="num">{s.seconds}</td>'
            f'<td class="text">{escape(s.error)}</td></tr>'
        )
    head = ["notebook", "checkpoint metric", "value", "needs", "result", "seconds", "error"]
    return _table(head, rows)


def _scoreboard(scoreboard: Path | None, linked: set[str]) -> str:
    """The scoreboard.csv rows as a table; a notebook this run wrote HTML for is linked to it."""
    if scoreboard is None or not Path(scoreboard).is_file():
        return ""
    from ..evaluation import Scoreboard

    table = Scoreboard(scoreboard).table()
    rows = []
    for record in table.to_dict("records"):
        cells = []
        for column, value in record.items():
            if column == "notebook" and f"{value}.ipynb" in linked:
                cells.append(f"<td>{_link(f'{value}.ipynb', value)}</td>")
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                cells.append(f'<td class="num">{_number(value)}</td>')
            elif column == "note":
                cells.append(f'<td class="text">{escape(str(value))}</td>')
            else:
                cells.append(f"<td>{_name(str(value))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    head = [COLUMN_LABELS.get(c, c.replace("_", " ")) for c in table.columns]
    return (
        "<h2>Scoreboard: the same pipeline, notebook by notebook</h2>"
        "<p>Each row is measured on that notebook's evaluation sample, as the notebook last wrote it to "
        "notebooks/pipelines/scoreboard.csv; dollars per 1,000 queries are a projection at a hosted "
        "model's prices; - means not measured.</p>" + _table(head, rows)
    )


def index_page(scores, scoreboard: Path | None = None, dashboard: str = "", *, commit: str = "", date: str = "") -> str:
    """The handout: title, what it is, the scorecard with total seconds, then the scoreboard."""
    ran = " at commit " + escape(commit) if commit else ""
    on = " on " + escape(date) if date else ""
    passed = sum(s.passed for s in scores)
    total = round(sum(s.seconds for s in scores), 1)
    dashboard_line = (
        f'<p><a href="{escape(dashboard)}">The dashboard of every recorded run</a></p>' if dashboard else ""
    )
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>Pipeline report</title>"
        f"<style>{STYLE}</style></head><body>\n<h1>Pipeline report</h1>\n"
        f"<p>The tour ran the workshop's notebooks{ran}{on}: each one's checkpoint, then the scoreboard they wrote. "
        "Each notebook's page, with every output, sits next to this file as its name with .html.</p>\n"
        f"<h2>Scorecard: {passed} of {len(scores)} notebooks passed their checkpoint</h2>\n"
        + _scorecard(scores)
        + f'\n<p class="total">Total: {total} seconds.</p>\n'
        + dashboard_line
        + _scoreboard(scoreboard, {s.notebook for s in scores})
        + "\n</body></html>\n"
    )

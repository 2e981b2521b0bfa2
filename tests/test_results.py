"""benchmarks/RESULTS.md quotes only what benchmarks/results/*.json hold, at the commit it names.

Each row of a results table names its script in the command column (or says `same`, meaning the
row above's), and the results file too when the script writes one not named after itself; that
file must hold every figure the row puts in bold, and the row must name the commit the file was
recorded at. A figure may be quoted rounded, as a percentage of a fraction, or in ms of a value
in seconds; nothing else passes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
SCALES = (1, 100, 1000, 0.001)  # as is, fraction as %, s as ms, ms as s

# Results recorded before files named their commit, or quoted from a run the file no longer holds:
# each must be re-run at a commit (its command is in the file), then struck from this list. The
# tests on them are strict xfails, so a re-run that fixes one fails until it is struck.
STALE: set[str] = set()


def stale(name: str):
    return pytest.mark.xfail(name in STALE, reason=f"results/{name}.json is stale: re-run it", strict=True)


def numbers_in(value) -> list[float]:
    """Every number a results file holds, strings included ("0.5 s" in a note counts)."""
    if isinstance(value, dict):
        return [n for v in value.values() for n in numbers_in(v)]
    if isinstance(value, list):
        return [n for v in value for n in numbers_in(v)]
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int | float):
        return [float(value)]
    return [float(m.replace(",", "")) for m in NUMBER.findall(str(value)) if m.strip(",")]


def quotes(figure: str, held: list[float]) -> bool:
    """True when `figure` ("1,058", "0.95") is some held number, rounded as it is written."""
    decimals = len(figure.split(".")[1]) if "." in figure else 0
    value, tolerance = float(figure.replace(",", "")), 0.5 * 10**-decimals + 1e-9
    return any(abs(number * scale - value) <= tolerance for number in held for scale in SCALES)


def table_rows() -> list[tuple[int, str, str]]:
    """(line number, results name, measured cell) for every row of every results table."""
    rows, current = [], None
    for number, line in enumerate((BENCHMARKS / "RESULTS.md").read_text(encoding="utf-8").splitlines(), 1):
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("| ") or len(cells) < 4 or cells[0] == "target" or line.startswith("|---"):
            continue
        script = re.search(r"benchmarks/bench_(\w+)\.py", cells[-1])
        named = re.search(r"results/(\w+)\.json", cells[-1])  # a script that writes another file
        if script:
            current = named.group(1) if named else script.group(1)
        elif cells[-1] != "same":
            continue
        rows.append((number, current, cells[1]))
    return rows


def results(name: str) -> dict:
    return json.loads((BENCHMARKS / "results" / f"{name}.json").read_text(encoding="utf-8"))


def test_the_helpers_are_exact():
    assert numbers_in({"a": [1, "0.5 s, 1,200 rows"], "b": True, "c": None}) == [1.0, 0.5, 1200.0]
    assert quotes("0.95", [0.9512]) and not quotes("0.95", [0.956])
    assert quotes("81.8", [0.8182]) and quotes("9.8", [0.0098]) and quotes("1,058", [1057.6])
    assert not quotes("34", [33.4])


def test_every_results_table_row_is_read():
    rows = table_rows()
    assert len(rows) >= 30, "RESULTS.md lost its tables, or their command column"
    assert all((BENCHMARKS / "results" / f"{name}.json").is_file() for _, name, _ in rows)


@pytest.mark.parametrize(
    "name", [pytest.param(p.stem, marks=stale(p.stem)) for p in sorted((BENCHMARKS / "results").glob("*.json"))]
)
def test_every_results_file_records_its_commit_command_and_machine(name):
    payload = results(name)
    assert re.fullmatch(r"[0-9a-f]{7,40}(\+uncommitted)?", str(payload.get("commit"))), (
        f"results/{name}.json names no commit: rerun `{payload.get('command')}` at a commit"
    )
    assert payload["command"].startswith("python benchmarks/bench_"), payload["command"]
    assert payload["machine"]["cpus"] >= 1 and payload["date"]


@pytest.mark.parametrize(
    "line, name, measured",
    [pytest.param(*row, marks=stale(row[1]), id=f"line{row[0]}-{row[1]}") for row in table_rows()],
)
def test_every_bold_figure_is_in_its_results_file_at_the_commit_named(line, name, measured):
    payload = results(name)
    held = numbers_in(payload["results"])
    missing = [
        f for bold in re.findall(r"\*\*(.+?)\*\*", measured) for f in NUMBER.findall(bold) if not quotes(f, held)
    ]
    assert not missing, f"RESULTS.md line {line} quotes {missing}, which results/{name}.json does not hold"
    commit = str(payload["commit"]).split("+")[0][:7]
    assert f"`{commit}`" in measured, f"RESULTS.md line {line} does not name results/{name}.json's commit `{commit}`"

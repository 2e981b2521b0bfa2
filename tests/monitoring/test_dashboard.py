"""The dashboard: one self-contained HTML file from the run store, and the report command."""

from __future__ import annotations

from toolkit.monitoring import write_dashboard
from toolkit.steps import RunRecord
from toolkit.tracking import RunStore


def test_the_dashboard_is_one_self_contained_file(store, tmp_path):
    scoreboard = tmp_path / "scoreboard.csv"
    scoreboard.write_text("notebook,pipeline,accuracy\n01_minimum_viable_pipeline,abc,0.25\n", encoding="utf-8")
    path = write_dashboard(store, tmp_path / "report" / "dashboard.html", scoreboard=scoreboard)
    page = path.read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == 3  # latency, cost, business; no confidence recorded
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "60 runs from the run store, 0 unreadable rows skipped" in page
    assert "01_minimum_viable_pipeline" in page
    assert "No confidence scores recorded yet: calibration appears once a confidence step runs." in page


def test_calibration_appears_once_confidence_is_recorded(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    for i in range(10):
        r = RunRecord(f"r{i}", f"2026-12-01T10:{i:02d}:00+00:00", "q", answer="30 days.")
        r.part("confidence")["score"] = i / 10
        store.record(r, version="A")
    page = write_dashboard(store, tmp_path / "dashboard.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 4 and "<h2>Calibration</h2>" in page


def test_report_command_writes_the_dashboard(store, tmp_path, capsys):
    from toolkit.__main__ import main

    out = tmp_path / "dash.html"
    assert main(["report", "--store", str(store.path), "--out", str(out)]) == 0
    assert out.is_file() and f"dashboard: {out}" in capsys.readouterr().out
    assert main(["report", "--store", str(tmp_path / "missing.sqlite")]) == 2
    assert "no run store at" in capsys.readouterr().err


def test_report_command_reads_a_run_store_in_postgresql(postgres_url, tmp_path, capsys):
    from toolkit.__main__ import main
    from toolkit.tracking import run_store

    store = run_store(postgres_url)
    for i in range(10):
        store.record(RunRecord(f"r{i}", f"2026-12-01T10:{i:02d}:00+00:00", "q", answer="30 days."), version="A")
    out = tmp_path / "dash.html"
    assert main(["report", "--store", postgres_url, "--out", str(out)]) == 0
    assert "10 runs from the run store, 0 unreadable rows skipped" in out.read_text(encoding="utf-8")

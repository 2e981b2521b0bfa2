"""The notebook sequence follows its conventions (DESIGN section 5); nbval runs the notebooks themselves."""

import runpy
from pathlib import Path

tools = runpy.run_path(str(Path(__file__).resolve().parents[2] / "tools" / "notebooks.py"))


def test_every_notebook_follows_the_conventions():
    assert tools["check"]() == []


def test_the_sequence_starts_at_00_and_follows_the_plan():
    paths = tools["sequence"]()
    assert [p.name for p in paths[:2]] == ["00_start_here.ipynb", "01_minimum_viable_pipeline.ipynb"]
    assert tools["sequence_problems"](paths) == []


def test_a_notebook_under_another_planned_number_is_reported():
    paths = [Path("00_start_here.ipynb"), Path("06_cost_and_caching.ipynb"), Path("12_extra.ipynb")]
    assert tools["sequence_problems"](paths) == [
        "06_cost_and_caching.ipynb: number 06 is planned as 06_confidence_and_escalation.ipynb"]
    assert tools["sequence_problems"]([Path("01_minimum_viable_pipeline.ipynb")]) == [
        "the sequence must start at 00_start_here.ipynb"]


def test_a_notebook_breaking_the_conventions_is_reported(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    nb = new_notebook(cells=[new_markdown_cell("# Untitled"), new_code_cell("1 + 1"), new_code_cell("")])
    path = tmp_path / "7_Bad-Name.ipynb"
    nbformat.write(nb, path)
    found = tools["problems"](path)
    assert "name must be NN_lowercase_slug.ipynb" in found
    assert "first cell must hold an H1 title and a one-line '>' summary" in found
    assert "missing '## Checkpoint'" in found
    assert "no checkpoint(...) cell" in found
    assert "cell 3 is empty" in found
    assert "has no outputs: execute it before committing, so nbval has a baseline" in found

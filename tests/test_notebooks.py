"""The notebook sequence follows its conventions (DESIGN section 5); nbval runs the notebooks themselves."""

import runpy
from pathlib import Path

tools = runpy.run_path(str(Path(__file__).resolve().parents[1] / "tools" / "notebooks.py"))


def test_every_notebook_follows_the_conventions():
    assert tools["check"]() == []


def test_the_sequence_starts_at_00_and_has_no_gaps():
    numbers = [int(p.name[:2]) for p in tools["sequence"]()]
    assert numbers == list(range(len(numbers))) and len(numbers) >= 2


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

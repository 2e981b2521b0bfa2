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
        "06_cost_and_caching.ipynb: number 06 is planned as 06_confidence_and_escalation.ipynb"
    ]
    assert tools["sequence_problems"]([Path("01_minimum_viable_pipeline.ipynb")]) == [
        "the sequence must start at 00_start_here.ipynb"
    ]


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


def test_a_notebook_that_does_not_carry_the_configuration_is_reported(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    first, second = tmp_path / "00_start_here.ipynb", tmp_path / "01_minimum_viable_pipeline.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell('config.save("pipelines/00_start_here.yaml")')]), first)
    nbformat.write(
        new_notebook(cells=[new_code_cell('config = PipelineConfig.load("pipelines/00_start.yaml")')]), second
    )
    assert tools["carry_problems"]([first, second]) == [
        "00_start_here.ipynb: pipelines/00_start_here.yaml is missing: execute the notebook",
        "01_minimum_viable_pipeline.ipynb: must save its configuration as pipelines/01_minimum_viable_pipeline.yaml",
        "01_minimum_viable_pipeline.ipynb: must start from pipelines/00_start_here.yaml",
        "01_minimum_viable_pipeline.ipynb: must add its row to the scoreboard "
        '(Scoreboard(...).add("01_minimum_viable_pipeline", ...))',
    ]

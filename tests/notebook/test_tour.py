"""The tour runs notebooks headless, writes HTML and scores each by its checkpoint cells."""

import json

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from toolkit.notebook.tour import CHECKPOINT_MIME, format_scorecard, run_tour


def notebook(*sources: str, stale_checkpoint: bool = False):
    cells = [new_markdown_cell("# NN · Test\n\n> A test notebook.")] + [new_code_cell(s) for s in sources]
    if stale_checkpoint:  # the committed output of an earlier, passing run
        payload = {"metric": "m", "value": 1.0, "threshold": ">= 0.5", "passed": True}
        cells[-1].outputs = [new_output("display_data", data={CHECKPOINT_MIME: payload, "text/plain": "old"})]
    return new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})


def test_scores_come_from_this_run_never_from_committed_outputs(tmp_path):
    folder, report = tmp_path / "notebooks", tmp_path / "report"
    folder.mkdir()
    nbformat.write(
        notebook("from toolkit import checkpoint", "checkpoint('m', 0.75, at_least=0.5)"), folder / "00_pass.ipynb"
    )
    nbformat.write(
        notebook(
            "from toolkit import checkpoint",
            "raise ValueError('boom')",
            "checkpoint('m', 1.0, at_least=0.5)",
            stale_checkpoint=True,
        ),
        folder / "01_fail.ipynb",
    )
    nbformat.write(
        notebook("from toolkit import checkpoint", "checkpoint('m', 0.25, at_least=0.5)"), folder / "02_below.ipynb"
    )
    scores = run_tour(folder, report, echo=lambda line: None)

    assert [(s.notebook, s.values, s.passed) for s in scores] == [
        ("00_pass.ipynb", {"m": 0.75}, True),
        ("01_fail.ipynb", {}, False),  # the stale 1.0 is gone with the old outputs
        ("02_below.ipynb", {"m": 0.25}, False),
    ]
    assert scores[1].error == "ValueError: boom"
    assert scores[2].error.endswith("AssertionError: checkpoint m = 0.2500 (needs >= 0.5): FAIL")
    assert sorted(p.name for p in report.iterdir()) == [
        "00_pass.html",
        "01_fail.html",
        "02_below.html",
        "index.html",
        "scorecard.json",
    ]
    assert [row["passed"] for row in json.loads((report / "scorecard.json").read_text())] == [True, False, False]
    assert format_scorecard(scores).splitlines()[-1] == "1 of 3 notebooks passed their checkpoint"
    index = (report / "index.html").read_text()
    assert '<a href="00_pass.html">00_<wbr>pass.ipynb</a>' in index
    assert scores[0].title == "NN · Test" and "NN · Test" in index  # each notebook's first heading
    page = (report / "00_pass.html").read_text()
    assert "cdnjs" not in page and 'src="http' not in page  # the report opens offline


def test_the_kernel_talks_over_private_unix_sockets_not_loopback_tcp(tmp_path, capfd):
    from toolkit.notebook.tour import execute_notebook

    nb = notebook("from ipykernel.kernelapp import IPKernelApp\nprint(IPKernelApp.instance().transport)")
    execute_notebook(nb, tmp_path)

    assert nb.cells[1].outputs[0]["text"] == "ipc\n"
    assert "TCP without encryption" not in capfd.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no socket files in the notebook's folder


def test_the_tour_kernels_inherit_the_model_settings_of_its_environment(tmp_path, monkeypatch):
    # A room pointed at one shared server runs `TOOLKIT_LLM=... TOOLKIT_BASE_URL=... python -m toolkit tour`:
    # each notebook's kernel (execute_notebook, as run_tour starts it) inherits the variables, so
    # setup_notebook() resolves them, while a notebook that names its own model (09-11:
    # setup_notebook(llm="extractive")) keeps it, as an argument beats the environment.
    from toolkit.notebook.tour import execute_notebook

    monkeypatch.setenv("TOOLKIT_LLM", "openai-like:shared-model")
    monkeypatch.setenv("TOOLKIT_BASE_URL", "http://192.0.2.10:8000/v1")
    nb = notebook(
        "import toolkit\ns = toolkit.setup_notebook()\nprint(s.llm, s.base_url)",
        "print(toolkit.setup_notebook(llm='extractive').llm)",
    )
    execute_notebook(nb, tmp_path)

    assert [c.outputs[0]["text"] for c in nb.cells[1:]] == [
        "openai-like:shared-model http://192.0.2.10:8000/v1\n",
        "extractive\n",
    ]

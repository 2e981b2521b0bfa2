"""Every docstring example in the package runs, module by module, as `python -m doctest` would run
it (with ELLIPSIS), from the project root (paths such as "datasets/tidewell/corpus" resolve as in a
clone) and inside the suite's isolated TOOLKIT_HOME; an example may use `tmp_path`, a fresh folder,
as a test does. Examples that load a model are marked `# doctest: +SKIP`; importing a module
to find its examples loads no model."""

from __future__ import annotations

import doctest
import importlib
import json
import subprocess
import sys

import pytest

from conftest import PROJECT

# The model runtimes: a module may import them only inside the function that loads a model.
MODEL_RUNTIMES = ("torch", "transformers", "sentence_transformers", "llama_cpp")


def package_modules() -> list[str]:
    """Every module of the toolkit package by its dotted name (`__main__` runs the CLI on import)."""
    names = []
    for path in sorted((PROJECT / "toolkit").rglob("*.py")):
        parts = path.relative_to(PROJECT).with_suffix("").parts
        if parts[-1] != "__main__":
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.mark.parametrize("name", package_modules())
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(PROJECT)
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report: list[str] = []
    examples = doctest.DocTestFinder().find(module, name, extraglobs={"tmp_path": tmp_path})
    for test in sorted(examples, key=lambda t: t.lineno or 0):
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)


def test_importing_every_module_loads_no_model():
    script = (
        "import importlib, json, sys\n"
        f"for name in {package_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in {MODEL_RUNTIMES!r} if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []

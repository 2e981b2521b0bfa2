"""The package's shape: the public API is pinned, stages lean one way, nothing imports in a
circle, no private name crosses a stage, and notebooks use public names only."""

import ast
import json
from pathlib import Path

import toolkit

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "toolkit"

# Lowest first: a module may import from its own stage or an earlier one, never a later one.
STAGES = [
    "errors",
    "config",
    "ray_cluster",
    "text",
    "files",
    "storage",
    "prompting",
    "models",
    "reliability",
    "ingestion",
    "retrieval",
    "cost",
    "validation",
    "confidence",
    "demo",
    "pipeline_config",
    "steps",
    "tracking",
    "pipeline",
    "evaluation",
    "routing",
    "monitoring",
    "notebook",
    "__main__",
]


def test_exported_members():
    assert sorted(toolkit.__all__) == sorted(
        [
            "Answer",
            "CostLedger",
            "Guard",
            "Index",
            "ModelRef",
            "Pipeline",
            "PipelineConfig",
            "PriceTable",
            "PromptSpec",
            "ResponseCache",
            "RetryPolicy",
            "RunRecord",
            "Scoreboard",
            "Settings",
            "ToolkitError",
            "Usage",
            "checkpoint",
            "default_validators",
            "evaluate_answers",
            "ingest",
            "ingest_config",
            "load_settings",
            "load_spec",
            "make_retriever",
            "setup_notebook",
            "__version__",
        ]
    )
    for name in toolkit.__all__:
        assert getattr(toolkit, name) is not None, name


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(name: str, path: Path) -> list[tuple[str, list[str]]]:
    """(imported module, names) for every import in the module, at any depth (function bodies too)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            found.append((".".join(base + ([node.module] if node.module else [])), [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
    return found


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _edges():
    modules = _modules()
    edges = {}
    for name, path in modules.items():
        targets = set()
        for base, names in _imports(name, path):
            for target in [f"{base}.{n}" for n in names] + [base]:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target not in (name, "toolkit"):
                    targets.add(target)
                    break
        edges[name] = targets
    return edges


def test_stages_lean_one_way():
    wrong = [
        f"{source} imports {target}"
        for source, targets in _edges().items()
        for target in targets
        if _stage(source) != "__init__" and STAGES.index(_stage(target)) > STAGES.index(_stage(source))
    ]
    assert wrong == []


def test_every_stage_is_named():
    assert sorted({_stage(m) for m in _modules()} - {"__init__"}) == sorted(STAGES)


def test_no_import_cycles():
    edges, cycles = _edges(), []

    def visit(node, path):
        for target in edges.get(node, ()):
            if target in path:
                cycles.append(path[path.index(target) :] + [target])
            elif len(path) < 12:
                visit(target, path + [target])

    for start in edges:
        visit(start, [start])
    assert cycles == []


def test_no_private_names_across_stages():
    modules = _modules()
    crossing = [
        f"{name} imports {base}.{n}"
        for name, path in modules.items()
        for base, names in _imports(name, path)
        for n in names
        if n.startswith("_") and base.startswith("toolkit.") and _stage(base) != _stage(name)
    ]
    assert crossing == []


def test_notebooks_import_only_public_names():
    # a stage's package, or a top-level module such as toolkit.errors: each has an __all__
    packages = {name: path for name, path in _modules().items() if path.name == "__init__.py" or name.count(".") == 1}
    bad = []
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("toolkit"):
                if node.module not in packages:
                    bad.append(f"{notebook.name}: from {node.module} (a module inside a stage, not its package)")
                    continue
                public = set(getattr(__import__(node.module, fromlist=["__all__"]), "__all__", []))
                bad += [f"{notebook.name}: {node.module}.{a.name}" for a in node.names if a.name not in public]
    assert bad == []

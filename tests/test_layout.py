"""The tests mirror the package: each module has its own test file."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "toolkit"
TESTS = ROOT / "tests"

# Modules without a test file of their own, on purpose. Keep this as small as possible: each entry
# says why, and a module that gains a test file must leave the set.
EXEMPT: set[str] = set()


def test_each_module_has_a_test_file():
    """toolkit/<stage>/<mod>.py is tested in tests/<stage>/test_<mod>.py, and a top-level
    toolkit/<mod>.py in tests/test_<mod>.py (package __init__ files and __main__ excluded:
    tests/test_cli.py runs the CLI)."""
    modules = sorted(
        path.relative_to(PACKAGE) for path in PACKAGE.rglob("*.py") if path.name not in ("__init__.py", "__main__.py")
    )
    assert modules, f"no modules found under {PACKAGE}"
    missing = [
        f"toolkit/{module.as_posix()} -> tests/{(module.parent / f'test_{module.name}').as_posix()}"
        for module in modules
        if module.as_posix() not in EXEMPT and not (TESTS / module.parent / f"test_{module.name}").is_file()
    ]
    assert not missing, "modules without their test file:\n" + "\n".join(missing)
    stale = sorted(
        name
        for name in EXEMPT
        if not (PACKAGE / name).is_file() or (TESTS / Path(name).parent / f"test_{Path(name).name}").is_file()
    )
    assert not stale, f"exempt, but no such module or it has its test file now: {stale}"

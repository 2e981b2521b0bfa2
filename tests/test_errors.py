"""The error hierarchy as its docstring draws it, the transient marks retries read, and `require`."""

from __future__ import annotations

import inspect
import re

import pytest

from toolkit import errors
from toolkit.errors import (
    CallTimeoutError,
    EffectInProgressError,
    MalformedOutputError,
    MissingDependencyError,
    OutputRejected,
    ToolkitError,
    require,
)

# "├── ConfigError            a setting is invalid or a key is missing" -> (name, description)
_BRANCH = re.compile(r"^\s*[├└]── (\w+)\s+(.*)$")


def documented_tree() -> tuple[str, list[tuple[str, str]]]:
    """The root and the (name, description) branches of the tree in the module docstring."""
    lines = errors.__doc__.splitlines()
    first = next(i for i, line in enumerate(lines) if _BRANCH.match(line))
    root = lines[first - 1].strip()
    branches = [_BRANCH.match(line).groups() for line in lines[first:] if _BRANCH.match(line)]
    return root, branches


def defined_errors() -> dict[str, type]:
    return {
        name: cls
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if cls.__module__ == errors.__name__ and issubclass(cls, Exception)
    }


def test_the_docstring_tree_is_the_class_hierarchy():
    root, branches = documented_tree()
    assert root == "ToolkitError"
    names = [name for name, _ in branches]
    assert len(names) == len(set(names))
    assert set(names) | {root} == set(defined_errors())
    for name in names:
        assert ToolkitError in defined_errors()[name].__bases__, name  # one level below the root
    assert all(description for _, description in branches)
    # the tree's last branch is drawn └──, every other ├──
    drawn = [line.lstrip()[0] for line in errors.__doc__.splitlines() if _BRANCH.match(line)]
    assert drawn == ["├"] * (len(names) - 1) + ["└"]


def test_all_lists_the_errors_in_the_order_of_the_tree():
    root, branches = documented_tree()
    assert errors.__all__ == [root, *(name for name, _ in branches)]


def test_transient_errors_are_marked_and_documented_as_such():
    transient = {name for name, cls in defined_errors().items() if getattr(cls, "transient", False)}
    assert transient == {"MalformedOutputError", "CallTimeoutError", "EffectInProgressError"}
    _, branches = documented_tree()
    assert {name for name, description in branches if "(transient" in description} == transient
    assert MalformedOutputError.transient is CallTimeoutError.transient is EffectInProgressError.transient is True


def test_a_call_timeout_is_also_a_timeout_error():
    assert issubclass(CallTimeoutError, TimeoutError) and issubclass(CallTimeoutError, ToolkitError)
    with pytest.raises(TimeoutError):
        raise CallTimeoutError("the call ran past 30 s")


def test_output_rejected_keeps_its_reports():
    rejected = OutputRejected("safety rejected the answer (email)", reports=("r1", "r2"))
    assert (str(rejected), rejected.reports) == ("safety rejected the answer (email)", ["r1", "r2"])
    assert OutputRejected("no reports").reports == []


def test_require_returns_the_module():
    import json

    assert require("json", "core") is json


def test_require_names_the_install_command_of_the_extra():
    with pytest.raises(MissingDependencyError) as info:
        require("toolkit_no_such_module", "anthropic")
    assert str(info.value) == (
        "toolkit_no_such_module is not installed; run: pip install 'llm-pipeline-toolkit[anthropic]'"
    )
    assert isinstance(info.value.__cause__, ModuleNotFoundError)
    assert isinstance(info.value, ToolkitError)

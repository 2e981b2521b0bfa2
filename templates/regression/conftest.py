# The `regression` fixture: the same check as `python -m toolkit regress check DIR`.
from toolkit.evaluation.pytest_plugin import regression  # noqa: F401

"""Where the bundled data lives, and the evaluation set as a validated DataFrame.

The data sets sit in the project's `datasets/` folder (see datasets/README.md). Point
`TOOLKIT_DATASETS` elsewhere to use a copy.

    >>> questions = load_questions()          # doctest: +SKIP
    >>> questions.loc[0, "question"]           # doctest: +SKIP
    'How long do I have to return an item?'
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import ConfigError

__all__ = [
    "datasets_root",
    "tidewell_corpus",
    "tidewell_questions",
    "tidewell_customer_questions",
    "load_questions",
    "read_jsonl",
    "QUESTION_FIELDS",
]

QUESTION_FIELDS = {
    "id": str,
    "question": str,
    "answer": str,
    "aliases": list,
    "sources": list,
    "category": str,
    "difficulty": str,
    "answerable": bool,
}


def datasets_root() -> Path:
    root = Path(os.environ.get("TOOLKIT_DATASETS") or Path(__file__).resolve().parents[2] / "datasets")
    if not root.is_dir():
        raise ConfigError(
            f"the bundled data sets are not at {root}; work from a clone of the project "
            f"(pip install -e .) or set TOOLKIT_DATASETS to the datasets folder"
        )
    return root


def tidewell_corpus() -> Path:
    """The folder of Tidewell Home documents."""
    return datasets_root() / "tidewell" / "corpus"


def tidewell_questions() -> Path:
    return datasets_root() / "tidewell" / "eval" / "questions.jsonl"


def tidewell_customer_questions() -> Path:
    """240 questions typed the way customers type (typos, chat, two facts, near misses), split
    into `dev` (fit and choose on it) and `test` (report on it); see the data set's README."""
    return datasets_root() / "tidewell" / "eval" / "customer_questions.jsonl"


def read_jsonl(path: str | Path, fields: dict[str, type] | None = None, what: str = "records") -> list[dict]:
    """The records of a JSON-lines file, each checked for `fields` (name -> type); raises
    ConfigError naming the file and line of a malformed record, or saying the file is missing.

    >>> read_jsonl(tidewell_questions(), {"id": str})[0]["id"]
    'q001'
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"{path} does not exist; point TOOLKIT_DATASETS at a datasets folder that has it, or pass the file's path"
        )
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}, line {number}: not valid JSON ({exc.msg})") from exc
        for name, kind in (fields or {}).items():
            if not isinstance(row.get(name), kind):
                raise ConfigError(f"{path}, line {number}: field {name!r} must be a {kind.__name__}")
        rows.append(row)
    if not rows:
        raise ConfigError(f"{path} holds no {what}")
    return rows


def load_questions(path: str | Path | None = None):
    """The evaluation set as a DataFrame, one row per question; raises ConfigError naming the
    line of any malformed record."""
    import pandas as pd

    rows = read_jsonl(path or tidewell_questions(), QUESTION_FIELDS, what="questions")
    extra = [name for name in dict.fromkeys(k for row in rows for k in row) if name not in QUESTION_FIELDS]
    return pd.DataFrame(rows, columns=[*QUESTION_FIELDS, *extra])  # extra keys (style, split) kept after

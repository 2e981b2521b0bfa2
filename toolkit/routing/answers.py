"""Each tier's answer to each question, produced once and stored, so that any routing policy is
evaluated by replay, with no new model call.

    >>> store = TierAnswers(tmp_path / "answers.jsonl", version="abc123def456")
    >>> store.add({"question_id": "q1", "tier": "quote", "answer": "30 days.", "correct": True})
    >>> TierAnswers.load(tmp_path / "answers.jsonl", version="abc123def456").has("quote", "q1")
    True

The file is JSON lines: a header naming the pipeline version the answers belong to (see
`tiers.answers_version`), then one line per answer, appended and flushed as soon as it exists.
A run that stops halfway loses nothing it finished: `collect` skips what is stored. A last line
cut short by a crash is dropped on reading (and answered again); a broken line elsewhere, or
answers from another pipeline version, is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import ConfigError

__all__ = ["TierAnswers", "TierAnswersError", "collect"]

FORMAT = 1


class TierAnswersError(ConfigError):
    """Stored tier answers that cannot be used: another pipeline version, or a broken file."""


class TierAnswers:
    """The stored answers of one pipeline version (see the module docstring)."""

    def __init__(self, path: str | Path, version: str):
        self.path, self.version = Path(path), version
        self.rows: list[dict] = []
        self._keys: set[tuple[str, str]] = set()

    @classmethod
    def load(cls, path: str | Path, version: str, *, create: bool = False) -> TierAnswers:
        """The answers in `path`, refused unless they belong to `version` (`create`: start one if missing)."""
        store = cls(path, version)
        if not store.path.exists():
            if create:
                return store
            raise TierAnswersError(f"no stored tier answers at {store.path}; collect them with routing.collect(...)")
        lines = store.path.read_text(encoding="utf-8").splitlines()
        try:
            header = json.loads(lines[0]) if lines else {}
        except json.JSONDecodeError:
            header = {}
        if header.get("format") != FORMAT or "version" not in header:
            raise TierAnswersError(f"{store.path} is not a tier answers file (no header line); move it aside")
        if header["version"] != version:
            raise TierAnswersError(
                f"{store.path} holds answers of pipeline version {header['version']}, not {version}: a policy "
                "replayed over another pipeline's answers would be measured on answers it would not get; "
                "collect the answers again for this version (another file, or delete this one)"
            )
        for number, line in enumerate(lines[1:], start=2):
            try:
                store._remember(json.loads(line))
            except json.JSONDecodeError:
                if number == len(lines):  # cut short by a crash mid-write: answered again on resume
                    continue
                raise TierAnswersError(f"{store.path}, line {number}, is not JSON; fix or delete that line") from None
        return store

    def _remember(self, row: dict) -> None:
        key = (row["tier"], str(row["question_id"]))
        if key not in self._keys:
            self._keys.add(key)
            self.rows.append(row)

    def has(self, tier: str, question_id) -> bool:
        return (tier, str(question_id)) in self._keys

    def add(self, row: dict) -> None:
        """Append one answer (a dict with at least question_id, tier, answer, correct) and flush it."""
        missing = {"question_id", "tier", "answer", "correct"} - set(row)
        if missing:
            raise TierAnswersError(f"a stored answer needs {', '.join(sorted(missing))}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        if not fresh:  # a torn last line from a crash: cut it off (`load` skipped it) before appending
            with self.path.open("r+b") as handle:
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    handle.truncate(self.path.read_bytes().rfind(b"\n") + 1)
        with self.path.open("a", encoding="utf-8") as handle:
            if fresh:
                handle.write(json.dumps({"format": FORMAT, "version": self.version}) + "\n")
            handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self._remember(row)

    def frame(self):
        """Every stored answer as a DataFrame, one row per (question, tier)."""
        import pandas as pd

        return pd.DataFrame(self.rows)


def collect(store: TierAnswers, tier: str, pipeline, questions, *, show_progress: bool = False) -> int:
    """Ask `pipeline` (one tier's) every question of `questions` (the evaluation set's format)
    that `store` does not hold yet, storing each answer with its correctness, confidence signals
    and usage as soon as it exists. Returns how many were asked."""
    from tqdm.auto import tqdm

    from ..evaluation import answer_correct

    todo = [q for q in questions.itertuples() if not store.has(tier, q.id)]
    for q in tqdm(todo, desc=f"Answering ({tier})", disable=not show_progress):
        answer = pipeline.ask(q.question, raise_errors=False)
        r = answer.record
        store.add(
            {
                "question_id": q.id,
                "tier": tier,
                "answer": answer.text,
                "correct": bool(answer_correct(answer.text, q.answer, q.aliases, q.answerable)),
                "error": r.error,
                "signals": r.get("confidence.signals"),
                "input_tokens": r.input_tokens,
                "output_tokens": r.output_tokens,
                "compute_s": round(r.compute_s, 4),
                "latency_s": round(r.total_s, 4),
                "model": r.model,
            }
        )
    return len(todo)

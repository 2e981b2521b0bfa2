"""Writing a file so that a reader never sees half of it: a temporary file beside it, then a rename.

    >>> path = write_atomic(tmp_path / "notes" / "a.txt", "hello\\n")
    >>> path.read_text(), oct(path.stat().st_mode & 0o777) == oct(0o666 & ~current_umask())
    ('hello\\n', True)

The file gets the permissions any new file gets (mkstemp's would be private), and is synced to
disk before the rename. A SQLite write goes the same way: `write_transaction` commits all of it or
none. Not here: folders of several files (ingestion.persist.VersionedFolder).
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["write_atomic", "current_umask", "transaction", "write_transaction", "read_json"]


def current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def write_atomic(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically; the folder is created if missing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o666 & ~current_umask())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction on `db` (a connection opened with `isolation_level=None`).

    BEGIN IMMEDIATE takes the write lock up front, so two processes never both read a row as free
    and both claim it; any error rolls everything back.

        >>> db = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
        >>> with transaction(db):
        ...     _ = db.execute("CREATE TABLE t (x)")
        >>> db.in_transaction
        False
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


@contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """`transaction(db)` on a connection opened for it, closed afterwards.

    >>> with write_transaction(sqlite3.connect(tmp_path / "u.db", isolation_level=None)) as db:
    ...     _ = db.execute("CREATE TABLE t (x)")
    """
    try:
        with transaction(db):
            yield db
    finally:
        db.close()


def read_json(path: Path, what: str, error: type[Exception], hint: str):
    """The JSON in `path`; a missing or unreadable file raises `error`, naming `what` it should be
    and the `hint` on how to make one.

        >>> read_json(tmp_path / "none.json", "baseline", ValueError, "write one")
        Traceback (most recent call last):
        ValueError: no baseline at .../none.json; write one
    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise error(f"no {what} at {path}; {hint}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"the {what} {path} is corrupt ({exc}); {hint}") from exc

"""Writing a file so that a reader never sees half of it: a temporary file beside it, then a rename.

    >>> path = write_atomic(tmp_path / "notes" / "a.txt", "hello\\n")
    >>> path.read_text(), oct(path.stat().st_mode & 0o777) == oct(0o666 & ~current_umask())
    ('hello\\n', True)

The file gets the permissions any new file gets (mkstemp's would be private), and is synced to
disk before the rename. Not here: folders of several files (ingestion.persist.VersionedFolder).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomic", "current_umask"]


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

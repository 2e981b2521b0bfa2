"""Atomic, checksummed persistence of a folder of files.

A persisted folder holds numbered versions and a `CURRENT` file naming the live one:

    index/CURRENT            "v000002"
    index/v000002/...        the files, plus manifest.json with a SHA-256 of each

A writer builds the next version in a staging folder, flushes it to disk, renames it into
place and only then replaces `CURRENT` (an atomic rename). A process killed at any point leaves
`CURRENT` naming a complete version. A reader checks every checksum, so a truncated or edited
file is reported by name instead of loading as a silently empty index.

    >>> folder = VersionedFolder(tmp_path / "idx")                  # doctest: +SKIP
    >>> with folder.write({"kind": "demo"}) as staging:             # doctest: +SKIP
    ...     (staging / "data.txt").write_text("hello")
    >>> folder.read()[1]["kind"]                                    # doctest: +SKIP
    'demo'

Not here: what the files mean (index.py decides that).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import IndexCorruptError

__all__ = ["VersionedFolder"]

MANIFEST = "manifest.json"
CURRENT = "CURRENT"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class VersionedFolder:
    """A folder whose contents are replaced all at once or not at all."""

    def __init__(self, root: str | Path, fix_hint: str = "delete the folder and build it again"):
        self.root = Path(root)
        self.fix_hint = fix_hint

    def exists(self) -> bool:
        return (self.root / CURRENT).is_file()

    def current(self) -> Path:
        """The live version's folder; raises IndexCorruptError when there is none."""
        pointer = self.root / CURRENT
        if not pointer.is_file():
            raise IndexCorruptError(f"{self.root} holds no index ({pointer} is missing); {self.fix_hint}")
        name = pointer.read_text(encoding="utf-8").strip()
        folder = self.root / name
        if not name.startswith("v") or not folder.is_dir():
            raise IndexCorruptError(f"{pointer} names {name!r}, which is not a version folder; {self.fix_hint}")
        return folder

    def read(self) -> tuple[Path, dict]:
        """Verify the live version against its manifest; return its folder and the manifest's metadata."""
        folder = self.current()
        manifest_path = folder / MANIFEST
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            files = manifest["files"]
        except (OSError, ValueError, KeyError) as exc:
            raise IndexCorruptError(f"{manifest_path} is missing or unreadable ({exc}); {self.fix_hint}") from exc
        for name, expected in files.items():
            path = folder / name
            if not path.is_file():
                raise IndexCorruptError(f"{path} is missing; {self.fix_hint}")
            if _sha256(path) != expected:
                raise IndexCorruptError(f"{path} is corrupt (its checksum does not match the manifest); {self.fix_hint}")
        return folder, manifest.get("meta", {})

    @contextmanager
    def write(self, meta: dict) -> Iterator[Path]:
        """Yield an empty staging folder; on a clean exit, publish it as the new live version."""
        self.root.mkdir(parents=True, exist_ok=True)
        number = 1 + max((int(p.name[1:]) for p in self.root.glob("v[0-9]*") if p.name[1:].isdigit()), default=0)
        name = f"v{number:06d}"
        staging = self.root / f".staging-{name}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            yield staging
            files = {}
            for path in sorted(p for p in staging.rglob("*") if p.is_file()):
                _fsync(path)
                files[path.relative_to(staging).as_posix()] = _sha256(path)
            (staging / MANIFEST).write_text(json.dumps({"files": files, "meta": meta}, indent=1), encoding="utf-8")
            _fsync(staging / MANIFEST)
            os.rename(staging, self.root / name)
            pointer = self.root / f".{CURRENT}.tmp-{os.getpid()}"
            pointer.write_text(name + "\n", encoding="utf-8")
            _fsync(pointer)
            os.replace(pointer, self.root / CURRENT)  # the commit point
            _fsync(self.root)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._remove_old(keep=name)

    def _remove_old(self, keep: str) -> None:
        for path in self.root.iterdir():
            stale_version = path.name.startswith("v") and path.name != keep
            if path.is_dir() and (stale_version or path.name.startswith(".staging-")):
                shutil.rmtree(path, ignore_errors=True)
            elif path.is_file() and path.name.startswith(f".{CURRENT}.tmp-"):  # left by a killed writer
                path.unlink(missing_ok=True)

"""Atomic, checksummed persistence of a folder of files.

A persisted folder holds numbered versions and a `CURRENT` file naming the live one:

    index/CURRENT            "v000002"
    index/v000002/...        the files, plus manifest.json with a SHA-256 of each

A writer builds the next version in a staging folder, flushes it to disk, renames it into
place and only then replaces `CURRENT` (an atomic rename). A process killed at any point leaves
`CURRENT` naming a complete version. A reader checks every checksum, so a truncated or edited
file is reported by name instead of loading as a silently empty index. Writers of one folder
take turns through a lock file (`filelock`), and a folder that holds anything else is refused,
so pointing an index at the wrong place never deletes a user's files.

    >>> folder = VersionedFolder(tmp_path / "idx")
    >>> with folder.write({"kind": "demo"}) as staging:
    ...     _ = (staging / "data.txt").write_text("hello")
    >>> folder.read()[1]["kind"]
    'demo'

Not here: what the files mean (index.py decides that).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ConfigError, IndexCorruptError

__all__ = ["VersionedFolder", "sha256_file"]

MANIFEST = "manifest.json"
CURRENT = "CURRENT"
VERSION = re.compile(r"^v\d{6}$")
# Everything a VersionedFolder may hold; anything else means the folder is someone else's.
OWN = re.compile(r"^(v\d{6}|CURRENT|\.staging-v\d{6}-\d+|\.CURRENT\.tmp-\d+)$")


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    if os.name == "nt" and path.is_dir():  # Windows cannot open a folder to flush it
        return
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
        if not VERSION.match(name) or not folder.is_dir():
            raise IndexCorruptError(f"{pointer} names {name!r}, which is not a version folder; {self.fix_hint}")
        return folder

    def lock(self, timeout: float = 600):
        """An exclusive lock for a read-modify-write of this folder: `with folder.lock(): ...`.

        The lock file sits beside the folder (`.<name>.lock`), so taking the lock creates no
        folder: a run that ends up writing nothing leaves no empty index behind.
        """
        from filelock import FileLock

        self._check_owned()
        self.root.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.lock_path), timeout=timeout)

    @property
    def lock_path(self) -> Path:
        return self.root.parent / f".{self.root.name}.lock"

    def _check_owned(self) -> None:
        if not self.root.exists():
            return
        if not self.root.is_dir():
            raise ConfigError(f"{self.root} is a file, not an index folder; choose another path")
        foreign = sorted(p.name for p in self.root.iterdir() if not OWN.match(p.name))
        if foreign:
            raise ConfigError(
                f"{self.root} is not an index folder (it holds {foreign[0]!r}); "
                f"choose an empty or new folder for the index"
            )

    def read(self) -> tuple[Path, dict]:
        """Verify the live version against its manifest; return its folder and the manifest's metadata.

        A writer may publish a new version and delete the old one while we read; then the
        version we started on vanishes, and we read again from the new `CURRENT`.
        """
        try:
            return self._read()
        except FileNotFoundError:
            try:
                return self._read()
            except FileNotFoundError as exc:
                raise IndexCorruptError(
                    f"{exc.filename} vanished while it was read: another process is "
                    f"rewriting {self.root}; try again when it is done"
                ) from exc

    def _read(self) -> tuple[Path, dict]:
        folder = self.current()
        manifest_path = folder / MANIFEST
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            files = manifest["files"]
        except FileNotFoundError:
            if not folder.exists():
                raise  # deleted under us by a writer: read() tries again
            raise IndexCorruptError(f"{manifest_path} is missing; {self.fix_hint}") from None
        except (OSError, ValueError, KeyError) as exc:
            raise IndexCorruptError(f"{manifest_path} is missing or unreadable ({exc}); {self.fix_hint}") from exc
        for name, expected in files.items():
            path = folder / name
            if not path.is_file():
                if not folder.exists():
                    raise FileNotFoundError(path)  # deleted under us by a writer: read() tries again
                raise IndexCorruptError(f"{path} is missing; {self.fix_hint}")
            if sha256_file(path) != expected:
                raise IndexCorruptError(
                    f"{path} is corrupt (its checksum does not match the manifest); {self.fix_hint}"
                )
        return folder, manifest.get("meta", {})

    @contextmanager
    def write(self, meta: dict) -> Iterator[Path]:
        """Yield an empty staging folder; on a clean exit, publish it as the new live version.

        Hold `lock()` around the read-modify-write that leads here when writers may overlap.
        """
        self._check_owned()
        self.root.mkdir(parents=True, exist_ok=True)
        number = 1 + max((int(p.name[1:]) for p in self.root.iterdir() if VERSION.match(p.name)), default=0)
        name = f"v{number:06d}"
        staging = self.root / f".staging-{name}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            yield staging
            files = {}
            for path in sorted(p for p in staging.rglob("*") if p.is_file()):
                _fsync(path)
                files[path.relative_to(staging).as_posix()] = sha256_file(path)
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
        self._remove_old()

    def _remove_old(self) -> None:
        """Delete versions `CURRENT` does not name, and what killed writers left; nothing else."""
        keep = (self.root / CURRENT).read_text(encoding="utf-8").strip()
        for path in self.root.iterdir():
            if VERSION.match(path.name) and path.name != keep and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.name.startswith(".staging-") and OWN.match(path.name) and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.name.startswith(f".{CURRENT}.tmp-") and OWN.match(path.name):
                path.unlink(missing_ok=True)

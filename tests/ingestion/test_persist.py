"""Atomic, checksummed versions (VersionedFolder): written whole or not at all, verified on read."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from toolkit.errors import IndexCorruptError
from toolkit.ingestion.persist import VersionedFolder

HINT = "delete the folder and build it again"


def write_version(folder: VersionedFolder, meta: dict, files: dict[str, str]) -> None:
    with folder.write(meta) as staging:
        for name, text in files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_text(text, encoding="utf-8")


def entries(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


# --- VersionedFolder -------------------------------------------------------------------------


def test_round_trip(tmp_path):
    folder = VersionedFolder(tmp_path / "idx")
    assert not folder.exists()
    write_version(folder, {"kind": "demo", "n": 2}, {"data.txt": "hello", "sub/more.txt": "world"})
    assert folder.exists()
    live, meta = folder.read()
    assert live == tmp_path / "idx" / "v000001"
    assert meta == {"kind": "demo", "n": 2}
    assert (live / "data.txt").read_text() == "hello"
    assert (live / "sub" / "more.txt").read_text() == "world"
    assert (tmp_path / "idx" / "CURRENT").read_text() == "v000001\n"
    manifest = json.loads((live / "manifest.json").read_text())
    assert manifest == {
        "files": {
            "data.txt": hashlib.sha256(b"hello").hexdigest(),
            "sub/more.txt": hashlib.sha256(b"world").hexdigest(),
        },
        "meta": {"kind": "demo", "n": 2},
    }
    assert entries(tmp_path / "idx") == ["CURRENT", "v000001"]


def test_a_new_version_replaces_the_old_one(tmp_path):
    folder = VersionedFolder(tmp_path / "idx")
    write_version(folder, {"v": 1}, {"data.txt": "one"})
    write_version(folder, {"v": 2}, {"data.txt": "two"})
    live, meta = folder.read()
    assert (live.name, meta, (live / "data.txt").read_text()) == ("v000002", {"v": 2}, "two")
    assert entries(tmp_path / "idx") == ["CURRENT", "v000002"]


def test_an_exception_inside_the_block_publishes_nothing(tmp_path):
    folder = VersionedFolder(tmp_path / "idx")
    write_version(folder, {"v": 1}, {"data.txt": "one"})
    with pytest.raises(RuntimeError, match="disk full"):
        with folder.write({"v": 2}) as staging:
            (staging / "data.txt").write_text("half")
            raise RuntimeError("disk full")
    live, meta = folder.read()
    assert (live.name, meta, (live / "data.txt").read_text()) == ("v000001", {"v": 1}, "one")
    assert entries(tmp_path / "idx") == ["CURRENT", "v000001"]  # the staging folder is gone


def test_truncated_file_is_named(tmp_path):
    root = tmp_path / "idx"
    folder = VersionedFolder(root, fix_hint="rebuild it")
    write_version(folder, {}, {"data.txt": "hello world"})
    with open(root / "v000001" / "data.txt", "r+b") as f:
        f.truncate(5)
    with pytest.raises(IndexCorruptError) as info:
        folder.read()
    assert str(info.value) == (
        f"{root / 'v000001' / 'data.txt'} is corrupt (its checksum does not match the manifest); rebuild it"
    )


def test_edited_file_is_named(tmp_path):
    root = tmp_path / "idx"
    folder = VersionedFolder(root)
    write_version(folder, {}, {"a.txt": "alpha", "b.txt": "beta"})
    (root / "v000001" / "b.txt").write_text("BETA")  # same length, other bytes
    with pytest.raises(IndexCorruptError) as info:
        folder.read()
    assert str(info.value) == (
        f"{root / 'v000001' / 'b.txt'} is corrupt (its checksum does not match the manifest); {HINT}"
    )


def test_deleted_file_is_named(tmp_path):
    root = tmp_path / "idx"
    folder = VersionedFolder(root)
    write_version(folder, {}, {"a.txt": "alpha"})
    (root / "v000001" / "a.txt").unlink()
    with pytest.raises(IndexCorruptError) as info:
        folder.read()
    assert str(info.value) == f"{root / 'v000001' / 'a.txt'} is missing; {HINT}"


def test_missing_current_is_named(tmp_path):
    root = tmp_path / "idx"
    folder = VersionedFolder(root)
    write_version(folder, {}, {"a.txt": "alpha"})
    (root / "CURRENT").unlink()
    assert not folder.exists()
    with pytest.raises(IndexCorruptError) as info:
        folder.read()
    assert str(info.value) == f"{root} holds no index ({root / 'CURRENT'} is missing); {HINT}"


def test_current_naming_no_version(tmp_path):
    root = tmp_path / "idx"
    folder = VersionedFolder(root)
    write_version(folder, {}, {"a.txt": "alpha"})
    (root / "CURRENT").write_text("v000009\n")
    with pytest.raises(IndexCorruptError) as info:
        folder.read()
    assert str(info.value) == f"{root / 'CURRENT'} names 'v000009', which is not a version folder; {HINT}"


def test_unreadable_manifest_is_named(tmp_path):
    root = tmp_path / "idx"
    folder = VersionedFolder(root)
    write_version(folder, {}, {"a.txt": "alpha"})
    (root / "v000001" / "manifest.json").write_text('{"files": ')
    with pytest.raises(IndexCorruptError) as info:
        folder.read()
    message = str(info.value)
    assert message.startswith(f"{root / 'v000001' / 'manifest.json'} is missing or unreadable (")
    assert message.endswith(f"); {HINT}")


# A writer that dies inside the `with folder.write(...)` block, half-way through a large file.
WRITER = textwrap.dedent("""
    import os, sys
    from toolkit.ingestion.persist import VersionedFolder
    folder = VersionedFolder(sys.argv[1])
    with folder.write({"version": 2}) as staging:
        with open(staging / "data.txt", "wb") as f:
            f.write(b"new content, " * 1_000_000)      # 13 MB of the new version
            f.flush()
            if sys.argv[2] == "exit":
                os._exit(1)                             # dies without cleaning up
            print("writing", flush=True)
            while True:                                 # keeps writing until SIGKILL
                f.write(b"more " * 100_000)
""")


@pytest.mark.parametrize("how", ["exit", "sigkill"])
def test_a_writer_killed_mid_write_leaves_the_previous_version_readable(tmp_path, how):
    root = tmp_path / "idx"
    folder = VersionedFolder(root)
    write_version(folder, {"version": 1}, {"data.txt": "old content"})

    if how == "exit":
        done = subprocess.run([sys.executable, "-c", WRITER, str(root), how], capture_output=True, timeout=60)
        assert done.returncode == 1, done.stderr
    else:
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(root), how], stdout=subprocess.PIPE)
        assert writer.stdout.readline() == b"writing\n"
        time.sleep(0.2)
        writer.send_signal(signal.SIGKILL)
        assert writer.wait(timeout=30) == -signal.SIGKILL

    # The dead writer left its staging folder behind, and nothing else changed.
    staging = [p for p in root.iterdir() if p.name.startswith(".staging-")]
    assert [p.name.rsplit("-", 1)[0] for p in staging] == [".staging-v000002"]
    assert (staging[0] / "data.txt").stat().st_size >= 13_000_000
    live, meta = folder.read()
    assert (live.name, meta, (live / "data.txt").read_text()) == ("v000001", {"version": 1}, "old content")

    # The next write succeeds and cleans up the dead writer's staging folder.
    write_version(folder, {"version": 3}, {"data.txt": "newest"})
    live, meta = folder.read()
    assert (live.name, meta, (live / "data.txt").read_text()) == ("v000002", {"version": 3}, "newest")
    assert entries(root) == ["CURRENT", "v000002"]


def test_leftovers_of_a_killed_writer_are_cleaned_by_the_next_write(tmp_path):
    folder = VersionedFolder(tmp_path / "idx")
    write_version(folder, {"v": 1}, {"data.txt": "one"})
    # A writer killed after writing its pointer file but before the rename leaves these behind.
    (tmp_path / "idx" / ".CURRENT.tmp-99999").write_text("v000009\n")
    (tmp_path / "idx" / ".staging-v000002-99999").mkdir()
    assert folder.read()[1] == {"v": 1}
    write_version(folder, {"v": 2}, {"data.txt": "two"})
    assert entries(tmp_path / "idx") == ["CURRENT", "v000002"]

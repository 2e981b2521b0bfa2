"""Atomic, checksummed versions (VersionedFolder), and the Index that persists through them."""

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
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

from toolkit.errors import IndexCorruptError
from toolkit.index import FORMAT_VERSION, Index
from toolkit.persist import VersionedFolder

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
    assert manifest == {"files": {"data.txt": hashlib.sha256(b"hello").hexdigest(),
                                  "sub/more.txt": hashlib.sha256(b"world").hexdigest()},
                        "meta": {"kind": "demo", "n": 2}}
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
    assert entries(tmp_path / "idx") == ["CURRENT", "v000001"]   # the staging folder is gone


def test_truncated_file_is_named(tmp_path):
    root = tmp_path / "idx"
    folder = VersionedFolder(root, fix_hint="rebuild it")
    write_version(folder, {}, {"data.txt": "hello world"})
    with open(root / "v000001" / "data.txt", "r+b") as f:
        f.truncate(5)
    with pytest.raises(IndexCorruptError) as info:
        folder.read()
    assert str(info.value) == (f"{root / 'v000001' / 'data.txt'} is corrupt (its checksum does not match "
                               f"the manifest); rebuild it")


def test_edited_file_is_named(tmp_path):
    root = tmp_path / "idx"
    folder = VersionedFolder(root)
    write_version(folder, {}, {"a.txt": "alpha", "b.txt": "beta"})
    (root / "v000001" / "b.txt").write_text("BETA")   # same length, other bytes
    with pytest.raises(IndexCorruptError) as info:
        folder.read()
    assert str(info.value) == (f"{root / 'v000001' / 'b.txt'} is corrupt (its checksum does not match "
                               f"the manifest); {HINT}")


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
    from toolkit.persist import VersionedFolder
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


# --- Index -----------------------------------------------------------------------------------

def node(node_id: str, doc: str, text: str, embedding: list[float]) -> TextNode:
    return TextNode(id_=node_id, text=text, embedding=embedding,
                    relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc)})


def small_index(path: Path) -> Index:
    index = Index.create(3, meta={"embed_model": "test:3d"}, path=path)
    index.store.add([node("n1", "a.md", "alpha", [1.0, 0.0, 0.0]),
                     node("n2", "a.md", "alpha two", [0.0, 1.0, 0.0]),
                     node("n3", "b.md", "beta", [0.0, 0.0, 1.0])])
    index.save()
    return index


def test_index_round_trip(tmp_path):
    path = tmp_path / "index"
    small_index(path)
    assert Index.exists(path)
    opened = Index.open(path)
    assert opened.chunks == 3
    assert opened.path == path
    assert {k: v for k, v in opened.meta.items() if k != "saved"} == {
        "embed_model": "test:3d", "format": FORMAT_VERSION, "chunks": 3, "documents": 2}
    assert opened.store.documents() == ["a.md", "b.md"]
    assert sorted(n.get_content() for n in opened.store.get_nodes()) == ["alpha", "alpha two", "beta"]
    files = sorted(p.relative_to(path / "v000001").as_posix() for p in (path / "v000001").rglob("*") if p.is_file())
    assert files == ["manifest.json", "pipeline/docstore.json", "store/nodes.jsonl", "store/vectors.faiss"]


def test_index_that_does_not_exist(tmp_path):
    path = tmp_path / "nothing"
    assert not Index.exists(path)
    with pytest.raises(IndexCorruptError) as info:
        Index.open(path)
    assert str(info.value) == (f"{path} holds no index ({path / 'CURRENT'} is missing); "
                               f"rebuild it with: python -m toolkit ingest SOURCE_FOLDER --index {path}")


@pytest.mark.parametrize("name", ["store/nodes.jsonl", "store/vectors.faiss", "pipeline/docstore.json"])
@pytest.mark.parametrize("damage", ["truncate", "empty", "edit"])
def test_corrupt_index_file_is_named_never_an_empty_index(tmp_path, name, damage):
    path = tmp_path / "index"
    small_index(path)
    target = path / "v000001" / name
    data = target.read_bytes()
    if damage == "truncate":
        target.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        target.write_bytes(b"")
    else:
        target.write_bytes(data[:-3] + bytes(b ^ 0xFF for b in data[-3:]))
    with pytest.raises(IndexCorruptError) as info:
        Index.open(path)
    assert str(info.value) == (f"{target} is corrupt (its checksum does not match the manifest); "
                               f"rebuild it with: python -m toolkit ingest SOURCE_FOLDER --index {path}")


def test_index_of_another_format_is_refused(tmp_path):
    path = tmp_path / "index"
    folder = VersionedFolder(path)
    with folder.write({"format": 99, "chunks": 0}) as staging:
        (staging / "x").write_text("x")
    with pytest.raises(IndexCorruptError) as info:
        Index.open(path)
    assert str(info.value) == (f"{path / 'v000001'} was written in index format 99, this toolkit reads format 1; "
                               f"rebuild it with: python -m toolkit ingest SOURCE_FOLDER --index {path}")


def test_index_saved_twice_keeps_one_version(tmp_path):
    path = tmp_path / "index"
    index = small_index(path)
    index.store.delete("a.md")
    index.save()
    assert entries(path) == ["CURRENT", "v000002"]
    opened = Index.open(path)
    assert (opened.chunks, opened.meta["chunks"], opened.meta["documents"]) == (1, 1, 1)
    assert opened.store.documents() == ["b.md"]


def test_files_that_disagree_but_match_their_checksums_are_named(tmp_path):
    # Second line of defence: a store whose two files disagree (say, written by a buggy tool
    # that also rewrote the manifest) is refused with both counts, not loaded half-empty.
    path = tmp_path / "index"
    small_index(path)
    live = path / "v000001"
    nodes = live / "store" / "nodes.jsonl"
    nodes.write_text("".join(nodes.read_text().splitlines(keepends=True)[:-1]))  # drop the last chunk
    manifest = json.loads((live / "manifest.json").read_text())
    manifest["files"]["store/nodes.jsonl"] = hashlib.sha256(nodes.read_bytes()).hexdigest()
    (live / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptError) as info:
        Index.open(path)
    assert str(info.value) == (
        f"{live} cannot be loaded (ValueError: vectors.faiss holds 3 vectors of dimension 3, nodes.jsonl "
        f"holds 2 chunks of dimension 3); rebuild it with: python -m toolkit ingest SOURCE_FOLDER --index {path}")


def test_leftovers_of_a_killed_writer_are_cleaned_by_the_next_write(tmp_path):
    folder = VersionedFolder(tmp_path / "idx")
    write_version(folder, {"v": 1}, {"data.txt": "one"})
    # A writer killed after writing its pointer file but before the rename leaves these behind.
    (tmp_path / "idx" / ".CURRENT.tmp-99999").write_text("v000009\n")
    (tmp_path / "idx" / ".staging-v000002-99999").mkdir()
    assert folder.read()[1] == {"v": 1}
    write_version(folder, {"v": 2}, {"data.txt": "two"})
    assert entries(tmp_path / "idx") == ["CURRENT", "v000002"]

"""The Index: a FAISS store and ingestion state saved together through VersionedFolder, opened
only when whole, and searched by cosine similarity."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

from toolkit.errors import IndexCorruptError
from toolkit.ingestion.index import FORMAT_VERSION, Index
from toolkit.ingestion.persist import VersionedFolder


def entries(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


def node(node_id: str, doc: str, text: str, embedding: list[float]) -> TextNode:
    return TextNode(
        id_=node_id,
        text=text,
        embedding=embedding,
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc)},
    )


def small_index(path: Path) -> Index:
    index = Index.create(3, meta={"embed_model": "test:3d"}, path=path)
    index.store.add(
        [
            node("n1", "a.md", "alpha", [1.0, 0.0, 0.0]),
            node("n2", "a.md", "alpha two", [0.0, 1.0, 0.0]),
            node("n3", "b.md", "beta", [0.0, 0.0, 1.0]),
        ]
    )
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
        "embed_model": "test:3d",
        "format": FORMAT_VERSION,
        "chunks": 3,
        "documents": 2,
    }
    assert opened.store.documents() == ["a.md", "b.md"]
    assert sorted(n.get_content() for n in opened.store.get_nodes()) == ["alpha", "alpha two", "beta"]
    files = sorted(p.relative_to(path / "v000001").as_posix() for p in (path / "v000001").rglob("*") if p.is_file())
    assert files == ["manifest.json", "pipeline/docstore.json", "store/nodes.jsonl", "store/vectors.faiss"]


def test_index_that_does_not_exist(tmp_path):
    path = tmp_path / "nothing"
    assert not Index.exists(path)
    with pytest.raises(IndexCorruptError) as info:
        Index.open(path)
    assert str(info.value) == (
        f"{path} holds no index ({path / 'CURRENT'} is missing); "
        f"rebuild it with: python -m toolkit ingest SOURCE_FOLDER --index {path}"
    )


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
    assert str(info.value) == (
        f"{target} is corrupt (its checksum does not match the manifest); "
        f"rebuild it with: python -m toolkit ingest SOURCE_FOLDER --index {path}"
    )


def test_index_of_another_format_is_refused(tmp_path):
    path = tmp_path / "index"
    folder = VersionedFolder(path)
    with folder.write({"format": 99, "chunks": 0}) as staging:
        (staging / "x").write_text("x")
    with pytest.raises(IndexCorruptError) as info:
        Index.open(path)
    assert str(info.value) == (
        f"{path / 'v000001'} was written in index format 99, this toolkit reads format 1; "
        f"rebuild it with: python -m toolkit ingest SOURCE_FOLDER --index {path}"
    )


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
        f"holds 2 chunks of dimension 3); rebuild it with: python -m toolkit ingest SOURCE_FOLDER --index {path}"
    )


def test_a_manifest_that_miscounts_the_chunks_is_refused(tmp_path):
    path = tmp_path / "index"
    small_index(path)
    live = path / "v000001"
    manifest = json.loads((live / "manifest.json").read_text())
    manifest["meta"]["chunks"] = 5  # the files are intact; only the count disagrees
    (live / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptError) as info:
        Index.open(path)
    assert str(info.value) == (
        f"{live} holds 3 chunks but its manifest says 5; "
        f"rebuild it with: python -m toolkit ingest SOURCE_FOLDER --index {path}"
    )


def test_a_new_index_knows_its_path_only_once_saved_or_given(tmp_path):
    index = Index.create(3, meta={"embed_model": "test:3d"})
    assert (index.path, index.chunks, index.meta) == (None, 0, {"embed_model": "test:3d"})
    assert index.save(tmp_path / "index") == tmp_path / "index" == index.path
    assert Index.open(tmp_path / "index").meta["documents"] == 0


def test_the_lock_sits_beside_the_folder_and_creates_none(tmp_path):
    path = tmp_path / "index"
    with Index.lock(path) as lock:
        assert lock.is_locked and Path(lock.lock_file) == tmp_path / ".index.lock"
    assert not path.exists()


class AxisEmbedding(BaseEmbedding):
    """A stand-in embedding model for the retriever: a fixed query vector, no model."""

    def _get_query_embedding(self, query: str) -> list[float]:
        return {"mostly beta": [0.1, 0.0, 1.0]}[query]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        raise AssertionError("the stored chunks are never embedded again")


def test_the_retriever_ranks_chunks_by_cosine_similarity(tmp_path):
    index = small_index(tmp_path / "index")
    found = index.retriever(AxisEmbedding(model_name="axis"), top_k=2).retrieve("mostly beta")
    # q = (0.1, 0, 1), |q| = sqrt(1.01): cos with beta (0, 0, 1) = 1/sqrt(1.01), with alpha (1, 0, 0) = 0.1/sqrt(1.01)
    assert [n.node.node_id for n in found] == ["n3", "n1"]
    assert [n.score for n in found] == pytest.approx([1 / math.sqrt(1.01), 0.1 / math.sqrt(1.01)], abs=1e-6)

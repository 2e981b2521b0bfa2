"""Incremental ingestion with the real embedding model, on a corpus of five short files."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import MetadataMode

from conftest import BAD_FILES, IS_ROOT, PERMISSION_FILES, TINY_CORPUS, write_files
from toolkit.config import load_settings
from toolkit.errors import ConfigError, IngestError
from toolkit.ingestion.incremental import IngestReport, default_index_dir, ingest
from toolkit.ingestion.index import Index
from toolkit.ingestion.loaders import Skipped

# Three paragraphs, each one long sentence of 61 to 75 tokens. With chunk_size 128 (minus about
# 10 tokens of metadata) no two paragraphs fit together and no sentence is short enough to be
# carried over as overlap, so the file is exactly 3 chunks, one per paragraph. With chunk_size
# 64 every paragraph is split in two: 6 chunks.
PARAGRAPHS = [
    "# Handbook\n\nSection one explains that every employee who works from home may claim a one-time stipend "
    "of five hundred dollars for a desk, a chair, a monitor and other equipment, provided that receipts are "
    "uploaded to the expenses tool within sixty days of purchase, that the items are bought from a reputable "
    "seller, and that the manager approves the claim before the end of the quarter.",
    "Section two explains that the internet allowance of thirty dollars per month is paid together with the "
    "salary to every employee whose role is flexible, that no receipts are needed for it, and that the "
    "allowance stops automatically in the month after the employee moves to a role that is based on site at "
    "an office or a warehouse.",
    "Section three explains that laptops are refreshed every four years, that one external monitor is provided "
    "on request through the IT portal, that lost or stolen devices must be reported to security within one "
    "day, and that all equipment remains company property which must be returned to the nearest office within "
    "two weeks after the last working day.",
]
CORPUS = TINY_CORPUS | {"handbook.md": "\n\n".join(PARAGRAPHS) + "\n"}
DOC_IDS = ["handbook.md", "products/plug.html", "returns.md", "shipping.txt", "warranty.md"]
CHUNKS = {"handbook.md": 3, "products/plug.html": 1, "returns.md": 1, "shipping.txt": 1, "warranty.md": 1}


class CountingEmbedding(BaseEmbedding):
    """The real embedding model, recording every text it is asked to embed."""

    _inner: Any = PrivateAttr()
    _texts: list = PrivateAttr(default_factory=list)

    def __init__(self, inner: BaseEmbedding):
        super().__init__(model_name=inner.model_name, embed_batch_size=inner.embed_batch_size)
        self._inner = inner

    @classmethod
    def class_name(cls) -> str:
        return "CountingEmbedding"

    def take(self) -> list[str]:
        texts, self._texts = self._texts, []
        return texts

    def _get_text_embedding(self, text: str) -> list[float]:
        self._texts.append(text)
        return self._inner._get_text_embedding(text)

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        self._texts.extend(texts)
        return self._inner._get_text_embeddings(texts)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._inner._get_query_embedding(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


@pytest.fixture
def counting(embed_model) -> CountingEmbedding:
    return CountingEmbedding(embed_model)


@pytest.fixture
def corpus(tmp_path) -> Path:
    return write_files(tmp_path / "corpus", CORPUS)


def run(source, index_dir, embed, **settings):
    return ingest(source, index_dir, settings=load_settings(**settings), embed_model=embed, show_progress=False)


def node_ids(index: Index) -> dict[str, list[str]]:
    """Document id -> the ids of its chunks, in text order."""
    by_doc: dict[str, list] = {}
    for n in index.store.get_nodes():
        by_doc.setdefault(n.ref_doc_id, []).append(n)
    return {doc: [n.node_id for n in sorted(nodes, key=lambda n: n.start_char_idx)] for doc, nodes in by_doc.items()}


def versions(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_first_ingest(corpus, tmp_path, counting):
    index_dir = tmp_path / "index"
    index, report = run(corpus, index_dir, counting)
    assert report.indexed == DOC_IDS
    assert report.skipped == []
    assert (report.chunks, report.embedded) == (7, 7)
    assert (report.source, report.index) == (str(corpus), str(index_dir))
    # one probe for the dimension, then each chunk once, with the metadata the embedder sees
    texts = counting.take()
    assert texts[0] == "dimension probe"
    assert len(texts) == 1 + 7
    assert (
        "source: returns.md\ntitle: Returns\n\n# Returns\n\nYou can return an item within 30 days of delivery "
        "for a full refund." in texts
    )
    # chunks are what the hand count says: one per short file, one per handbook paragraph
    chunks = {
        doc: sorted((n for n in index.store.get_nodes() if n.ref_doc_id == doc), key=lambda n: n.start_char_idx)
        for doc in DOC_IDS
    }
    assert {doc: len(nodes) for doc, nodes in chunks.items()} == CHUNKS
    assert [n.get_content() for n in chunks["handbook.md"]] == PARAGRAPHS
    assert chunks["products/plug.html"][0].get_content(MetadataMode.EMBED) == (
        "source: products/plug.html\ntitle: Plug Mini\n\nPlug Mini\nThe Plug Mini costs $24.99."
    )
    # and the index on disk says the same
    assert versions(index_dir) == ["CURRENT", "v000001"]
    opened = Index.open(index_dir)
    assert (opened.chunks, opened.store.documents()) == (7, DOC_IDS)
    assert opened.meta["files"] == {doc: sha256(corpus / doc) for doc in DOC_IDS}
    assert {
        k: opened.meta[k]
        for k in ("embed_model", "chunk_size", "chunk_overlap", "chunks", "documents", "source", "format")
    } == {
        "embed_model": "local:all-MiniLM-L6-v2",
        "chunk_size": 128,
        "chunk_overlap": 16,
        "chunks": 7,
        "documents": 5,
        "source": str(corpus.resolve()),
        "format": 1,
    }


def test_reingesting_an_unchanged_folder_embeds_nothing_and_writes_no_version(corpus, tmp_path, counting):
    index_dir = tmp_path / "index"
    first, _ = run(corpus, index_dir, counting)
    counting.take()
    manifest = (index_dir / "v000001" / "manifest.json").read_bytes()
    index, report = run(corpus, index_dir, counting)
    assert (report.indexed, report.skipped, report.chunks, report.embedded) == (DOC_IDS, [], 7, 0)
    assert counting.take() == []
    assert versions(index_dir) == ["CURRENT", "v000001"]
    assert (index_dir / "v000001" / "manifest.json").read_bytes() == manifest
    assert node_ids(index) == node_ids(first)


def test_changing_one_file_reembeds_only_its_chunks(corpus, tmp_path, counting):
    index_dir = tmp_path / "index"
    first, _ = run(corpus, index_dir, counting)
    before = node_ids(first)
    counting.take()

    changed = PARAGRAPHS[:2] + [PARAGRAPHS[2].replace("four years", "three years")]
    (corpus / "handbook.md").write_text("\n\n".join(changed) + "\n", encoding="utf-8")
    index, report = run(corpus, index_dir, counting)
    assert (report.indexed, report.chunks, report.embedded) == (DOC_IDS, 7, 3)
    # exactly the changed file's three chunks went to the embedding model
    embedded = counting.take()
    handbook = sorted(
        (n for n in index.store.get_nodes() if n.ref_doc_id == "handbook.md"), key=lambda n: n.start_char_idx
    )
    assert embedded == [n.get_content(MetadataMode.EMBED) for n in handbook]
    assert [n.get_content() for n in handbook] == changed
    # the other files keep their chunks (same node ids); the changed file's chunks are new
    after = node_ids(index)
    assert {d: after[d] for d in DOC_IDS if d != "handbook.md"} == {d: before[d] for d in DOC_IDS if d != "handbook.md"}
    assert set(after["handbook.md"]).isdisjoint(before["handbook.md"])
    assert versions(index_dir) == ["CURRENT", "v000002"]
    assert Index.open(index_dir).meta["files"]["handbook.md"] == sha256(corpus / "handbook.md")


def test_deleting_a_file_removes_its_chunks(corpus, tmp_path, counting):
    index_dir = tmp_path / "index"
    first, _ = run(corpus, index_dir, counting)
    before = node_ids(first)
    counting.take()
    (corpus / "handbook.md").unlink()
    index, report = run(corpus, index_dir, counting)
    assert (report.indexed, report.chunks, report.embedded) == (DOC_IDS[1:], 4, 0)
    assert counting.take() == []
    assert index.store.documents() == DOC_IDS[1:]
    assert node_ids(index) == {d: before[d] for d in DOC_IDS[1:]}
    opened = Index.open(index_dir)
    assert (opened.chunks, opened.store.documents(), sorted(opened.meta["files"])) == (4, DOC_IDS[1:], DOC_IDS[1:])
    assert opened.docstore.get_document_hash("handbook.md") is None

    # putting it back indexes it again
    (corpus / "handbook.md").write_text(CORPUS["handbook.md"], encoding="utf-8")
    index, report = run(corpus, index_dir, counting)
    assert (report.chunks, report.embedded, index.store.documents()) == (7, 3, DOC_IDS)


def test_a_file_that_turns_bad_leaves_the_index(corpus, tmp_path, counting):
    index_dir = tmp_path / "index"
    run(corpus, index_dir, counting)
    (corpus / "warranty.md").write_bytes(b"")
    index, report = run(corpus, index_dir, counting)
    assert report.skipped == [Skipped("warranty.md", "empty file")]
    assert (report.indexed, report.chunks, index.store.documents()) == (DOC_IDS[:4], 6, DOC_IDS[:4])


def test_changing_chunk_size_rebuilds_everything(corpus, tmp_path, counting):
    index_dir = tmp_path / "index"
    first, _ = run(corpus, index_dir, counting)
    counting.take()
    index, report = run(corpus, index_dir, counting, chunk_size=64)
    # every handbook paragraph (61-75 tokens) is now two chunks; the short files stay one each
    assert (report.indexed, report.chunks, report.embedded) == (DOC_IDS, 10, 10)
    assert len(counting.take()) == 1 + 10
    # every chunk was cut again; a chunk id names a position in an unchanged file (chunking.chunk_id),
    # so the handbook's chunks 0-2 keep their ids (with other texts) and its chunks 3-5 are new
    before, after = node_ids(first), node_ids(index)
    assert all(after[doc][: len(ids)] == ids for doc, ids in before.items())
    assert [len(after[doc]) - len(before[doc]) for doc in DOC_IDS] == [3, 0, 0, 0, 0]
    opened = Index.open(index_dir)
    assert (opened.meta["chunk_size"], opened.chunks) == (64, 10)
    assert versions(index_dir) == ["CURRENT", "v000002"]


def test_changing_chunk_overlap_rebuilds_too(corpus, tmp_path, counting):
    index_dir = tmp_path / "index"
    run(corpus, index_dir, counting)
    counting.take()
    _, report = run(corpus, index_dir, counting, chunk_overlap=0)
    assert (report.chunks, report.embedded) == (7, 7)
    assert Index.open(index_dir).meta["chunk_overlap"] == 0


def test_a_folder_of_only_bad_files_raises_and_leaves_the_index_unchanged(corpus, tmp_path, counting):
    index_dir = tmp_path / "index"
    run(corpus, index_dir, counting)
    counting.take()
    manifest = (index_dir / "v000001" / "manifest.json").read_bytes()

    bad = write_files(
        tmp_path / "bad", {"empty.md": "", "notes.csv": "a,b", ".hidden.txt": "x", "binary.txt": b"\x00\x01"}
    )
    with pytest.raises(IngestError) as info:
        run(bad, index_dir, counting)
    assert str(info.value) == (
        f"no file in {bad} could be indexed (4 skipped; supported: .md .txt .html .pdf); the index was not changed"
    )
    report = info.value.report
    assert isinstance(report, IngestReport)
    assert report.indexed == [] and report.chunks == 0
    assert [(s.path, s.reason) for s in report.skipped] == [
        (".hidden.txt", "hidden file; not indexed"),
        ("binary.txt", "binary content (NUL bytes) in a text file"),
        ("empty.md", "empty file"),
        ("notes.csv", "unsupported file type '.csv' (supported: .htm, .html, .markdown, .md, .pdf, .txt)"),
    ]
    assert counting.take() == []
    assert versions(index_dir) == ["CURRENT", "v000001"]
    assert (index_dir / "v000001" / "manifest.json").read_bytes() == manifest
    assert Index.open(index_dir).store.documents() == DOC_IDS


def test_an_empty_folder_raises_and_writes_nothing(tmp_path, counting):
    (tmp_path / "empty").mkdir()
    with pytest.raises(IngestError, match=r"\(0 skipped; "):
        run(tmp_path / "empty", tmp_path / "index", counting)
    assert not (tmp_path / "index").exists()


def test_the_folder_of_bad_inputs_ingests_its_good_files(bad_folder, tmp_path, counting):
    index, report = run(bad_folder, tmp_path / "index", counting)
    good = ["good.md", "latin1.txt", "notes.txt", "page.html", "sub/deep.txt"]
    if IS_ROOT:
        assert report.indexed == sorted(good + ["locked/inside.txt", "secret.txt"])
        assert {s.path: s.reason for s in report.skipped} == BAD_FILES
    else:
        assert report.indexed == good
        assert {s.path: s.reason for s in report.skipped} == BAD_FILES | PERMISSION_FILES
    assert [s.path for s in report.skipped] == sorted(s.path for s in report.skipped)
    assert report.decoded == {"latin1.txt": "cp1252"}
    assert report.chunks == report.embedded == len(report.indexed)  # every good file is one short chunk
    assert index.store.documents() == report.indexed
    frame = report.frame()
    assert list(frame.columns) == ["path", "status", "reason"]
    assert len(frame) == len(report.indexed) + len(report.skipped)
    assert frame.loc[frame.path == "huge.txt", "reason"].item() == BAD_FILES["huge.txt"]
    assert frame.loc[frame.path == "latin1.txt", ["status", "reason"]].values.tolist() == [
        ["indexed", "decoded as cp1252 (not UTF-8)"]
    ]


def _short_hash(path) -> str:
    import hashlib

    return hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]


def test_default_index_dir_is_under_the_home_and_named_by_the_full_path(toolkit_home, tmp_path):
    settings = load_settings()
    docs = tmp_path / "my docs"
    assert default_index_dir(settings, docs) == toolkit_home / "indexes" / f"my docs-{_short_hash(docs)}"
    # Two folders of the same name get two indexes.
    assert default_index_dir(settings, tmp_path / "a" / "docs") != default_index_dir(settings, tmp_path / "b" / "docs")


def test_without_an_index_dir_the_index_goes_to_the_home(corpus, toolkit_home, counting):
    index, report = run(corpus, None, counting)
    expected = toolkit_home / "indexes" / f"corpus-{_short_hash(corpus)}"
    assert report.index == str(expected)
    assert Index.open(expected).chunks == 7


def test_report_text_and_json(corpus, tmp_path, counting):
    _, report = run(corpus, tmp_path / "index", counting)
    report.seconds = 1.25
    assert str(report) == "indexed 5 files into 7 chunks (7 embedded this run) in 1.2 s"
    assert report.to_dict() == {
        "indexed": DOC_IDS,
        "skipped": [],
        "decoded": {},
        "chunks": 7,
        "embedded": 7,
        "seconds": 1.25,
        "source": str(corpus),
        "index": str(tmp_path / "index"),
        "notes": [],
    }


# --- the review's findings: safety of the index folder, corruption, concurrency ---------------


def test_an_index_folder_that_holds_other_files_is_refused_and_nothing_is_deleted(corpus, tmp_path, counting):
    mine = tmp_path / "my-stuff"
    write_files(mine, {"vendors/keep.txt": "precious", "videos/keep.txt": "precious", "notes.md": "mine"})
    with pytest.raises(ConfigError) as info:
        run(corpus, mine, counting)
    assert str(info.value) == (
        f"{mine} is not an index folder (it holds 'notes.md'); choose an empty or new folder for the index"
    )
    assert sorted(p.relative_to(mine).as_posix() for p in mine.rglob("*") if p.is_file()) == [
        "notes.md",
        "vendors/keep.txt",
        "videos/keep.txt",
    ]


def test_ingesting_again_rebuilds_a_corrupt_index(corpus, tmp_path, counting):
    run(corpus, tmp_path / "index", counting)
    (tmp_path / "index" / "v000001" / "store" / "nodes.jsonl").write_text("garbage\n")
    _, report = run(corpus, tmp_path / "index", counting)
    assert report.embedded == 7 and report.chunks == 7
    assert len(report.notes) == 1 and report.notes[0].startswith(
        "rebuilt from scratch: the previous index was unreadable ("
    )
    assert Index.open(tmp_path / "index").chunks == 7


def test_an_index_kept_inside_its_source_folder_is_not_ingested(corpus, counting):
    run(corpus, corpus / "index", counting)
    _, again = run(corpus, corpus / "index", counting)
    assert again.skipped == [] and again.embedded == 0 and again.indexed == DOC_IDS


def test_two_ingests_at_once_take_turns(corpus, tmp_path, counting):
    import threading

    reports, errors = [], []

    def one():
        try:
            reports.append(run(corpus, tmp_path / "index", counting)[1])
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(r.embedded for r in reports) == [0, 7]  # the second waited, then found nothing new
    assert Index.open(tmp_path / "index").chunks == 7
    assert sorted(p.name for p in (tmp_path / "index").iterdir()) == ["CURRENT", "v000001"]


def test_an_index_from_an_older_parser_is_rebuilt_with_what_the_parser_reads_now(tmp_path, counting):
    # A file's bytes did not change, but the parser now reads more from it (the effective date):
    # an index written before then (no "parser" in its meta) is rebuilt, never left without it.
    corpus = write_files(
        tmp_path / "corpus", {"returns.md": "# Returns\n\nEffective date: March 1, 2024.\n\nReturn within 30 days.\n"}
    )
    index_dir = tmp_path / "index"
    index, _ = run(corpus, index_dir, counting)
    assert [n.metadata.get("effective_date") for n in index.store.get_nodes()] == ["2024-03-01"]
    assert Index.open(index_dir).meta["parser"] == 2
    old = Index.open(index_dir)
    old.meta.pop("parser")
    for node in old.store.get_nodes():
        node.metadata.pop("effective_date")
    old.save(index_dir)
    index, report = run(corpus, index_dir, counting)
    assert (report.embedded, report.notes) == (1, ["rebuilt from scratch: parser changed"])
    assert [n.metadata.get("effective_date") for n in index.store.get_nodes()] == ["2024-03-01"]
    _, again = run(corpus, index_dir, counting)
    assert (again.embedded, again.notes) == (0, [])

"""Chunking strategies on a small Markdown text with exact expected chunks, and how ingestion
uses them: a changed strategy rebuilds the index, embeddings go in batches."""

from __future__ import annotations

import pytest
from llama_index.core import Document

from conftest import TINY_CORPUS, write_files
from toolkit.config import load_settings
from toolkit.errors import ConfigError
from toolkit.ingestion.chunking import CHUNKING_STRATEGIES, chunk_documents, chunk_id, make_chunker
from toolkit.ingestion.incremental import ingest
from toolkit.ingestion.index import Index

GUIDE = """# Returns

You can return any item within 30 days of delivery. Refunds go back to the original payment method within \
5 business days.

## Exceptions

Opened software and gift cards cannot be returned. Final-sale items are marked on the product page.

# Shipping

Standard shipping takes 3 to 5 business days.
"""
RETURNS = "# Returns\n\nYou can return any item within 30 days of delivery."
REFUNDS = "Refunds go back to the original payment method within 5 business days."
EXCEPTIONS = (
    "## Exceptions\n\nOpened software and gift cards cannot be returned. "
    "Final-sale items are marked on the product page."
)
SHIPPING = "# Shipping\n\nStandard shipping takes 3 to 5 business days."


def chunks(strategy: str, size: int = 32, overlap: int = 8) -> list[tuple[str, dict]]:
    nodes = chunk_documents([Document(id_="guide.md", text=GUIDE)], strategy, size, overlap)
    assert {n.ref_doc_id for n in nodes} == {"guide.md"}  # every chunk keeps its document
    return [(n.text, n.metadata) for n in nodes]


def test_sentence_strategy_keeps_paragraphs_whole():
    # each paragraph (with its heading) fits in 32 tokens, two together do not
    assert chunks("sentence") == [(f"{RETURNS} {REFUNDS}", {}), (EXCEPTIONS, {}), (SHIPPING, {})]


def test_token_strategy_cuts_fixed_windows_with_overlap():
    # 32-token windows cut mid-sentence, each starting with the previous window's last 8 tokens
    assert chunks("token") == [
        (f"{RETURNS} {REFUNDS[: -len(' days.')]}", {}),
        ("the original payment method within 5 business days.\n\n" + EXCEPTIONS[: -len(" page.")], {}),
        ("Final-sale items are marked on the product page.\n\n" + SHIPPING, {}),
    ]


def test_markdown_strategy_splits_at_headings_and_bounds_the_size():
    # one piece per heading section, each with its heading path; "header_path: /" counts against
    # the 32 tokens, so the first section no longer fits and splits at its sentence boundary
    assert chunks("markdown") == [
        (RETURNS, {"header_path": "/"}),
        (REFUNDS, {"header_path": "/"}),
        (EXCEPTIONS, {"header_path": "/Returns/"}),
        (SHIPPING, {"header_path": "/"}),
    ]
    # with room to spare, a section is one chunk and sections never merge
    assert [text for text, _ in chunks("markdown", 128, 16)] == [f"{RETURNS} {REFUNDS}", EXCEPTIONS, SHIPPING]
    assert [text for text, _ in chunks("sentence", 128, 16)] == [GUIDE.strip()]


def test_bad_strategy_or_sizes_are_refused():
    assert CHUNKING_STRATEGIES == ("sentence", "token", "markdown")
    with pytest.raises(ValueError, match="unknown chunking strategy 'page'; choose one of sentence, token, markdown"):
        make_chunker("page")
    with pytest.raises(ValueError, match=r"chunk_overlap \(64\) must be smaller than chunk_size \(64\)"):
        make_chunker("token", 64, 64)
    with pytest.raises(ConfigError, match="setting 'chunking': Input should be 'sentence', 'token' or 'markdown'"):
        load_settings(chunking="paragraph")


def test_the_default_is_todays_sentence_splitter():
    from llama_index.core.node_parser import SentenceSplitter

    settings = load_settings()
    [splitter] = make_chunker(settings.chunking, settings.chunk_size, settings.chunk_overlap)
    assert settings.chunking == "sentence"
    assert type(splitter) is SentenceSplitter
    assert (splitter.chunk_size, splitter.chunk_overlap) == (128, 16)


@pytest.fixture
def corpus(tmp_path):
    return write_files(tmp_path / "corpus", TINY_CORPUS)


def test_changing_the_strategy_rebuilds_and_an_old_index_is_not_rebuilt(corpus, tmp_path, embed_model):
    index_dir = tmp_path / "index"
    _, first = ingest(corpus, index_dir, settings=load_settings(), embed_model=embed_model, show_progress=False)
    assert (first.chunks, first.embedded, Index.open(index_dir).meta["chunking"]) == (4, 4, "sentence")

    index, report = ingest(
        corpus, index_dir, settings=load_settings(chunking="markdown"), embed_model=embed_model, show_progress=False
    )
    assert (report.chunks, report.embedded, report.notes) == (4, 4, ["rebuilt from scratch: chunking changed"])
    headers = {n.ref_doc_id: n.metadata.get("header_path") for n in index.store.get_nodes()}
    assert headers == {"returns.md": "/", "warranty.md": "/", "shipping.txt": "/", "products/plug.html": "/"}

    _, report = ingest(corpus, index_dir, settings=load_settings(), embed_model=embed_model, show_progress=False)
    assert (report.embedded, report.notes) == (4, ["rebuilt from scratch: chunking changed"])  # markdown -> sentence
    # an index written before the setting existed has no "chunking": it was the sentence splitter
    legacy = Index.open(index_dir)
    legacy.meta.pop("chunking")
    legacy.save(index_dir)
    _, report = ingest(corpus, index_dir, settings=load_settings(), embed_model=embed_model, show_progress=False)
    assert (report.embedded, report.notes) == (0, [])


def test_embeddings_are_stored_a_batch_at_a_time(tmp_path, monkeypatch, embed_model):
    import toolkit.ingestion.incremental
    from toolkit.ingestion.vectorstore import FaissStore

    files = {f"note{i:02d}.txt": f"Note number {i} is about topic {i * 7}.\n" for i in range(11)}
    corpus = write_files(tmp_path / "corpus", files)
    _, whole = ingest(
        corpus, tmp_path / "whole", settings=load_settings(), embed_model=embed_model, show_progress=False
    )

    batches, add = [], FaissStore.add
    monkeypatch.setattr(
        FaissStore,
        "add",
        lambda self, nodes, **kw: batches.append([n.embedding is not None for n in nodes]) or add(self, nodes, **kw),
    )
    monkeypatch.setattr(toolkit.ingestion.incremental, "EMBED_BATCHES", 1)
    monkeypatch.setattr(embed_model, "embed_batch_size", 4)
    index, report = ingest(
        corpus, tmp_path / "batched", settings=load_settings(), embed_model=embed_model, show_progress=False
    )
    assert [len(b) for b in batches] == [4, 4, 3] and all(all(b) for b in batches)
    assert report.embedded == 11 == index.chunks
    assert all(n.embedding is None for n in index.store.get_nodes())
    # the same vectors as embedding everything at once, node for node
    reference = Index.open(tmp_path / "whole").store
    ids, vectors = index.store._stored_vectors()
    ref_ids, ref_vectors = reference._stored_vectors()
    by_text = {reference._nodes[i].text: v for i, v in zip(ref_ids.tolist(), ref_vectors, strict=True)}
    for faiss_id, vector in zip(ids.tolist(), vectors, strict=True):
        assert vector == pytest.approx(by_text[index.store._nodes[faiss_id].text], abs=1e-5)
    assert whole.embedded == 11


def ids(documents, strategy: str = "sentence", size: int = 32, overlap: int = 8) -> dict[str, list[str]]:
    """doc id -> its chunks' ids, in order."""
    out: dict[str, list[str]] = {}
    for node in chunk_documents(documents, strategy, size, overlap):
        out.setdefault(node.ref_doc_id, []).append(node.node_id)
    return out


def expected_id(parent: Document, position: int) -> str:
    # worked by hand from the rule: uuid5 of "<parent id>\n<parent content hash>\n<position>"
    import uuid

    return str(
        uuid.uuid5(uuid.UUID("5f0e8a52-3c1d-4b7e-9a64-2d8f1c0b7e93"), f"{parent.id_}\n{parent.hash}\n{position}")
    )


@pytest.mark.parametrize("strategy", CHUNKING_STRATEGIES)
def test_chunk_ids_are_derived_from_the_document_and_a_changed_document_changes_only_its_own(strategy):
    guide = Document(id_="guide.md", text=GUIDE)
    other = Document(id_="other.md", text=SHIPPING)
    first = ids([guide, other], strategy)
    assert ids([Document(id_="guide.md", text=GUIDE), Document(id_="other.md", text=SHIPPING)], strategy) == first
    assert len(first["guide.md"]) == len(set(first["guide.md"])) == {"sentence": 3, "token": 3, "markdown": 4}[strategy]

    edited = Document(id_="guide.md", text=GUIDE.replace("30 days", "45 days"))
    again = ids([edited, Document(id_="other.md", text=SHIPPING)], strategy)
    assert again["other.md"] == first["other.md"]
    assert set(again["guide.md"]).isdisjoint(first["guide.md"])  # every chunk of the edited file is renamed


def test_chunk_ids_by_hand():
    guide = Document(id_="guide.md", text=GUIDE)
    # sentence and token chunks are cut from the document itself, at positions 0, 1, 2
    assert ids([guide], "sentence")["guide.md"] == [expected_id(guide, i) for i in range(3)]
    assert ids([guide], "token")["guide.md"] == [expected_id(guide, i) for i in range(3)]
    assert expected_id(guide, 0) == chunk_id(0, guide)
    # markdown: the sections are numbered 0..2 within the document, then each chunk within its
    # section; the first section (Returns) splits in two, the others are one chunk each
    sections = make_chunker("markdown", 32, 8)[0].get_nodes_from_documents([guide])
    assert [s.id_ for s in sections] == [expected_id(guide, i) for i in range(3)]
    assert ids([guide], "markdown")["guide.md"] == [
        expected_id(sections[0], 0),
        expected_id(sections[0], 1),
        expected_id(sections[1], 0),
        expected_id(sections[2], 0),
    ]


def test_two_sections_with_the_same_heading_and_text_keep_two_chunks():
    twice = Document(id_="twice.md", text="# Notes\n\nNone.\n\n# Notes\n\nNone.\n")
    nodes = chunk_documents([twice], "markdown")
    assert [n.text for n in nodes] == ["# Notes\n\nNone.", "# Notes\n\nNone."]
    # one id per section: with the sections' ids all equal, the store would keep one chunk
    assert len({n.node_id for n in nodes}) == 2


def test_two_ingests_of_one_folder_give_the_same_chunk_ids(corpus, tmp_path, embed_model):
    settings = load_settings()
    first, _ = ingest(corpus, tmp_path / "a", settings=settings, embed_model=embed_model, show_progress=False)
    second, _ = ingest(corpus, tmp_path / "b", settings=settings, embed_model=embed_model, show_progress=False)
    assert sorted(n.node_id for n in first.store.get_nodes()) == sorted(n.node_id for n in second.store.get_nodes())
    assert len(first.store.get_nodes()) == 4

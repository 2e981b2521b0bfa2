"""No file can stall ingestion: files built to be slow or greedy for each loader are skipped under
small budgets, with the budget and the setting named, and the rest of the folder is indexed.

Each slow file was timed in-process on a 2-core machine: the nested tables take about 17 s
(depth 300; depth 1,000 took 363 s), the PDF about 22 s. The time budgets here are 1 s, so each
file is many times over its budget on a machine several times faster.

A single huge line is not slow to parse: 10 MB of one line parse in about 1 s, in time linear in
its size, so a time budget is the wrong guard for it (it would pass on a fast machine and fail
on a slow one). It is big, and two budgets stop a big file whatever the machine: `max_file_mb`
before it is read, and the memory budget while it is parsed.
"""

from __future__ import annotations

import io
import os
import time

import pytest

from conftest import BUNDLED_CORPUS, TINY_CORPUS, write_files
from toolkit.config import Settings, load_settings
from toolkit.ingestion import Index, ingest, load_folder
from toolkit.ingestion.budget import BudgetedWorker, OverBudget
from toolkit.ingestion.loaders import SkipFile, Skipped, parse_fields, parse_file, parse_in, parser_worker

TIME = "parsing took longer than the 1 s time budget; raise ingest_file_timeout_s to index it"
MEMORY = "parsing needed more than the 16 MiB memory budget; raise ingest_file_memory_mib to index it"


def nested_tables(depth: int) -> str:
    """Tables nested `depth` deep: the HTML loader's work grows with the cube of the depth."""
    return "<html><body>" + "<table><tr><td>" * depth + "deep" + "</td></tr></table>" * depth + "</body></html>"


def slow_pdf(operations: int) -> bytes:
    """A small, valid PDF whose one page draws `operations` one-letter strings: its content
    stream compresses to a few kB, and pypdf reads it at about 74 µs an operation."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    page = writer.add_blank_page(200, 200)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    fonts = DictionaryObject({NameObject("/F1"): writer._add_object(font)})
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): fonts})
    content = DecodedStreamObject()
    content.set_data(b"BT /F1 12 Tf 10 100 Td " + b"(x) Tj " * operations + b"ET")
    page[NameObject("/Contents")] = writer._add_object(content.flate_encode())
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


SLOW = {
    "nested.html": nested_tables(300),
    "slow.pdf": slow_pdf(300_000),
}
ONE_LINE = b"word " * 2_000_000  # 10 MB, no line break
SIZE = "10.0 MB is over the 5 MB limit; raise max_file_mb to index it"


@pytest.fixture(scope="module")
def small_budget():
    # memory enough, so that time is what stops each file
    with parser_worker(1, 1024) as worker:
        yield worker


def test_the_hostile_files_are_small(tmp_path):
    sizes = {name: len(content) for name, content in SLOW.items()}
    assert sizes["nested.html"] == 12 + 15 * 300 + 4 + 18 * 300 + 14  # 9,930 bytes
    assert sizes["slow.pdf"] < 10_000  # a few kB that keep pypdf busy for about 22 s


@pytest.mark.parametrize("name", sorted(SLOW))
def test_each_slow_file_is_stopped_at_its_time_budget(name, small_budget):
    content = SLOW[name]
    data = content.encode() if isinstance(content, str) else content
    started = time.perf_counter()
    with pytest.raises(SkipFile) as info:
        parse_in(small_budget, data, os.path.splitext(name)[1], name)
    assert str(info.value) == TIME
    assert time.perf_counter() - started < 5  # 1 s of budget, then the kill; not the minutes it needs
    # a fresh worker parses the next file
    assert parse_in(small_budget, b"# Fine\n\nA normal file.", ".md", "fine.md").text == "# Fine\n\nA normal file."


@pytest.mark.parametrize(("data", "suffix"), [(b"a b\n" * 2_000_000, ".txt"), (ONE_LINE, ".md")])
def test_a_file_that_needs_more_memory_than_the_budget_is_skipped(data, suffix):
    # 8 or 10 MB of text: the bytes, the decoded text and the cleaned copies (as large each) are
    # alive at once, well over 16 MiB
    with parser_worker(30, 16) as worker:
        with pytest.raises(SkipFile) as info:
            parse_in(worker, data, suffix, "big" + suffix)
        assert str(info.value) == MEMORY
        assert parse_in(worker, b"small", ".txt", "small.txt").text == "small"
    # with room enough, the same file parses, whole
    with parser_worker(30, 1024) as worker:
        assert (
            len(parse_in(worker, data, suffix, "big" + suffix).text) == len(data) - 1
        )  # less the last space or line end


def test_ingest_skips_the_hostile_files_names_them_and_indexes_the_rest(tmp_path, embed_model):
    corpus = write_files(tmp_path / "corpus", {**TINY_CORPUS, **SLOW, "one_line.md": ONE_LINE})
    # a parsed 10 MB line would be about 20,000 chunks to embed (minutes): the size limit stops it
    settings = load_settings(ingest_file_timeout_s=1, ingest_file_memory_mib=1024, max_file_mb=5)
    started = time.perf_counter()
    index, report = ingest(corpus, tmp_path / "index", settings=settings, embed_model=embed_model, show_progress=False)
    assert time.perf_counter() - started < 60
    assert report.skipped == [Skipped("nested.html", TIME), Skipped("one_line.md", SIZE), Skipped("slow.pdf", TIME)]
    assert report.indexed == sorted(TINY_CORPUS)
    assert index.store.documents() == sorted(TINY_CORPUS)
    assert sorted(Index.open(tmp_path / "index").meta["files"]) == sorted(TINY_CORPUS)
    assert "  skipped nested.html: " + TIME in str(report).splitlines()

    # a skipped file is not marked done: with a budget it fits in, the next run indexes it
    (corpus / "one_line.md").write_bytes(b"# One line\n\n" + b"word " * 1000)
    _, again = ingest(corpus, tmp_path / "index", settings=settings, embed_model=embed_model, show_progress=False)
    assert again.skipped == [Skipped("nested.html", TIME), Skipped("slow.pdf", TIME)]
    assert again.indexed == sorted([*TINY_CORPUS, "one_line.md"])
    # only the new file is embedded: 1,000 words in chunks of about 100 new tokens (128, less the
    # metadata the embedder sees and the 16 of overlap), beside the tiny files' 4 chunks
    assert (again.embedded, again.chunks) == (10, 4 + 10)


def test_the_worker_gives_the_same_documents_as_parsing_in_process():
    files = {
        path.relative_to(BUNDLED_CORPUS).as_posix(): path.read_bytes()
        for path in sorted(BUNDLED_CORPUS.rglob("*"))
        if path.is_file()
    }
    files["legacy.txt"] = "Grüße aus Köln: Rückgabe binnen 30 Tagen.".encode("cp1252")
    with parser_worker(30, 1024) as worker:
        for doc_id, data in files.items():
            suffix = os.path.splitext(doc_id)[1]
            ours, theirs = parse_in(worker, data, suffix, doc_id), parse_file(data, suffix, doc_id)
            assert ours.to_dict() == theirs.to_dict(), doc_id
            assert ours.hash == theirs.hash
    assert len(files) == 55


def test_load_folder_takes_the_budgets_and_their_defaults_are_the_settings():
    import inspect

    defaults = {k: p.default for k, p in inspect.signature(load_folder).parameters.items()}
    for name in ("max_file_mb", "ingest_file_timeout_s", "ingest_file_memory_mib"):
        assert defaults[name] == Settings.model_fields[name].default, name


def test_load_folder_under_a_budget(tmp_path):
    root = write_files(tmp_path / "docs", {"nested.html": SLOW["nested.html"], "fine.md": "# Fine\n\nText."})
    docs, skipped = load_folder(root, ingest_file_timeout_s=1)
    assert [d.doc_id for d in docs] == ["fine.md"]
    assert skipped == [Skipped("nested.html", TIME)]


# --- the worker itself ------------------------------------------------------------------------


def test_an_exception_in_the_worker_is_raised_in_the_caller():
    with BudgetedWorker(10, 256) as worker:
        with pytest.raises(SkipFile, match="^no text after cleaning$"):
            worker.call(parse_fields, b"   ", ".txt", "blank.txt")
        assert worker.call(len, b"abc") == 3  # the same worker goes on


def test_a_worker_that_dies_is_reported_and_replaced():
    with BudgetedWorker(10, 256) as worker:
        with pytest.raises(OverBudget) as info:
            worker.call(os._exit, 3)
        assert (info.value.kind, info.value.detail) == ("crash", "exit code 3")
        assert worker.call(len, b"ab") == 2


def test_a_crash_while_parsing_names_the_file_as_damaged(tmp_path):
    worker = BudgetedWorker(10, 256)
    with worker, pytest.raises(SkipFile) as info:
        try:
            worker.call(os._exit, 3)
        except OverBudget as over:
            from toolkit.ingestion.loaders import _over_budget_reason

            raise SkipFile(_over_budget_reason(over, worker)) from None
    assert str(info.value) == (
        "the parser process died on it (exit code 3); the file may be damaged: re-export it, "
        "or raise ingest_file_memory_mib if it is very large"
    )


def test_an_unchanged_folder_starts_no_worker(tmp_path, embed_model, monkeypatch):
    corpus = write_files(tmp_path / "corpus", TINY_CORPUS)
    ingest(corpus, tmp_path / "index", embed_model=embed_model, show_progress=False)
    started = []
    original = BudgetedWorker._ready
    monkeypatch.setattr(BudgetedWorker, "_ready", lambda self: started.append(1) or original(self))
    _, report = ingest(corpus, tmp_path / "index", embed_model=embed_model, show_progress=False)
    assert (report.embedded, started) == (0, [])

"""Load a folder of documents into LlamaIndex Documents, and say why each bad file was skipped.

Formats: Markdown (.md, .markdown), plain text (.txt), HTML (.html, .htm) and PDF (.pdf).
A document's id is its path relative to the folder, with forward slashes, so answers cite
`policies/returns.md`, not a random UUID.

    >>> docs, skipped = load_folder("datasets/tidewell/corpus")
    >>> docs[0].doc_id, len(docs), skipped
    ('company/about.md', 54, [])

Nothing here raises on a bad file: an empty, binary, oversized, corrupt, unreadable or looping
file becomes a `Skipped(path, reason)` and the rest of the folder still loads. Each file is
parsed in a worker process under a time and a memory budget (budget.py): a file that would keep
the parser busy for minutes, or need gigabytes, is skipped with the budget it exceeded and the
setting that raises it. Text that is not UTF-8 is decoded in the encoding charset-normalizer
detects, and the document says so (`metadata["encoding"]`, kept out of the embedded and the
prompted text).
Not here: chunking and embedding (incremental.py).
"""

from __future__ import annotations

import codecs
import errno
import io
import logging
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .budget import BudgetedWorker, OverBudget
from .dates import effective_date

__all__ = [
    "FORMATS",
    "PARSER_VERSION",
    "Skipped",
    "SkipFile",
    "scan_folder",
    "read_file",
    "parse_file",
    "parse_fields",
    "to_document",
    "parse_in",
    "parser_worker",
    "decode_text",
    "load_folder",
    "clean_text",
    "html_to_text",
]

# What parse_file puts in a chunk. Raise it when that changes, so an index built by an older
# parser is rebuilt instead of keeping its files' old metadata (their bytes did not change).
# 1: text, title, format; 2: the effective date.
PARSER_VERSION = 2

FORMATS = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".html": "html", ".htm": "html", ".pdf": "pdf"}


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


class SkipFile(Exception):
    """A file cannot be indexed; the message is the reason shown in the report."""


@dataclass(frozen=True)
class ParsedFile:
    """What parsing a file yields, before it becomes a LlamaIndex Document (plain, so that it
    crosses from the parser process cheaply)."""

    doc_id: str
    text: str
    metadata: dict


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text: str) -> str:
    """Normalize line ends and spaces, drop control characters, collapse blank runs.

    >>> clean_text("A  b\\r\\n\\n\\n\\nc\\x07 ")
    'A b\\n\\nc'
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = re.sub(r"[ \t\u00a0]+", " ", text)
    text = re.sub(r" ?\n ?", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


_BLOCKS = [
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "footer",
    "aside",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "dl",
    "dt",
    "dd",
    "blockquote",
    "pre",
    "tr",
]


def html_to_text(markup: str) -> tuple[str, str]:
    """Visible text of an HTML page and its title; scripts, styles and navigation are dropped,
    and each table row becomes one line of `cell | cell`.

    >>> html_to_text("<title>T</title><p>Price: <b>$5</b></p><script>x=1</script>")
    ('Price: $5', 'T')
    """
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    # "title" too: without a <head> element (optional in HTML) the title would leak into the text.
    for tag in soup(["script", "style", "noscript", "template", "svg", "nav", "head", "title"]):
        tag.decompose()
    for row in soup.find_all("tr"):
        cells = [c.get_text(" ", strip=True) for c in row.find_all(["td", "th"])]
        row.replace_with(soup.new_string(" | ".join(cells) + "\n"))
    for br in soup.find_all("br"):
        br.replace_with(soup.new_string("\n"))
    for block in soup.find_all(_BLOCKS):
        block.insert_after(soup.new_string("\n"))
    return clean_text(soup.get_text()), title


def _pdf_text(data: bytes) -> tuple[str, str]:
    from pypdf import PdfReader

    # pypdf logs every repair it attempts; a corrupt file is reported once, as a skip reason.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        # An owner-password-only PDF opens with the empty user password; only a real lock is a skip.
        if reader.is_encrypted and not reader.decrypt(""):
            raise SkipFile("encrypted PDF; decrypt it first (for example: qpdf --decrypt in.pdf out.pdf)")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata.title if reader.metadata else None) or ""
    except (SkipFile, MemoryError):  # a MemoryError is the memory budget's, not a corrupt file
        raise
    except Exception as exc:  # pypdf raises many types on damaged input; each is a skip, not a crash
        raise SkipFile(f"corrupt PDF ({type(exc).__name__}: {exc}); re-export or repair it") from exc
    return "\n\n".join(pages), str(title)


def decode_text(data: bytes) -> tuple[str, str | None]:
    """The text in a file's bytes, and the encoding it was decoded from when that is not UTF-8
    (detected by charset-normalizer); raises SkipFile for binary content or undetectable bytes.

    >>> decode_text("café".encode("utf-8")), decode_text("Grüße aus Köln".encode("cp1252"))
    (('café', None), ('Grüße aus Köln', 'cp1252'))
    """
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _detected(data)  # UTF-16 and UTF-32 hold NUL bytes by design
    if b"\x00" in data[:8192]:
        raise SkipFile("binary content (NUL bytes) in a text file")
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        return _detected(data, exc)


def _detected(data: bytes, error: UnicodeDecodeError | None = None) -> tuple[str, str]:
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        where = f" (invalid byte at offset {error.start})" if error else ""
        raise SkipFile(
            f"not UTF-8{where} and no other encoding fits; convert it, for example: iconv -f latin1 -t utf-8"
        )
    # On a short text several readings score the same, and charset-normalizer lists them in its
    # own order (cp1250 before cp1252: "crème" read as "crčme"). Among equals, prefer
    # Windows-1252, the legacy encoding most Western text is in (WHATWG reads Latin-1 as it too).
    for match in matches:
        if (match.chaos, match.coherence) == (best.chaos, best.coherence) and "cp1252" in match.could_be_from_charset:
            return str(match), "cp1252"
    return str(best), best.encoding


def _decode(data: bytes, metadata: dict) -> str:
    text, encoding = decode_text(data)
    if encoding:
        metadata["encoding"] = encoding
    return text


def _first_heading(text: str) -> str:
    match = re.search(r"^#{1,3} +(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else ""


def read_file(path: Path, max_bytes: int) -> bytes:
    """The raw bytes of a supported, non-empty, readable regular file; raises SkipFile otherwise."""
    if path.suffix.lower() not in FORMATS:
        supported = ", ".join(sorted(FORMATS))
        raise SkipFile(f"unsupported file type {path.suffix or '(none)'!r} (supported: {supported})")
    try:
        info = path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SkipFile("symlink loop") from exc
        if path.is_symlink():
            raise SkipFile("broken symlink (its target does not exist)") from exc
        raise SkipFile(f"cannot stat: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or never end
        raise SkipFile("not a regular file")
    if info.st_size == 0:
        raise SkipFile("empty file")
    if info.st_size > max_bytes:
        raise SkipFile(
            f"{info.st_size / 1e6:.1f} MB is over the {max_bytes / 1e6:g} MB limit; raise max_file_mb to index it"
        )
    try:
        return path.read_bytes()
    except PermissionError as exc:
        raise SkipFile("no read permission; run chmod +r on it, or ingest as its owner") from exc
    except OSError as exc:
        raise SkipFile(f"cannot read: {exc.strerror}") from exc


def parse_fields(data: bytes, suffix: str, doc_id: str) -> ParsedFile:
    """The text and metadata of a file's bytes; raises SkipFile when no text comes out."""
    fmt = FORMATS[suffix.lower()]
    title = ""
    decoded: dict = {}  # {"encoding": name} for text that is not UTF-8
    if fmt == "pdf":
        text, title = _pdf_text(data)
    elif fmt == "html":
        text, title = html_to_text(_decode(data, decoded))
    else:
        text = _decode(data, decoded)
        title = _first_heading(text) if fmt == "markdown" else ""
    text = clean_text(text)
    if not text:
        hint = " (a scanned PDF needs OCR first)" if fmt == "pdf" else ""
        raise SkipFile(f"no text after cleaning{hint}")
    metadata = {"source": doc_id, "title": title or Path(doc_id).stem.replace("_", " "), "format": fmt}
    if date := effective_date(text):
        metadata["effective_date"] = date
    metadata.update(decoded)
    return ParsedFile(doc_id, text, metadata)


def to_document(parsed: ParsedFile):
    """The LlamaIndex Document of a parsed file: its id is the file's relative path."""
    from llama_index.core.schema import Document

    # The title helps retrieval; the format, the date and the encoding are bookkeeping for
    # neither the embedder nor the LLM (the date is in the text already, where the document
    # says it). "encoding" is listed only when present, so UTF-8 documents are as they were.
    hidden = ["format", "effective_date"] + (["encoding"] if "encoding" in parsed.metadata else [])
    return Document(
        id_=parsed.doc_id,
        text=parsed.text,
        metadata=parsed.metadata,
        excluded_embed_metadata_keys=hidden,
        excluded_llm_metadata_keys=["format", "title", "effective_date"] + hidden[2:],
    )


def parse_file(data: bytes, suffix: str, doc_id: str):
    """A Document with id `doc_id` from a file's bytes, parsed in this process (no budget);
    raises SkipFile when no text comes out."""
    return to_document(parse_fields(data, suffix, doc_id))


def parser_worker(timeout_s: float, memory_mib: int) -> BudgetedWorker:
    """A worker process that parses files under a time and a memory budget (use it in `with`)."""
    return BudgetedWorker(timeout_s, memory_mib, preload=[__name__, "bs4", "pypdf", "charset_normalizer"])


def parse_in(worker: BudgetedWorker, data: bytes, suffix: str, doc_id: str):
    """`parse_file`, run in `worker` under its budget: the same Document, or SkipFile with the
    budget the file exceeded and the setting that raises it."""
    try:
        return to_document(worker.call(parse_fields, data, suffix, doc_id))
    except OverBudget as over:
        raise SkipFile(_over_budget_reason(over, worker)) from None


def _over_budget_reason(over: OverBudget, worker: BudgetedWorker) -> str:
    if over.kind == "time":
        return (
            f"parsing took longer than the {worker.timeout_s:g} s time budget; raise ingest_file_timeout_s to index it"
        )
    if over.kind == "memory":
        return (
            f"parsing needed more than the {worker.memory_mib:g} MiB memory budget; "
            "raise ingest_file_memory_mib to index it"
        )
    return (
        f"the parser process died on it ({over.detail}); the file may be damaged: re-export it, "
        "or raise ingest_file_memory_mib if it is very large"
    )


def scan_folder(folder: str | Path, exclude: Sequence[str | Path] = ()) -> tuple[list[tuple[Path, str]], list[Skipped]]:
    """Every candidate file under `folder` as (path, doc id), in sorted order, and what was passed
    over. Paths in `exclude` (an index kept inside its own source, its lock file) are ignored."""
    root = Path(folder)
    excluded = {os.path.realpath(p) for p in exclude}  # realpath, unlike resolve, survives symlink loops
    if not root.is_dir():
        from ..errors import IngestError

        raise IngestError(f"{folder} is not a folder; pass the folder that holds your documents")
    skipped: list[Skipped] = []

    def unreadable(error: OSError) -> None:
        skipped.append(Skipped(_rel(Path(error.filename), root), f"cannot list folder: {error.strerror}"))

    candidates: list[tuple[Path, str]] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable):
        here = Path(dirpath)
        dirnames.sort()
        for name in list(dirnames):
            if excluded and os.path.realpath(here / name) in excluded:
                dirnames.remove(name)  # the index's own files are not documents
            elif name.startswith("."):
                dirnames.remove(name)
                skipped.append(Skipped(_rel(here / name, root), "hidden folder; not indexed"))
            elif (here / name).is_symlink():  # os.walk does not descend into it; say so
                dirnames.remove(name)
                skipped.append(
                    Skipped(_rel(here / name, root), "symlinked folder; not followed (avoids loops and duplicates)")
                )
        for name in sorted(filenames):
            if excluded and os.path.realpath(here / name) in excluded:
                continue
            if not _utf8(str((here / name).relative_to(root))):
                skipped.append(Skipped(_rel(here / name, root), "file name is not valid UTF-8; rename it"))
            elif name.startswith("."):
                skipped.append(Skipped(_rel(here / name, root), "hidden file; not indexed"))
            else:
                candidates.append((here / name, _rel(here / name, root)))
    candidates.sort(key=lambda item: item[1])  # walk order differs between file systems
    return candidates, skipped


def load_folder(
    folder: str | Path,
    max_file_mb: float = 10.0,
    *,
    ingest_file_timeout_s: float = 30.0,
    ingest_file_memory_mib: int = 1024,
    worker: BudgetedWorker | None = None,
) -> tuple[list, list[Skipped]]:
    """Every supported file under `folder` as a Document, and every other file with its reason.

    Each file is parsed under the time and memory budgets (the defaults are Settings'); a file
    over one is skipped, and the rest still load. Pass a started `parser_worker` as `worker` to
    reuse it (its own budgets then apply); it is left running.
    """
    candidates, skipped = scan_folder(folder)
    documents = []
    own = worker is None
    worker = worker or parser_worker(ingest_file_timeout_s, ingest_file_memory_mib)
    try:
        for path, doc_id in candidates:
            try:
                documents.append(parse_in(worker, read_file(path, int(max_file_mb * 1_000_000)), path.suffix, doc_id))
            except SkipFile as skip:
                skipped.append(Skipped(doc_id, str(skip)))
    finally:
        if own:
            worker.close()
    skipped.sort(key=lambda s: s.path)
    return documents, skipped


def _rel(path: Path, root: Path) -> str:
    # A file name that is not UTF-8 decodes to surrogates; keep them printable in reports.
    return path.relative_to(root).as_posix().encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False

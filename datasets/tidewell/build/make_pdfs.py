"""Render the PDF documents of the Tidewell corpus from their Markdown-ish sources.

Regenerate all PDFs (from the repository root):

    python3 -m venv /tmp/pdfenv && /tmp/pdfenv/bin/pip install fpdf2 pypdf
    /tmp/pdfenv/bin/python datasets/tidewell/build/make_pdfs.py

Each source is ``build/pdf_sources/<name>.md``. It starts with a front-matter
block between two ``---`` lines giving ``output`` (path relative to
``corpus/``), ``title``, ``subject`` and ``header`` (running page header).
The body uses a tiny Markdown subset:

* ``# `` document title, ``## `` section heading, ``### `` sub-heading (bold);
* ``- `` bullet items and ``1. `` numbered items (one line each);
* any other non-blank lines form a paragraph; blank lines end it.

Output is byte-reproducible for a given fpdf2 version: the creation date and
all metadata are fixed, only the core font Helvetica is used, and the text is
restricted to Latin-1 (typographic quotes and dashes are mapped to ASCII).
After rendering, every PDF is read back with pypdf and checked: with the
running header and page footer removed, the text of every heading, paragraph
and list item must be recoverable from the extracted text (whitespace
normalised), so facts stated in the source can be found verbatim.
Generated with fpdf2 2.8.9 and checked with pypdf 7.1.1.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import re
import sys

from fpdf import FPDF

HERE = pathlib.Path(__file__).resolve().parent
SOURCES = HERE / "pdf_sources"
CORPUS = HERE.parent / "corpus"

CREATION_DATE = dt.datetime(2024, 12, 2, 9, 0, 0, tzinfo=dt.UTC)
AUTHOR = "Tidewell Home, Inc. (fictional)"
CREATOR = "datasets/tidewell/build/make_pdfs.py"

ASCII_MAP = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2026": "...",
    "\u00a0": " ",
    "\u2022": "-",
    "\u2212": "-",
}

LINE_H = 5.2  # body line height in mm


def to_latin1(text: str, where: str) -> str:
    for src, dst in ASCII_MAP.items():
        text = text.replace(src, dst)
    try:
        text.encode("latin-1")
    except UnicodeEncodeError as exc:  # pragma: no cover - data error
        raise SystemExit(f"{where}: non-Latin-1 character {text[exc.start]!r}") from exc
    return text.replace("**", "")


def parse(path: pathlib.Path) -> tuple[dict[str, str], list[tuple[str, str]]]:
    raw = to_latin1(path.read_text(encoding="utf-8"), path.name)
    m = re.match(r"^---\n(.*?)\n---\n", raw, re.S)
    if not m:
        raise SystemExit(f"{path.name}: missing front matter")
    meta = {}
    for line in m.group(1).splitlines():
        key, _, value = line.partition(":")
        meta[key.strip()] = value.strip()
    blocks: list[tuple[str, str]] = []
    para: list[str] = []

    def flush() -> None:
        if para:
            blocks.append(("p", " ".join(para)))
            para.clear()

    for line in raw[m.end() :].splitlines():
        s = line.strip()
        if not s:
            flush()
        elif s.startswith("### "):
            flush()
            blocks.append(("h3", s[4:]))
        elif s.startswith("## "):
            flush()
            blocks.append(("h2", s[3:]))
        elif s.startswith("# "):
            flush()
            blocks.append(("h1", s[2:]))
        elif s.startswith("- "):
            flush()
            blocks.append(("li", s[2:]))
        elif re.match(r"^\d+\. ", s):
            flush()
            num, _, rest = s.partition(" ")
            blocks.append(("ol:" + num, rest))
        else:
            para.append(s)
    flush()
    return meta, blocks


class Doc(FPDF):
    running_header = ""

    def header(self) -> None:
        self.set_font("Helvetica", "", 8)
        self.set_text_color(110, 110, 110)
        self.cell(0, 5, self.running_header, new_x="LMARGIN", new_y="NEXT")
        self.ln(4)
        self.set_text_color(0, 0, 0)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("Helvetica", "", 8)
        self.set_text_color(110, 110, 110)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="C")
        self.set_text_color(0, 0, 0)


def render(meta: dict[str, str], blocks: list[tuple[str, str]], out: pathlib.Path) -> None:
    pdf = Doc(format="A4", unit="mm")
    pdf.running_header = meta["header"]
    pdf.set_margins(22, 18, 22)
    pdf.set_auto_page_break(True, margin=20)
    pdf.set_creation_date(CREATION_DATE)
    pdf.set_title(meta["title"])
    pdf.set_subject(meta["subject"])
    pdf.set_author(AUTHOR)
    pdf.set_creator(CREATOR)
    pdf.set_producer("fpdf2")
    pdf.set_lang("en")
    pdf.alias_nb_pages()
    pdf.add_page()
    for kind, text in blocks:
        if kind == "h1":
            pdf.set_font("Helvetica", "B", 17)
            pdf.multi_cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
        elif kind in ("h2", "h3"):
            size, gap = (13, 4) if kind == "h2" else (11, 2)
            if pdf.will_page_break(size + 14):  # keep heading with its text
                pdf.add_page()
            pdf.ln(gap)
            pdf.set_font("Helvetica", "B", size)
            pdf.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1.5)
        elif kind == "p":
            pdf.set_font("Helvetica", "", 10.5)
            pdf.multi_cell(0, LINE_H, text, align="L", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        else:  # list item
            marker = "-" if kind == "li" else kind.split(":", 1)[1]
            pdf.set_font("Helvetica", "", 10.5)
            pdf.set_x(pdf.l_margin + 4)
            pdf.cell(6, LINE_H, marker)
            pdf.multi_cell(0, LINE_H, text, align="L", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(0.8)
    out.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(out))


def norm(text: str) -> str:
    return " ".join(text.lower().split())


def verify(blocks: list[tuple[str, str]], out: pathlib.Path, header: str) -> list[str]:
    from pypdf import PdfReader

    reader = PdfReader(str(out))
    pages = []
    for page in reader.pages:
        lines = (page.extract_text() or "").splitlines()
        # drop the running header (first line) and footer ("Page N of M")
        if lines and lines[0].strip() == header.strip():
            lines = lines[1:]
        if lines and re.fullmatch(r"Page \d+ of \d+", lines[-1].strip()):
            lines = lines[:-1]
        pages.append(" ".join(lines))
    full = norm(" ".join(pages))
    return [text[:80] for _, text in blocks if norm(text) not in full]


def main() -> int:
    failed = False
    for src in sorted(SOURCES.glob("*.md")):
        meta, blocks = parse(src)
        out = CORPUS / meta["output"]
        render(meta, blocks, out)
        problems = verify(blocks, out, meta["header"])
        status = "ok" if not problems else f"{len(problems)} text problems"
        print(f"{src.name:40s} -> corpus/{meta['output']:45s} {status}")
        for p in problems[:5]:
            print("    not recovered:", p)
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Loading each format, cleaning text, and reporting every bad file with its reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from llama_index.core.schema import MetadataMode

from conftest import BAD_FILES, BUNDLED_CORPUS, GOOD_FILES, IS_ROOT, PERMISSION_FILES, write_files
from toolkit.errors import IngestError
from toolkit.ingestion.loaders import (
    SkipFile,
    Skipped,
    clean_text,
    html_to_text,
    load_folder,
    parse_file,
    read_file,
    scan_folder,
)

SMALL_PDF = "handbook/remote_work_and_equipment_2021.pdf"
SMALL_PDF_TEXT = (
    "Tidewell Home, Inc. - Employee Handbook - Internal\n"
    "Employee Handbook: Remote Work and Equipment\n"
    "Section 5 of the Tidewell Employee Handbook. Version 2021.1, effective March 1, 2021. Owner:\n"
    "People team.\n"
    "5.1 Flexible work\n"
    "Following our experience during the office closures of 2020, Tidewell is adopting flexible work for all\n"
    "roles that can be done away from an office. Employees in flexible roles should work from an office\n"
    "at least one day per week, agreed with their team. Fulfillment, lab and support roles remain on-site.\n"
    "5.2 Home-office stipend\n"
    "Employees in flexible roles receive a one-time home-office stipend of $500 for furniture and\n"
    "equipment. Claim it under Expenses with receipts.\n"
    "5.3 Internet allowance\n"
    "Employees in flexible roles receive an internet allowance of $30 per month, paid with salary.\n"
    "5.4 Equipment\n"
    "Tidewell provides a laptop, refreshed every 4 years, and one external monitor on request.\n"
    "Equipment remains Tidewell property and must be returned when you leave.\n"
    "5.5 Working abroad\n"
    "You may work from another country for up to 10 working days per calendar year with your\n"
    "manager's approval.\n"
    "5.6 Review\n"
    "This policy will be reviewed after 12 months. Questions go to people@tidewell.example.\n"
    "Page 1 of 1"
)


def load_one(tmp_path: Path, name: str, content: str | bytes):
    write_files(tmp_path / "docs", {name: content})
    docs, skipped = load_folder(tmp_path / "docs")
    assert skipped == []
    assert len(docs) == 1
    return docs[0]


# --- clean_text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, cleaned",
    [
        ("A  b\r\n\n\n\nc\x07 ", "A b\n\nc"),
        ("one\rtwo\r\nthree", "one\ntwo\nthree"),
        ("tab\t\tand\u00a0nbsp", "tab and nbsp"),
        ("line end  \n  next line", "line end\nnext line"),
        ("a\n\n\n\n\n\nb", "a\n\nb"),
        ("keep\n\none blank line", "keep\n\none blank line"),
        ("\x00\x01bell\x07\x1b[0m\x7f", "bell[0m"),
        ("   \n\t\n  ", ""),
        ("café — naïve ✓", "café — naïve ✓"),
    ],
)
def test_clean_text(raw, cleaned):
    assert clean_text(raw) == cleaned


# --- formats ---------------------------------------------------------------------------------


def test_markdown_title_comes_from_the_first_heading(tmp_path):
    doc = load_one(
        tmp_path,
        "policies/return_policy.md",
        "Intro line.\n\n## Returns and refunds \n\nWithin 30 days.\n\n# Later heading\n",
    )
    assert doc.doc_id == "policies/return_policy.md"
    assert doc.text == "Intro line.\n\n## Returns and refunds\n\nWithin 30 days.\n\n# Later heading"
    assert doc.metadata == {"source": "policies/return_policy.md", "title": "Returns and refunds", "format": "markdown"}


def test_markdown_without_heading_is_titled_by_its_file_name(tmp_path):
    doc = load_one(tmp_path, "return_policy.markdown", "#hashtag is not a heading\n#### nor is a level-4 one\n")
    assert doc.metadata["title"] == "return policy"
    assert doc.metadata["format"] == "markdown"


def test_text_file(tmp_path):
    doc = load_one(tmp_path, "support/contact_us.txt", "\ufeffCall   us on\r\n0800 123 456.\r\n\r\n\r\n\r\nThanks.\r\n")
    assert doc.doc_id == "support/contact_us.txt"
    assert doc.text == "Call us on\n0800 123 456.\n\nThanks."  # BOM, CRLF, runs of spaces and blanks gone
    assert doc.metadata == {"source": "support/contact_us.txt", "title": "contact us", "format": "text"}


def test_html_drops_scripts_styles_and_navigation_and_flattens_tables(tmp_path):
    page = (
        "<!doctype html><html><head><title>Plug Mini</title><style>p { color: red }</style>"
        "<script>window.track('view');</script></head><body>"
        "<nav><a href='/'>Home</a> | <a href='/shop'>Shop</a></nav>"
        "<h1>Plug Mini</h1><p>Price: <b>$24.99</b><br>In stock.</p><noscript>Enable JavaScript</noscript>"
        "<table><tr><th>Spec</th><th>Value</th></tr><tr><td>Max load</td><td>15 A</td></tr></table>"
        "<ul><li>Matter</li><li>Wi-Fi</li></ul><script>var hidden = 'do not index';</script></body></html>"
    )
    doc = load_one(tmp_path, "products/plug-mini.html", page)
    # each block ends its line; the table's own line end leaves one blank line after it
    assert doc.text == "Plug Mini\nPrice: $24.99\nIn stock.\nSpec | Value\nMax load | 15 A\n\nMatter\nWi-Fi"
    assert doc.metadata == {"source": "products/plug-mini.html", "title": "Plug Mini", "format": "html"}


def test_html_title_without_head_stays_out_of_the_text():
    # The documented example: a page without <head> (it is optional in HTML). The title used to
    # leak into the text ('TPrice: $5') because only <head> was dropped.
    assert html_to_text("<title>T</title><p>Price: <b>$5</b></p><script>x=1</script>") == ("Price: $5", "T")


def test_indentation_between_blocks_leaves_at_most_one_blank_line():
    text, title = html_to_text("<body>\n  <h2>Specs</h2>\n\n\n  <p>  Weight:   85 g </p>\n</body>")
    assert (text, title) == ("Specs\n\nWeight: 85 g", "")


def test_htm_without_title_is_titled_by_its_file_name(tmp_path):
    doc = load_one(tmp_path, "old_page.htm", "<p>Body only.</p>")
    assert (doc.text, doc.metadata["title"], doc.metadata["format"]) == ("Body only.", "old page", "html")


def test_pdf(tmp_path):
    # fpdf2 is not installed in this venv, so the PDF is a real one from the bundled corpus.
    doc = load_one(tmp_path, "hr/remote.pdf", (BUNDLED_CORPUS / SMALL_PDF).read_bytes())
    assert doc.doc_id == "hr/remote.pdf"
    assert doc.text == SMALL_PDF_TEXT
    assert doc.metadata == {
        "source": "hr/remote.pdf",
        "title": "Employee Handbook - Remote Work and Equipment (2021)",
        "format": "pdf",
        "effective_date": "2021-03-01",  # "Version 2021.1, effective March 1, 2021", in its opening lines
    }
    # the date is bookkeeping: neither the embedder nor the model sees it
    assert "2021-03-01" not in doc.get_content(MetadataMode.EMBED).split("\n\n")[0]
    assert "effective_date" not in doc.get_content(MetadataMode.LLM)


def test_metadata_seen_by_the_embedder_and_the_llm(tmp_path):
    doc = load_one(tmp_path, "a/b.md", "# Title\n\nBody.")
    assert doc.get_content(MetadataMode.EMBED) == "source: a/b.md\ntitle: Title\n\n# Title\n\nBody."
    assert doc.get_content(MetadataMode.LLM) == "source: a/b.md\n\n# Title\n\nBody."


def test_doc_ids_are_forward_slash_relative_paths(tmp_path):
    root = write_files(
        tmp_path / "docs", {"z.md": "z", "a/b/c.txt": "c", "a/a.html": "<p>a</p>", "B.md": "b", "a/b.txt": "b2"}
    )
    docs, skipped = load_folder(root)
    # sorted by document id (code point order), whatever order the file system walks in
    assert [d.doc_id for d in docs] == ["B.md", "a/a.html", "a/b.txt", "a/b/c.txt", "z.md"]
    assert [d.metadata["source"] for d in docs] == [d.doc_id for d in docs]
    assert skipped == []


def test_uppercase_extension_is_supported(tmp_path):
    doc = load_one(tmp_path, "NOTES.TXT", "Upper case extension.")
    assert (doc.doc_id, doc.metadata["format"]) == ("NOTES.TXT", "text")


def test_loading_a_file_instead_of_a_folder(tmp_path):
    file = tmp_path / "one.md"
    file.write_text("x")
    with pytest.raises(IngestError) as info:
        load_folder(file)
    assert str(info.value) == f"{file} is not a folder; pass the folder that holds your documents"


def test_max_file_mb_is_configurable(tmp_path):
    root = write_files(tmp_path / "docs", {"big.txt": "x" * 2_500_000, "small.txt": "y"})
    docs, skipped = load_folder(root, max_file_mb=2)
    assert [d.doc_id for d in docs] == ["small.txt"]
    assert [(s.path, s.reason) for s in skipped] == [
        ("big.txt", "2.5 MB is over the 2 MB limit; raise max_file_mb to index it")
    ]
    docs, skipped = load_folder(root, max_file_mb=3)
    assert [d.doc_id for d in docs] == ["big.txt", "small.txt"] and skipped == []


def test_read_file_and_parse_file_raise_skipfile(tmp_path):
    path = tmp_path / "x.docx"
    path.write_bytes(b"PK")
    with pytest.raises(SkipFile, match=r"^unsupported file type '\.docx'"):
        read_file(path, 1000)
    with pytest.raises(SkipFile, match="^no text after cleaning$"):
        parse_file(b"<script>only()</script>", ".html", "x.html")


# --- the folder of bad inputs ----------------------------------------------------------------


def test_bad_inputs_are_reported_and_the_good_files_load(bad_folder):
    docs, skipped = load_folder(bad_folder)
    reasons = {s.path: s.reason for s in skipped}
    assert len(reasons) == len(skipped)  # each file reported once
    if IS_ROOT:  # root reads files and lists folders whatever their mode
        assert reasons == BAD_FILES
        assert [d.doc_id for d in docs] == [
            "good.md",
            "latin1.txt",
            "locked/inside.txt",
            "notes.txt",
            "page.html",
            "secret.txt",
            "sub/deep.txt",
        ]
    else:
        assert reasons == BAD_FILES | PERMISSION_FILES
        assert [d.doc_id for d in docs] == GOOD_FILES
    assert [s.path for s in skipped] == sorted(reasons)
    texts = {d.doc_id: d.text for d in docs}
    assert texts["good.md"] == "# Returns\n\nYou have 30 days to return an item."
    assert texts["notes.txt"] == "Plain notes about shipping."
    assert texts["page.html"] == "Hub costs $99."
    assert texts["sub/deep.txt"] == "A file one folder down."
    # Latin-1 bytes, read as Windows-1252 (a superset for text), and the document says so
    assert texts["latin1.txt"] == "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e"
    assert {d.doc_id: d.metadata.get("encoding") for d in docs if "encoding" in d.metadata} == {"latin1.txt": "cp1252"}


def test_scan_folder_lists_candidates_and_passes_over_hidden_and_symlinked_folders(bad_folder):
    candidates, passed_over = scan_folder(bad_folder)
    top = [
        "README",
        "binary.txt",
        "blank.pdf",
        "broken.md",
        "corrupt.pdf",
        "data.csv",
        "empty.txt",
        "good.md",
        "huge.txt",
        "latin1.txt",
        "loop.md",
        "notes.txt",
        "page.html",
        "pipe.txt",
        "secret.txt",
        "spaces.md",
        "truncated.pdf",
    ]
    expected_ids = sorted(top + (["locked/inside.txt"] if IS_ROOT else []) + ["sub/deep.txt"])
    assert [doc_id for _, doc_id in candidates] == expected_ids
    assert all(path == bad_folder / doc_id for path, doc_id in candidates)
    expected = [
        (".git", "hidden folder; not indexed"),
        (".hidden.md", "hidden file; not indexed"),
        ("sub/parent", "symlinked folder; not followed (avoids loops and duplicates)"),
    ]
    if not IS_ROOT:
        expected.insert(2, ("locked", "cannot list folder: Permission denied"))
    assert [(s.path, s.reason) for s in passed_over] == expected


NOBODY = 65534

# Here the venv's interpreter is a symlink into /root/.pyenv, and /root is mode 0700, so `nobody`
# cannot exec it (a preexec_fn that drops privileges fails with EACCES). Instead the
# subprocess starts as root, imports everything it needs and starts the parser's worker (which
# only ever sees bytes the caller read), then drops to nobody for good before it touches the folder.
AS_NOBODY = textwrap.dedent("""
    import json, os, sys
    import encodings.utf_8_sig, bs4, pypdf  # imported lazily by the loaders; import while still root
    from llama_index.core.schema import Document
    from toolkit.ingestion.loaders import load_folder, parser_worker
    worker = parser_worker(30, 1024)
    worker.call(len, b"started as root")
    os.setgroups([])
    os.setgid({uid})
    os.setuid({uid})
    assert os.geteuid() == {uid} and os.getegid() == {uid}
    docs, skipped = load_folder(sys.argv[1], worker=worker)
    print(json.dumps({{"docs": [d.doc_id for d in docs], "skipped": {{s.path: s.reason for s in skipped}}}}))
""").format(uid=NOBODY)


@pytest.mark.skipif(not IS_ROOT, reason="not root: the in-process test above already covers permissions")
def test_unreadable_file_and_folder_as_an_unprivileged_user(bad_folder):
    assert os.stat(bad_folder).st_mode & 0o005 == 0o005  # the folder is reachable by others
    result = subprocess.run(
        [sys.executable, "-c", AS_NOBODY, str(bad_folder)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["skipped"]["secret.txt"] == "no read permission; run chmod +r on it, or ingest as its owner"
    assert out["skipped"]["locked"] == "cannot list folder: Permission denied"
    assert out["skipped"] == BAD_FILES | PERMISSION_FILES
    assert out["docs"] == GOOD_FILES


def test_a_file_name_that_is_not_utf8_is_skipped_not_a_crash(tmp_path):
    import os

    root = tmp_path / "docs"
    root.mkdir()
    (root / "good.md").write_text("Fine text here.", encoding="utf-8")
    with open(os.path.join(os.fsencode(root), b"bad-\xff.md"), "wb") as f:
        f.write(b"Text in a file whose name is Latin-1.")
    docs, skipped = load_folder(root)
    assert [d.doc_id for d in docs] == ["good.md"]
    assert skipped == [Skipped("bad-\ufffd.md", "file name is not valid UTF-8; rename it")]

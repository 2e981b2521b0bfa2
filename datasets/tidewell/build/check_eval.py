"""Check the Tidewell evaluation set against the corpus and print statistics.

Run from the repository root (needs pypdf; beautifulsoup4 is used for HTML
if installed, otherwise a standard-library parser):

    /tmp/pdfenv/bin/python datasets/tidewell/build/check_eval.py [--verbose]

The corpus is loaded the way a simple ingestion pipeline would load it:
HTML -> visible text (no <head>, <script>, <style>), PDF -> pypdf's
extract_text() of every page, Markdown and text files -> raw text.
Matching is done on normalised text: Unicode NFKC, lower case, runs of
whitespace collapsed to one space.

Checks (any failure makes the exit status 1):
* every line of eval/questions.jsonl is a JSON object with exactly the keys
  id, question, answer, aliases, sources, category, difficulty, answerable;
* ids are unique and sequential (q001, q002, ...), questions are unique;
* category and difficulty take allowed values;
* unanswerable questions have answerable=false, category "unanswerable",
  an empty answer, no aliases and no sources (and vice versa);
* answerable questions: the answer is 1-6 words, every source id exists,
  the answer occurs verbatim in at least one gold source, and every gold
  source contains the answer or one of its aliases.

--verbose also lists, per answerable question, the non-gold documents that
contain the gold answer (useful to see which questions a string-match
metric could "pass" from the wrong document).
"""

from __future__ import annotations

import collections
import json
import pathlib
import sys
import unicodedata
from html.parser import HTMLParser

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
QUESTIONS = ROOT / "eval" / "questions.jsonl"

KEYS = {"id", "question", "answer", "aliases", "sources", "category", "difficulty", "answerable"}
CATEGORIES = ["policy", "product", "support", "release_notes", "handbook", "company", "unanswerable"]
DIFFICULTIES = ["easy", "medium", "hard"]


def normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


class _VisibleText(HTMLParser):
    """Fallback HTML-to-text used when beautifulsoup4 is not installed."""

    SKIP = {"head", "script", "style", "noscript", "template"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.depth += 1

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth:
            self.parts.append(data)


def html_text(raw: str) -> str:
    try:
        from bs4 import BeautifulSoup
    except ImportError:
        parser = _VisibleText()
        parser.feed(raw)
        return " ".join(parser.parts)
    soup = BeautifulSoup(raw, "html.parser")
    for tag in soup(["head", "script", "style", "noscript", "template"]):
        tag.decompose()
    return soup.get_text(" ")


def pdf_text(path: pathlib.Path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)


def load_corpus() -> dict[str, str]:
    docs = {}
    for path in sorted(CORPUS.rglob("*")):
        if not path.is_file():
            continue
        doc_id = path.relative_to(CORPUS).as_posix()
        suffix = path.suffix.lower()
        if suffix in (".html", ".htm"):
            docs[doc_id] = html_text(path.read_text(encoding="utf-8"))
        elif suffix == ".pdf":
            docs[doc_id] = pdf_text(path)
        elif suffix in (".md", ".txt"):
            docs[doc_id] = path.read_text(encoding="utf-8")
        else:
            print(f"WARNING: unexpected file type {doc_id}")
    return docs


def corpus_stats(docs: dict[str, str]) -> None:
    by_folder = collections.defaultdict(lambda: [0, 0, collections.Counter()])
    for doc_id, text in docs.items():
        folder = doc_id.split("/", 1)[0]
        entry = by_folder[folder]
        entry[0] += 1
        entry[1] += len(text.split())
        entry[2][pathlib.PurePosixPath(doc_id).suffix.lstrip(".")] += 1
    print("\nCorpus")
    print(f"  {'folder':15s} {'docs':>5s} {'words':>7s}  formats")
    for folder in sorted(by_folder):
        n, words, fmts = by_folder[folder]
        fmt = ", ".join(f"{k} {v}" for k, v in sorted(fmts.items()))
        print(f"  {folder:15s} {n:5d} {words:7d}  {fmt}")
    total_words = sum(e[1] for e in by_folder.values())
    print(f"  {'total':15s} {len(docs):5d} {total_words:7d}")
    lengths = sorted(len(t.split()) for t in docs.values())
    print(f"  words per document: min {lengths[0]}, median {lengths[len(lengths) // 2]}, max {lengths[-1]}")
    formats = collections.Counter(pathlib.PurePosixPath(d).suffix.lstrip(".") for d in docs)
    print("  formats: " + ", ".join(f"{k} {v}" for k, v in sorted(formats.items())))


def check_questions(docs: dict[str, str], verbose: bool) -> list[str]:
    errors: list[str] = []
    norm_docs = {doc_id: normalise(text) for doc_id, text in docs.items()}
    rows = []
    for lineno, line in enumerate(QUESTIONS.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            errors.append(f"line {lineno}: blank line")
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            errors.append(f"line {lineno}: invalid JSON ({exc})")
    seen_questions = set()
    for i, q in enumerate(rows, 1):
        qid = q.get("id", f"line {i}")
        if set(q) != KEYS:
            errors.append(f"{qid}: keys {sorted(q)} != {sorted(KEYS)}")
            continue
        if q["id"] != f"q{i:03d}":
            errors.append(f"{qid}: expected id q{i:03d}")
        nq = normalise(q["question"])
        if nq in seen_questions:
            errors.append(f"{qid}: duplicate question")
        seen_questions.add(nq)
        if q["category"] not in CATEGORIES:
            errors.append(f"{qid}: bad category {q['category']!r}")
        if q["difficulty"] not in DIFFICULTIES:
            errors.append(f"{qid}: bad difficulty {q['difficulty']!r}")
        if not isinstance(q["aliases"], list) or not isinstance(q["sources"], list):
            errors.append(f"{qid}: aliases and sources must be lists")
            continue
        if not isinstance(q["answerable"], bool):
            errors.append(f"{qid}: answerable must be a boolean")
        if not q["answerable"] or q["category"] == "unanswerable":
            if q["answerable"] or q["category"] != "unanswerable" or q["answer"] or q["aliases"] or q["sources"]:
                errors.append(
                    f"{qid}: unanswerable questions need answerable=false, category "
                    "'unanswerable', answer '', aliases [] and sources []"
                )
            continue
        answer = normalise(q["answer"])
        if not 1 <= len(answer.split()) <= 6:
            errors.append(f"{qid}: answer {q['answer']!r} is not 1-6 words")
        if not q["sources"]:
            errors.append(f"{qid}: answerable question without sources")
        missing = [s for s in q["sources"] if s not in docs]
        if missing:
            errors.append(f"{qid}: unknown source(s) {missing}")
            continue
        accepted = [answer] + [normalise(a) for a in q["aliases"]]
        if not any(answer in norm_docs[s] for s in q["sources"]):
            errors.append(f"{qid}: answer {q['answer']!r} not found verbatim in {q['sources']}")
        for s in q["sources"]:
            if not any(a in norm_docs[s] for a in accepted):
                errors.append(f"{qid}: gold source {s} contains neither the answer nor an alias")
        if verbose:
            others = [d for d, t in norm_docs.items() if d not in q["sources"] and answer in t]
            if others:
                print(f"  {qid} {q['answer']!r} also in: {', '.join(others)}")

    cats = collections.Counter(q.get("category") for q in rows)
    diffs = collections.Counter(q.get("difficulty") for q in rows)
    print(
        f"\nQuestions: {len(rows)} "
        f"({sum(1 for q in rows if q.get('answerable'))} answerable, "
        f"{sum(1 for q in rows if q.get('answerable') is False)} unanswerable)"
    )
    print("  by category:   " + ", ".join(f"{c} {cats[c]}" for c in CATEGORIES))
    print("  by difficulty: " + ", ".join(f"{d} {diffs[d]}" for d in DIFFICULTIES))
    print(f"  {'category':15s}" + "".join(f"{d:>8s}" for d in DIFFICULTIES))
    for c in CATEGORIES:
        cells = [sum(1 for q in rows if q.get("category") == c and q.get("difficulty") == d) for d in DIFFICULTIES]
        print(f"  {c:15s}" + "".join(f"{n:8d}" for n in cells))
    cited = collections.Counter(s for q in rows for s in q.get("sources", []))
    folders = collections.Counter(s.split("/", 1)[0] for s in cited.elements())
    formats = collections.Counter(pathlib.PurePosixPath(s).suffix.lstrip(".") for s in cited.elements())
    print("  gold sources by folder: " + ", ".join(f"{k} {v}" for k, v in sorted(folders.items())))
    print("  gold sources by format: " + ", ".join(f"{k} {v}" for k, v in sorted(formats.items())))
    print(f"  documents cited as a gold source: {len(cited)} of {len(docs)}")
    return errors


def main() -> int:
    verbose = "--verbose" in sys.argv[1:]
    docs = load_corpus()
    corpus_stats(docs)
    errors = check_questions(docs, verbose)
    if errors:
        print(f"\nFAILED: {len(errors)} problem(s)")
        for e in errors:
            print("  " + e)
        return 1
    print("\nOK: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Check the Tidewell evaluation sets against the corpus and print statistics.

Run from the repository root (needs pypdf; beautifulsoup4 is used for HTML
if installed, otherwise a standard-library parser):

    /work/main/.venv/bin/python datasets/tidewell/build/check_eval.py [--verbose]

The corpus is loaded the way a simple ingestion pipeline would load it:
HTML -> visible text (no <head>, <script>, <style>), PDF -> pypdf's
extract_text() of every page, Markdown and text files -> raw text.
Matching is done on normalised text: Unicode NFKC, lower case, runs of
whitespace collapsed to one space.

Two files are checked: eval/questions.jsonl (ids q001, q002, ...) and
eval/customer_questions.jsonl (ids c001, c002, ...; two more keys, style
and split). Checks (any failure makes the exit status 1):
* every line is a JSON object with exactly the file's keys: id, question,
  answer, aliases, sources, category, difficulty, answerable (plus style
  and split in customer_questions.jsonl);
* ids are unique and sequential, questions are unique within and across
  the two files;
* category and difficulty take allowed values;
* unanswerable questions have answerable=false, category "unanswerable",
  an empty answer, no aliases and no sources (and vice versa);
* answerable questions: the answer is 1-6 words, every source id exists
  and is not one of the outdated distractor documents, the answer occurs
  verbatim in at least one gold source, and every gold source contains the
  answer or one of its aliases (except for style two_fact, whose sources
  also list the document of the bridging fact);
* customer_questions.jsonl: style is plain, chat, typo, two_fact or
  near_miss, and a question is near_miss exactly when it is unanswerable;
  split is dev or test and equals assign_splits() (seeded, stratified).

--verbose also lists, per answerable question, the non-gold documents that
contain the gold answer (useful to see which questions a string-match
metric could "pass" from the wrong document).
"""

from __future__ import annotations

import collections
import json
import pathlib
import random
import sys
import unicodedata
from html.parser import HTMLParser

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
QUESTIONS = ROOT / "eval" / "questions.jsonl"
CUSTOMER_QUESTIONS = ROOT / "eval" / "customer_questions.jsonl"

KEYS = {"id", "question", "answer", "aliases", "sources", "category", "difficulty", "answerable"}
CUSTOMER_KEYS = KEYS | {"style", "split"}
CATEGORIES = ["policy", "product", "support", "release_notes", "handbook", "company", "unanswerable"]
DIFFICULTIES = ["easy", "medium", "hard"]
STYLES = ["plain", "chat", "typo", "two_fact", "near_miss"]
SPLITS = ["dev", "test"]
SPLIT_SEED = 2026
# Outdated documents kept next to the ones that replaced them: never a gold source.
DISTRACTORS = {
    "policies/returns_2022.md",
    "policies/warranty_2020.md",
    "policies/shipping_2022.md",
    "handbook/remote_work_and_equipment_2021.pdf",
    "company/press_2021_parental_leave.md",
    "company/press_2022_tidewell_plus_launch.md",
}


def normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def assign_splits(rows: list[dict]) -> dict[str, str]:
    """Seeded dev/test split, stratified by (style, answerable), half and half.

    One random.Random(SPLIT_SEED) shuffles the ids of each stratum in turn
    (strata in sorted order, ids sorted first); the first half of each
    shuffled stratum (rounded up) is dev, the rest test.

    >>> rows = [{"id": f"c{i:03d}", "style": "plain", "answerable": True} for i in range(1, 5)]
    >>> sorted(assign_splits(rows).values())
    ['dev', 'dev', 'test', 'test']
    """
    strata: dict[tuple[str, bool], list[str]] = collections.defaultdict(list)
    for q in rows:
        strata[(q["style"], q["answerable"])].append(q["id"])
    rng = random.Random(SPLIT_SEED)
    split = {}
    for key in sorted(strata):
        ids = sorted(strata[key])
        rng.shuffle(ids)
        half = (len(ids) + 1) // 2
        for i, qid in enumerate(ids):
            split[qid] = "dev" if i < half else "test"
    return split


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


def read_rows(path: pathlib.Path, errors: list[str]) -> list[dict]:
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            errors.append(f"{path.name} line {lineno}: blank line")
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            errors.append(f"{path.name} line {lineno}: invalid JSON ({exc})")
    return rows


def check_questions(
    docs: dict[str, str],
    verbose: bool,
    path: pathlib.Path = QUESTIONS,
    prefix: str = "q",
    keys: set[str] = KEYS,
    seen_questions: set[str] | None = None,
) -> tuple[list[str], list[dict]]:
    """Check one evaluation file; return (errors, rows).

    seen_questions collects normalised questions across files, so the second
    file may not repeat a question of the first.
    """
    errors: list[str] = []
    norm_docs = {doc_id: normalise(text) for doc_id, text in docs.items()}
    rows = read_rows(path, errors)
    if seen_questions is None:
        seen_questions = set()
    styled = "style" in keys
    for i, q in enumerate(rows, 1):
        qid = q.get("id", f"line {i}")
        if set(q) != keys:
            errors.append(f"{qid}: keys {sorted(q)} != {sorted(keys)}")
            continue
        if q["id"] != f"{prefix}{i:03d}":
            errors.append(f"{qid}: expected id {prefix}{i:03d}")
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
        if styled:
            if q["style"] not in STYLES:
                errors.append(f"{qid}: bad style {q['style']!r}")
            if q["split"] not in SPLITS:
                errors.append(f"{qid}: bad split {q['split']!r}")
            if (q["style"] == "near_miss") != (q["answerable"] is False):
                errors.append(f"{qid}: a question is near_miss exactly when it is unanswerable")
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
        outdated = [s for s in q["sources"] if s in DISTRACTORS]
        if outdated:
            errors.append(f"{qid}: outdated document(s) {outdated} cannot be a gold source")
        accepted = [answer] + [normalise(a) for a in q["aliases"]]
        if not any(answer in norm_docs[s] for s in q["sources"]):
            errors.append(f"{qid}: answer {q['answer']!r} not found verbatim in {q['sources']}")
        # A two_fact question also cites the document of its bridging fact,
        # which need not contain the final answer.
        if not (styled and q["style"] == "two_fact"):
            for s in q["sources"]:
                if not any(a in norm_docs[s] for a in accepted):
                    errors.append(f"{qid}: gold source {s} contains neither the answer nor an alias")
        if verbose:
            others = [d for d, t in norm_docs.items() if d not in q["sources"] and answer in t]
            if others:
                print(f"  {qid} {q['answer']!r} also in: {', '.join(others)}")
    if styled and all(set(q) == keys for q in rows):
        expected = assign_splits(rows)
        wrong = [q["id"] for q in rows if q["split"] != expected[q["id"]]]
        if wrong:
            errors.append(f"split differs from assign_splits() for {len(wrong)} question(s), e.g. {wrong[:5]}")
    question_stats(path, rows, len(docs))
    if styled:
        style_stats(rows)
    return errors, rows


def question_stats(path: pathlib.Path, rows: list[dict], n_docs: int) -> None:
    cats = collections.Counter(q.get("category") for q in rows)
    diffs = collections.Counter(q.get("difficulty") for q in rows)
    print(
        f"\n{path.name}: {len(rows)} questions "
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
    print(f"  documents cited as a gold source: {len(cited)} of {n_docs}")


def style_stats(rows: list[dict]) -> None:
    print(f"  {'style':15s}" + "".join(f"{s:>8s}" for s in SPLITS) + f"{'total':>8s}")
    for style in STYLES:
        cells = [sum(1 for q in rows if q.get("style") == style and q.get("split") == s) for s in SPLITS]
        print(f"  {style:15s}" + "".join(f"{n:8d}" for n in cells) + f"{sum(cells):8d}")
    for label, flag in (("answerable", True), ("unanswerable", False)):
        cells = [sum(1 for q in rows if q.get("answerable") is flag and q.get("split") == s) for s in SPLITS]
        print(f"  {label:15s}" + "".join(f"{n:8d}" for n in cells) + f"{sum(cells):8d}")
    cells = [sum(1 for q in rows if q.get("split") == s) for s in SPLITS]
    print(f"  {'total':15s}" + "".join(f"{n:8d}" for n in cells) + f"{sum(cells):8d}")


def main() -> int:
    verbose = "--verbose" in sys.argv[1:]
    docs = load_corpus()
    corpus_stats(docs)
    seen: set[str] = set()
    errors, _ = check_questions(docs, verbose, seen_questions=seen)
    more, _ = check_questions(docs, verbose, CUSTOMER_QUESTIONS, "c", CUSTOMER_KEYS, seen)
    errors += more
    if errors:
        print(f"\nFAILED: {len(errors)} problem(s)")
        for e in errors:
            print("  " + e)
        return 1
    print("\nOK: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

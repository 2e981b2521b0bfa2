"""Write the Tidewell evaluation set in BEIR format, so `python -m toolkit eval-retrieval` runs on it.

Run from the repository root, in the project's environment (it reads the corpus with the
toolkit's own loaders):

    python datasets/tidewell/build/make_beir.py [--out datasets/tidewell/beir]

What it writes (deterministic: same corpus and questions, same bytes):

    corpus.jsonl      the 54 corpus documents: _id = path under corpus/ (the eval set's document id),
                      title and text as toolkit.loaders.parse_file extracts them (HTML visible text,
                      pypdf text, Markdown and plain text cleaned), in sorted id order
    queries.jsonl     the 92 answerable questions (_id = question id); the 14 unanswerable ones
                      have no relevant document, so, as in BEIR, they are not retrieval queries
    qrels/test.tsv    one row per (question, gold source), grade 1

Grades are binary on purpose. The data set says only that every listed source contains the
answer (README, "sources"); it does not rank them. The `category` names the folder of the main
source, but it does not pick one document when two gold sources share a folder (for example
q023: policies/warranty.md and policies/limited_warranty_terms.pdf), so grading from it would
invent distinctions the data does not make. Outdated versions of a conflicting fact are never
sources, so they are judged non-relevant by omission, as they should be.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

TIDEWELL = Path(__file__).resolve().parents[1]


def build() -> tuple[dict, dict, dict]:
    """(corpus, queries, qrels) in the shapes toolkit.beir.write_beir takes."""
    from toolkit.ingestion.loaders import load_folder

    documents, skipped = load_folder(TIDEWELL / "corpus")
    if skipped:
        raise SystemExit(f"corpus files could not be read: {skipped}")
    corpus = {
        doc.id_: {"title": doc.metadata["title"], "text": doc.text} for doc in sorted(documents, key=lambda d: d.id_)
    }
    queries, qrels = {}, {}
    for line in (TIDEWELL / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if not row["answerable"]:
            continue
        missing = [source for source in row["sources"] if source not in corpus]
        if missing:
            raise SystemExit(f"{row['id']}: gold sources not in the corpus: {missing}")
        queries[row["id"]] = row["question"]
        qrels[row["id"]] = {source: 1 for source in row["sources"]}
    return corpus, queries, qrels


def main(argv: list[str] | None = None) -> int:
    from toolkit.evaluation.beir import write_beir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", default=str(TIDEWELL / "beir"), help="folder to write (default: datasets/tidewell/beir)"
    )
    args = parser.parse_args(argv)
    corpus, queries, qrels = build()
    write_beir(args.out, corpus, queries, qrels, split="test")
    judgements = sum(len(judged) for judged in qrels.values())
    print(f"{len(corpus)} documents, {len(queries)} queries, {judgements} judgements -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

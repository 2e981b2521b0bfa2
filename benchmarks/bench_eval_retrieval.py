"""`python -m toolkit eval-retrieval` on a 5,000-document BEIR-format corpus, for every retriever.
Target: each run finishes in under 10 minutes on 2 cores.

    python benchmarks/bench_eval_retrieval.py [--docs 5000] [--queries 300] [--seed 0]

No public BEIR data set can be fetched here (no network, and no PyPI package carries one: `beir`,
`ir-datasets` and `mteb` download their data at run time), so the corpus is generated, reproducibly,
from the bundled Tidewell documents (datasets/tidewell/beir/corpus.jsonl), sized like BEIR's
SciFact (5,183 abstracts, 300 test queries):

- document i: a seeded random source document, a seeded random first sentence, then the
  sentences that follow until a seeded length of 60 to 200 words (the length of a typical BEIR
  abstract or passage); its title is the source's title plus " (part i)";
- query j: one sentence of 8 to 30 words from a seeded random generated document; every
  generated document that contains that sentence is relevant (grade 1).

It is written to a temporary folder, not committed. Each retriever runs as a real subprocess of
the command with a fresh TOOLKIT_HOME shared by the runs, in this order: bm25, dense (cold:
embeds the corpus), hybrid (the embeddings come from the cache), dense again (warm). The time
quoted is the command's own `seconds` (from start to metrics, model loading included) and the
subprocess's wall time (interpreter start included). One run each: a cold run cannot be repeated
without embedding again, and each takes minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import record

from toolkit.evaluation.beir import load_beir, write_beir

PROJECT = Path(__file__).resolve().parents[1]
BUNDLED = PROJECT / "datasets" / "tidewell" / "beir"
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def make_corpus(docs: int, queries: int, seed: int):
    """(corpus, queries, qrels) generated from the bundled documents' sentences."""
    rng = random.Random(seed)
    sources = [
        (doc["title"], [s.strip() for s in _SENTENCE.split(doc["text"]) if len(s.split()) >= 3])
        for doc in load_beir(BUNDLED).corpus.values()
    ]
    sources = [(title, sentences) for title, sentences in sources if len(sentences) >= 5]
    corpus, membership = {}, {}
    for i in range(docs):
        title, sentences = rng.choice(sources)
        start, target = rng.randrange(len(sentences)), rng.randint(60, 200)
        chosen, words = [], 0
        for sentence in sentences[start:] + sentences[:start]:  # wrap around: always long enough
            chosen.append(sentence)
            words += len(sentence.split())
            if words >= target:
                break
        doc_id = f"gen{i:05d}"
        corpus[doc_id] = {"title": f"{title} (part {i})", "text": " ".join(chosen)}
        for sentence in chosen:
            membership.setdefault(sentence, set()).add(doc_id)
    asked, qrels = {}, {}
    doc_ids = list(corpus)
    while len(asked) < queries:
        doc_id = rng.choice(doc_ids)
        candidates = [s for s in _SENTENCE.split(corpus[doc_id]["text"]) if 8 <= len(s.split()) <= 30]
        if not candidates:
            continue
        sentence = rng.choice(candidates)
        if sentence in asked.values() or sentence not in membership:
            continue
        qid = f"genq{len(asked):04d}"
        asked[qid] = sentence
        qrels[qid] = {d: 1 for d in sorted(membership[sentence])}
    return corpus, asked, qrels


def run(folder: Path, retriever: str, home: Path) -> dict:
    env = dict(os.environ, TOOLKIT_HOME=str(home))
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "toolkit", "eval-retrieval", "--beir", str(folder), "--retriever", retriever, "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(PROJECT),
        timeout=1800,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{retriever} failed ({done.returncode}): {done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    report["wall_seconds"] = round(wall, 1)
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-beir-") as temp:
        folder, home = Path(temp) / "beir", Path(temp) / "home"
        corpus, queries, qrels = make_corpus(args.docs, args.queries, args.seed)
        write_beir(folder, corpus, queries, qrels)
        words = [len(f"{d['title']} {d['text']}".split()) for d in corpus.values()]
        load_before = os.getloadavg()[0]
        runs = {}
        for name, retriever in [
            ("bm25", "bm25"),
            ("dense_cold", "dense"),
            ("hybrid_warm", "hybrid"),
            ("dense_warm", "dense"),
        ]:
            runs[name] = run(folder, retriever, home)
            print(f"{name}: {runs[name]}", file=sys.stderr, flush=True)
        results = {
            "corpus": {
                "docs": len(corpus),
                "queries": len(queries),
                "judgements": sum(len(j) for j in qrels.values()),
                "words_per_doc_mean": round(sum(words) / len(words), 1),
                "words_per_doc_max": max(words),
                "corpus_jsonl_mb": round((folder / "corpus.jsonl").stat().st_size / 1e6, 2),
                "seed": args.seed,
            },
            "runs": runs,
            "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
            "target": "every run under 600 s on 2 cores",
        }
        results["met"] = all(r["wall_seconds"] < 600 for r in runs.values())
        record("eval_retrieval", results)


if __name__ == "__main__":
    main()

"""BEIR-format data sets: load and write them, and evaluate a retriever on one.

A BEIR folder holds (https://github.com/beir-cellar/beir, "Load your own data"):

    corpus.jsonl          {"_id": "d1", "title": "...", "text": "..."} one document a line
    queries.jsonl         {"_id": "q1", "text": "..."} one query a line
    qrels/<split>.tsv     query-id <TAB> corpus-id <TAB> score, after one header row

    >>> data = load_beir("datasets/tidewell/beir")
    >>> len(data.corpus), len(data.queries), data.split
    (54, 92, 'test')
    >>> evaluate_beir("datasets/tidewell/beir", "bm25").metrics
    {'ndcg@10': 0.8564, 'recall@100': 1.0, 'mrr@10': 0.8581, 'hit@10': 1.0}

As in BEIR, only the queries judged in the split are kept, a document is indexed as
title + " " + text, and every judged query counts in the means (see toolkit/irmetrics.py).
A malformed file raises DatasetFormatError naming the file and line; nothing is skipped silently.
Dense corpus embeddings are cached under <home>/cache/beir/, keyed by a hash of corpus.jsonl and
the embedding model, so a second run with another retriever does not embed again.

Not here: the metrics themselves (irmetrics.py) and the retrievers (retrieval/retrievers.py).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DatasetFormatError
from ..files import write_atomic
from ..ingestion.persist import sha256_file

__all__ = ["BeirDataset", "BeirEvaluation", "load_beir", "write_beir", "evaluate_beir", "RETRIEVERS"]

RETRIEVERS = ("bm25", "dense", "hybrid")
QRELS_HEADER = ("query-id", "corpus-id", "score")
_LAYOUT = "a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv"


@dataclass
class BeirDataset:
    """One split of a BEIR data set: documents, the judged queries, and their judgements."""

    folder: Path
    split: str
    corpus: dict[str, dict[str, str]]  # doc id -> {"title": ..., "text": ...}, in file order
    queries: dict[str, str]  # query id -> text, only the queries judged in `split`
    qrels: dict[str, dict[str, int]]  # query id -> doc id -> grade

    def texts(self) -> list[str]:
        """The text indexed per document, in corpus order: title + " " + text (BEIR's convention)."""
        return [f"{doc['title']} {doc['text']}".strip() for doc in self.corpus.values()]


def _jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line; DatasetFormatError names a bad one."""
    with open(path, encoding="utf-8") as handle:
        try:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line.rstrip("\r\n"))
                except json.JSONDecodeError as exc:
                    raise DatasetFormatError(
                        f"{path}, line {number}: not valid JSON ({exc.msg}, column {exc.colno}); "
                        f"each line must be one JSON object"
                    ) from exc
                if not isinstance(row, dict):
                    raise DatasetFormatError(f"{path}, line {number}: a JSON {type(row).__name__}, not an object")
                yield number, row
        except UnicodeDecodeError as exc:
            raise DatasetFormatError(
                f"{path}: not UTF-8 ({exc.reason} at byte {exc.start}); convert it to UTF-8"
            ) from exc


def _field(row: dict, name: str, path: Path, number: int, required: bool = True) -> str:
    value = row.get(name)
    if value is None and not required:
        return ""
    if isinstance(value, int) and not isinstance(value, bool) and name == "_id":
        return str(value)  # some exports write numeric ids; BEIR reads them as strings
    if not isinstance(value, str):
        what = "missing" if value is None else f"a {type(value).__name__}, not a string"
        raise DatasetFormatError(f"{path}, line {number}: field {name!r} is {what}")
    return value


def _read_records(path: Path, fields: tuple[str, ...]) -> dict[str, dict[str, str]]:
    records: dict[str, dict[str, str]] = {}
    lines: dict[str, int] = {}
    for number, row in _jsonl(path):
        key = _field(row, "_id", path, number)
        if key in records:
            raise DatasetFormatError(
                f"{path}, line {number}: _id {key!r} repeats line {lines[key]}; ids must be unique"
            )
        records[key] = {name: _field(row, name, path, number, required=name == "text") for name in fields}
        lines[key] = number
    if not records:
        raise DatasetFormatError(f"{path} holds no records; {_LAYOUT}")
    return records


def _read_qrels(path: Path, corpus: Mapping[str, Any], queries: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.reader(handle, delimiter="\t"), 1):
            if not row or not "".join(row).strip():
                continue
            if number == 1 and (len(row) < 3 or not row[2].strip().lstrip("-").isdigit()):
                continue  # the header row (BEIR's is query-id, corpus-id, score); a first data row is kept
            if len(row) != 3:
                raise DatasetFormatError(
                    f"{path}, line {number}: {len(row)} tab-separated columns, expected 3: query-id, corpus-id, score"
                )
            qid, doc, score = (cell.strip() for cell in row)
            try:
                grade = int(score)
            except ValueError:
                raise DatasetFormatError(f"{path}, line {number}: score {score!r} is not an integer") from None
            if qid not in queries:
                raise DatasetFormatError(f"{path}, line {number}: query {qid!r} is not in queries.jsonl")
            if doc not in corpus:
                raise DatasetFormatError(f"{path}, line {number}: document {doc!r} is not in corpus.jsonl")
            if doc in qrels.get(qid, {}):
                raise DatasetFormatError(f"{path}, line {number}: query {qid!r} judges document {doc!r} twice")
            qrels.setdefault(qid, {})[doc] = grade
    if not qrels:
        raise DatasetFormatError(
            f"{path} holds no judgements (the split is empty); add rows "
            f"'query-id<TAB>corpus-id<TAB>score' below the header"
        )
    return qrels


def load_beir(folder: str | Path, split: str = "test") -> BeirDataset:
    """Read a BEIR folder; raises DatasetFormatError naming the file (and line) at fault.

    >>> load_beir("/nowhere")                     # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    toolkit.errors.DatasetFormatError: /nowhere is not a folder; a BEIR folder holds ...
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetFormatError(f"{folder} is not a folder; {_LAYOUT}")
    paths = {name: folder / name for name in ("corpus.jsonl", "queries.jsonl")}
    paths["qrels"] = folder / "qrels" / f"{split}.tsv"
    for name, path in paths.items():
        if not path.is_file():
            splits = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
            hint = f"; splits here: {', '.join(splits)}" if name == "qrels" and splits else f"; {_LAYOUT}"
            raise DatasetFormatError(f"{path} is missing{hint}")
    corpus = _read_records(paths["corpus.jsonl"], ("title", "text"))
    all_queries = _read_records(paths["queries.jsonl"], ("text",))
    qrels = _read_qrels(paths["qrels"], corpus, all_queries)
    queries = {qid: all_queries[qid]["text"] for qid in qrels}
    return BeirDataset(folder=folder, split=split, corpus=corpus, queries=queries, qrels=qrels)


def write_beir(
    folder: str | Path,
    corpus: Mapping[str, Mapping[str, str]],
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    split: str = "test",
) -> None:
    """Write a BEIR folder (each file atomically), in the given order, ASCII-safe JSON.

    >>> write_beir(tmp_path / "tiny", {"d1": {"title": "T", "text": "x"}}, {"q1": "x?"}, {"q1": {"d1": 1}})
    >>> sorted(p.relative_to(tmp_path / "tiny").as_posix() for p in (tmp_path / "tiny").rglob("*.*"))
    ['corpus.jsonl', 'qrels/test.tsv', 'queries.jsonl']
    """
    folder = Path(folder)
    docs = "".join(
        json.dumps({"_id": key, "title": doc.get("title", ""), "text": doc["text"]}) + "\n"
        for key, doc in corpus.items()
    )
    asked = "".join(json.dumps({"_id": key, "text": text}) + "\n" for key, text in queries.items())
    rows = ["\t".join(QRELS_HEADER)] + [
        f"{qid}\t{doc}\t{int(grade)}" for qid, judged in qrels.items() for doc, grade in judged.items()
    ]
    write_atomic(folder / "corpus.jsonl", docs)
    write_atomic(folder / "queries.jsonl", asked)
    write_atomic(folder / "qrels" / f"{split}.tsv", "\n".join(rows) + "\n")


# --- evaluation -------------------------------------------------------------------------------


@dataclass
class BeirEvaluation:
    """The headline metrics of one run, with per-query values and bootstrap intervals."""

    retriever: str
    metrics: dict[str, float]
    queries: int
    docs: int
    seconds: float
    per_query: Any = field(repr=False)  # DataFrame: one row per query, one column per metric
    summary: Any = field(repr=False)  # DataFrame: mean, ci_low, ci_high per metric

    def to_dict(self) -> dict:
        return {**self.metrics, "queries": self.queries, "docs": self.docs, "seconds": self.seconds}

    def __str__(self) -> str:
        lines = [f"{self.retriever}: {self.queries} queries, {self.docs} documents, {self.seconds:.1f} s"]
        for name, row in self.summary.iterrows():
            lines.append(f"  {name:<11} {row['mean']:.4f}   95% CI [{row['ci_low']:.4f}, {row['ci_high']:.4f}]")
        return "\n".join(lines)


def _embed_corpus(texts: list[str], embed_model, show_progress: bool):
    """float32 matrix, one row per text, filled batch by batch (never the whole corpus as lists)."""
    import numpy as np
    from tqdm.auto import tqdm

    batch = int(getattr(embed_model, "embed_batch_size", 64) or 64)
    # Longest first, so each batch pads to similar lengths; rows go back to corpus order.
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    vectors = None
    with tqdm(total=len(texts), desc="Embedding corpus", unit="doc", file=sys.stderr, disable=not show_progress) as bar:
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            embedded = np.asarray(embed_model.get_text_embedding_batch([texts[i] for i in rows]), dtype="float32")
            if vectors is None:
                vectors = np.empty((len(texts), embedded.shape[1]), dtype="float32")
            vectors[rows] = embedded
            bar.update(len(rows))
    return vectors


def _corpus_vectors(data: BeirDataset, settings, show_progress: bool):
    """Corpus embeddings from the cache, or embedded now and cached (atomically)."""
    import numpy as np

    from ..models.providers import embed_model_id, make_embed_model

    key = hashlib.sha256(
        f"{sha256_file(data.folder / 'corpus.jsonl')}|{embed_model_id(settings)}|title+text".encode()
    ).hexdigest()[:32]
    cache = Path(settings.home) / "cache" / "beir" / f"{key}.npy"
    if cache.is_file():
        try:
            vectors = np.load(cache)
            if vectors.shape[0] == len(data.corpus):
                return vectors
        except (ValueError, OSError, EOFError):
            pass  # damaged: embed again and replace it
    vectors = _embed_corpus(data.texts(), make_embed_model(settings), show_progress)
    cache.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=cache.parent, suffix=".npy.tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, vectors)
        os.replace(temp, cache)
    except BaseException:
        os.unlink(temp)
        raise
    return vectors


def _query_vectors(queries: list[str], settings, show_progress: bool):
    import numpy as np
    from tqdm.auto import tqdm

    from ..models.providers import make_embed_model

    embed_model = make_embed_model(settings)
    # Query by query through the query path: models with a query instruction get it.
    return np.asarray(
        [
            embed_model.get_query_embedding(q)
            for q in tqdm(queries, desc="Embedding queries", unit="query", file=sys.stderr, disable=not show_progress)
        ],
        dtype="float32",
    )


def _ranked(scores, positions, ids: list[str]) -> list[dict[str, float]]:
    return [
        {ids[p]: float(s) for s, p in zip(row_scores, row_positions) if p >= 0}
        for row_scores, row_positions in zip(scores, positions)
    ]


def evaluate_beir(
    folder: str | Path,
    retriever: str = "bm25",
    split: str = "test",
    k: int = 10,
    settings=None,
    show_progress: bool = False,
) -> BeirEvaluation:
    """Index a BEIR folder's corpus, run every judged query, and score the ranking.

    Reports ndcg@k, recall@100, mrr@k and hit@k (k=10 is BEIR's headline cut). "hybrid" is
    reciprocal-rank fusion (k=60) of the dense and BM25 top max(100, k). Only "dense" and
    "hybrid" embed; BM25 needs no model.
    """
    from ..config import load_settings
    from ..retrieval.retrievers import BM25Index, DenseIndex, reciprocal_rank_fusion
    from .irmetrics import evaluate_run, summarize_metrics

    if retriever not in RETRIEVERS:
        raise ConfigError(f"unknown retriever {retriever!r}; choose one of {', '.join(RETRIEVERS)}")
    if k < 1:
        raise ConfigError(f"k must be at least 1 (got {k})")
    started = time.perf_counter()
    settings = settings or load_settings()
    data = load_beir(folder, split)
    ids, query_ids = list(data.corpus), list(data.queries)
    questions = [data.queries[q] for q in query_ids]
    depth = min(max(100, k), len(ids))
    runs = {}
    if retriever in ("bm25", "hybrid"):
        bm25 = BM25Index(data.texts(), show_progress=show_progress)
        runs["bm25"] = _ranked(*bm25.search(questions, depth), ids)
    if retriever in ("dense", "hybrid"):
        vectors = _corpus_vectors(data, settings, show_progress)
        dense = DenseIndex.build(vectors)
        runs["dense"] = _ranked(*dense.search(_query_vectors(questions, settings, show_progress), depth), ids)
    if retriever == "hybrid":
        fused = [dict(reciprocal_rank_fusion([list(d), list(b)])[:depth]) for d, b in zip(runs["dense"], runs["bm25"])]
        run = dict(zip(query_ids, fused))
    else:
        run = dict(zip(query_ids, runs[retriever]))
    names = [f"ndcg@{k}", "recall@100", f"mrr@{k}", f"hit@{k}"]
    per_query = evaluate_run(data.qrels, run, names)
    summary = summarize_metrics(per_query)
    metrics = {name: round(float(summary.loc[name, "mean"]), 4) for name in names}
    return BeirEvaluation(
        retriever=retriever,
        metrics=metrics,
        queries=len(query_ids),
        docs=len(ids),
        seconds=round(time.perf_counter() - started, 2),
        per_query=per_query,
        summary=summary,
    )

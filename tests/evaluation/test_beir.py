"""BEIR files: loading, writing, bad input naming file and line, the bundled set, and the
`eval-retrieval` command on a tiny folder whose BM25 ranking is worked out by hand."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from conftest import PROJECT
from test_cli import one_json_object, toolkit
from toolkit.errors import DatasetFormatError
from toolkit.evaluation.beir import evaluate_beir, load_beir, write_beir

# BM25 by hand (stemmed, English stopwords dropped; title + " " + text per document):
# q1 "how long is the warranty": only "warranti" matches, in d2 (tf 2 of 7 terms) and d3 (tf 4 of
#    8 terms); with k1 1.5 and b 0.75 the higher tf wins, so d3 (grade 1) ranks above d2 (grade 2).
# q2 "return window": "return" is only in d1 (relevant)  -> rank 1.
# q3 "express delivery": "delivery" is only in d1; the relevant d4 shares no term -> never retrieved.
# q4 "Plug Mini price": "plug", "mini" are only in d5 (relevant) -> rank 1.
# q5 is asked but not judged: BEIR leaves it out.
CORPUS = {
    "d1": {"title": "Returns", "text": "You can return an item within 30 days of delivery for a full refund."},
    "d2": {"title": "Warranty", "text": "Every device has a two year limited warranty."},
    "d3": {"title": "Warranty claims", "text": "Warranty claims: the warranty covers warranty repairs."},
    "d4": {"title": "Shipping", "text": "Standard shipping takes 3 to 5 business days."},
    "d5": {"title": "Plug Mini", "text": "The Plug Mini costs 24 dollars."},
}
QUERIES = {
    "q1": "how long is the warranty",
    "q2": "return window",
    "q3": "express delivery",
    "q4": "Plug Mini price",
    "q5": "who founded the company",
}
QRELS = {"q1": {"d2": 2, "d3": 1}, "q2": {"d1": 1}, "q3": {"d4": 1}, "q4": {"d5": 1}}
Q1_NDCG = (1 / math.log2(2) + 2 / math.log2(3)) / (2 / math.log2(2) + 1 / math.log2(3))  # d3, d2 vs d2, d3
EXPECTED_BM25 = {"ndcg@10": round((Q1_NDCG + 1 + 0 + 1) / 4, 4), "recall@100": 0.75, "mrr@10": 0.75, "hit@10": 0.75}


@pytest.fixture
def tiny(tmp_path) -> Path:
    write_beir(tmp_path / "tiny", CORPUS, QUERIES, QRELS)
    return tmp_path / "tiny"


def test_write_then_load(tiny):
    assert (tiny / "qrels" / "test.tsv").read_text().splitlines()[:2] == ["query-id\tcorpus-id\tscore", "q1\td2\t2"]
    assert json.loads((tiny / "corpus.jsonl").read_text().splitlines()[0]) == {"_id": "d1", **CORPUS["d1"]}
    assert stat.S_IMODE((tiny / "corpus.jsonl").stat().st_mode) & 0o044 == 0o044  # readable, not private
    data = load_beir(tiny)
    assert data.corpus == CORPUS and data.qrels == QRELS and data.split == "test"
    assert data.queries == {q: QUERIES[q] for q in ["q1", "q2", "q3", "q4"]}  # q5 is not judged
    assert data.texts()[1] == "Warranty Every device has a two year limited warranty."
    assert not [p for p in tiny.rglob("*") if p.name.endswith(".tmp")]


def test_bm25_metrics_match_the_hand_worked_ranking(tiny):
    result = evaluate_beir(tiny, "bm25")
    assert result.per_query.loc["q1", "ndcg@10"] == pytest.approx(Q1_NDCG)
    assert result.per_query["mrr@10"].tolist() == [1.0, 1.0, 0.0, 1.0]
    assert result.metrics == EXPECTED_BM25
    assert (result.queries, result.docs) == (4, 5)


def _break(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


BAD = [  # (file, its new content, the message the error must carry: file and line)
    (
        "corpus.jsonl",
        '{"_id": "d1", "text": "ok"}\n{"_id": "d2", "text": "broken\n',
        r"corpus.jsonl, line 2: not valid JSON \(Unterminated string",
    ),
    (
        "corpus.jsonl",
        '{"_id": "d1", "text": "ok"}\n\n{"_id": "d1", "text": "again"}\n',
        r"corpus.jsonl, line 3: _id 'd1' repeats line 1",
    ),
    ("corpus.jsonl", '{"_id": "d1", "title": "no text"}\n', r"corpus.jsonl, line 1: field 'text' is missing"),
    ("corpus.jsonl", '["d1", "text"]\n', r"corpus.jsonl, line 1: a JSON list, not an object"),
    ("corpus.jsonl", "\n\n", r"corpus.jsonl holds no records"),
    ("queries.jsonl", '{"_id": 7, "text": 3}\n', r"queries.jsonl, line 1: field 'text' is a int, not a string"),
    (
        "qrels/test.tsv",
        "query-id\tcorpus-id\tscore\nq1\td2\t1\nq1\td9\t1\n",
        r"test.tsv, line 3: document 'd9' is not in corpus.jsonl",
    ),
    (
        "qrels/test.tsv",
        "query-id\tcorpus-id\tscore\nq9\td2\t1\n",
        r"test.tsv, line 2: query 'q9' is not in queries.jsonl",
    ),
    ("qrels/test.tsv", "query-id\tcorpus-id\tscore\n", r"test.tsv holds no judgements \(the split is empty\)"),
    (
        "qrels/test.tsv",
        "query-id\tcorpus-id\tscore\nq1\td2\thigh\n",
        r"test.tsv, line 2: score 'high' is not an integer",
    ),
    (
        "qrels/test.tsv",
        "query-id\tcorpus-id\tscore\nq1 d2 1\n",
        r"test.tsv, line 2: 1 tab-separated columns, expected 3",
    ),
    (
        "qrels/test.tsv",
        "query-id\tcorpus-id\tscore\nq1\td2\t1\nq1\td2\t2\n",
        r"test.tsv, line 3: query 'q1' judges document 'd2' twice",
    ),
]


@pytest.mark.parametrize(
    "name, text, message", BAD, ids=[m.split(":")[0].split(",")[0] + f"-{i}" for i, (_, _, m) in enumerate(BAD)]
)
def test_malformed_files_name_file_and_line(tiny, name, text, message):
    _break(tiny, name, text)
    with pytest.raises(DatasetFormatError, match=message) as caught:
        load_beir(tiny)
    assert str(tiny / name) in str(caught.value)


def test_missing_files_and_splits(tiny, tmp_path):
    with pytest.raises(DatasetFormatError, match=r"dev.tsv is missing; splits here: test$"):
        load_beir(tiny, split="dev")
    (tiny / "queries.jsonl").unlink()
    with pytest.raises(DatasetFormatError, match=r"queries.jsonl is missing; a BEIR folder holds corpus.jsonl"):
        load_beir(tiny)
    with pytest.raises(DatasetFormatError, match=r"is not a folder"):
        load_beir(tmp_path / "nowhere")


def test_first_row_without_header_is_data(tiny):
    _break(tiny, "qrels/test.tsv", "q2\td1\t1\n")
    assert load_beir(tiny).qrels == {"q2": {"d1": 1}}


def test_dense_embeddings_are_cached_in_corpus_order(tiny, session_settings, embed_model, monkeypatch):
    import toolkit.evaluation.beir as beir

    dense = evaluate_beir(tiny, "dense", settings=session_settings)
    cached = list((session_settings.home / "cache" / "beir").glob("*.npy"))
    assert len(cached) == 1
    vectors = np.load(cached[0])
    expected = np.asarray([embed_model.get_text_embedding(t) for t in load_beir(tiny).texts()], dtype="float32")
    assert np.allclose(vectors, expected, atol=1e-5)  # batched by length, stored back in corpus order
    assert set(dense.metrics) == set(EXPECTED_BM25) and dense.queries == 4

    def no_embedding(*args, **kwargs):
        raise AssertionError("the corpus was embedded again")

    monkeypatch.setattr(beir, "_embed_corpus", no_embedding)
    hybrid = evaluate_beir(tiny, "hybrid", settings=session_settings)  # same corpus: read from the cache
    assert hybrid.per_query.shape == (4, 4)
    _break(tiny, "corpus.jsonl", (tiny / "corpus.jsonl").read_text() + '{"_id": "d6", "text": "new"}\n')
    with pytest.raises(AssertionError, match="embedded again"):  # a changed corpus is a new key
        evaluate_beir(tiny, "dense", settings=session_settings)


def test_cli_bm25_json(tiny, tmp_path):
    result = toolkit("eval-retrieval", "--beir", str(tiny), "--retriever", "bm25", "--json", home=tmp_path / "home")
    assert result.returncode == 0, result.stderr
    report = one_json_object(result.stdout)
    assert list(report) == ["ndcg@10", "recall@100", "mrr@10", "hit@10", "queries", "docs", "seconds"]
    assert {k: report[k] for k in EXPECTED_BM25} == EXPECTED_BM25
    assert (report["queries"], report["docs"]) == (4, 5)
    assert isinstance(report["seconds"], float) and report["seconds"] > 0
    assert "%" in result.stderr  # the progress bars go to standard error


def test_cli_text_output(tiny, tmp_path):
    result = toolkit("eval-retrieval", "--beir", str(tiny), "--retriever", "bm25", home=tmp_path / "home")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("bm25: 4 queries, 5 documents, ")
    assert lines[1].split()[:2] == ["ndcg@10", f"{EXPECTED_BM25['ndcg@10']:.4f}"]
    assert [line.split()[0] for line in lines[1:]] == ["ndcg@10", "recall@100", "mrr@10", "hit@10"]


@pytest.mark.parametrize("name, text, message", [BAD[0], BAD[6], BAD[8]])
def test_cli_bad_input_exits_2_with_the_message(tiny, tmp_path, name, text, message):
    _break(tiny, name, text)
    result = toolkit("eval-retrieval", "--beir", str(tiny), "--retriever", "bm25", "--json", home=tmp_path / "home")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: {tiny / name}")
    assert len(__import__("re").findall(message, result.stderr)) == 1


def test_cli_refuses_bad_k(tiny, tmp_path):
    result = toolkit("eval-retrieval", "--beir", str(tiny), "--k", "0", home=tmp_path / "home")
    assert result.returncode == 2 and result.stderr == "error: k must be at least 1 (got 0)\n"


def _make_beir_script():
    path = PROJECT / "datasets" / "tidewell" / "build" / "make_beir.py"
    spec = importlib.util.spec_from_file_location("make_beir", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bundled_beir_files_are_what_the_script_writes(tmp_path):
    _make_beir_script().main(["--out", str(tmp_path / "beir")])
    bundled = PROJECT / "datasets" / "tidewell" / "beir"
    for name in ["corpus.jsonl", "queries.jsonl", "qrels/test.tsv"]:
        assert (tmp_path / "beir" / name).read_bytes() == (bundled / name).read_bytes(), name
    data = load_beir(bundled)
    assert (len(data.corpus), len(data.queries), sum(map(len, data.qrels.values()))) == (54, 92, 159)
    assert set(data.qrels["q002"]) == {"policies/returns.md", "support/faq.md"}
    assert "policies/returns_2022.md" not in {doc for judged in data.qrels.values() for doc in judged}
    assert {grade for judged in data.qrels.values() for grade in judged.values()} == {1}
    assert sorted(os.listdir(bundled)) == ["corpus.jsonl", "qrels", "queries.jsonl"]

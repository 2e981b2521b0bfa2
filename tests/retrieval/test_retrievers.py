"""Retrievers: fusion and BM25 against hand-worked numbers, index kinds against exact search,
persistence of every kind, and make_retriever on the bundled corpus."""

from __future__ import annotations

import math

import numpy as np
import pytest
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

from toolkit.ingestion.vectorstore import FaissStore, VectorStoreQuery
from toolkit.retrieval.retrievers import (
    BM25Index,
    DenseIndex,
    choose_kind,
    default_nlist,
    make_retriever,
    reciprocal_rank_fusion,
    score_fusion,
)

# --- fusion -------------------------------------------------------------------------------------


def test_reciprocal_rank_fusion_by_hand():
    # a: 1/61 + 1/62 = 0.0325225   c: 1/63 + 1/61 = 0.0322665   b: 1/62   d: 1/63
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]])
    assert [item for item, _ in fused] == ["a", "c", "b", "d"]
    assert [score for _, score in fused] == pytest.approx([1 / 61 + 1 / 62, 1 / 63 + 1 / 61, 1 / 62, 1 / 63])
    # weights 2 and 1: a = 2/61 + 1/62 = 0.049016, c = 2/63 + 1/61 = 0.048139, b = 2/62, d = 1/63
    weighted = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]], weights=[2, 1])
    assert weighted == [
        ("a", pytest.approx(2 / 61 + 1 / 62)),
        ("c", pytest.approx(2 / 63 + 1 / 61)),
        ("b", pytest.approx(2 / 62)),
        ("d", pytest.approx(1 / 63)),
    ]


def test_reciprocal_rank_fusion_edge_cases():
    # k=0: plain 1/rank; a repeated id counts once, at its first (best) rank
    assert reciprocal_rank_fusion([["x", "y", "x"]], k=0) == [("x", 1.0), ("y", 0.5)]
    # a tie keeps the order ids were first seen
    assert reciprocal_rank_fusion([["p"], ["q"]], k=0) == [("p", 1.0), ("q", 1.0)]
    assert reciprocal_rank_fusion([[], []]) == []
    assert reciprocal_rank_fusion([[3, 1], [1]], k=1) == [(1, 1 / 3 + 1 / 2), (3, 1 / 2)]
    with pytest.raises(ValueError, match="1 weights for 2 result lists; give one weight per list"):
        reciprocal_rank_fusion([["a"], ["b"]], weights=[1.0])


def test_score_fusion_by_hand():
    dense = {"a": 1.0, "b": 0.75, "c": 0.5}  # min-max: a 1, b 0.5, c 0
    sparse = {"c": 12.0, "d": 4.0, "a": 8.0}  # min-max: c 1, d 0, a 0.5
    assert score_fusion([dense, sparse]) == [("a", 1.5), ("c", 1.0), ("b", 0.5), ("d", 0.0)]
    # weights 0.25 / 0.75: a .25 + .375 = .625, b .125, c .75, d 0
    assert score_fusion([dense, sparse], weights=[0.25, 0.75]) == [("c", 0.75), ("a", 0.625), ("b", 0.125), ("d", 0.0)]
    # a list whose scores are all equal gives each 1; an empty list adds nothing
    assert score_fusion([{"x": 3.0, "y": 3.0}, {}]) == [("x", 1.0), ("y", 1.0)]
    assert score_fusion([{"only": -2.0}]) == [("only", 1.0)]
    with pytest.raises(ValueError, match="3 weights for 2 result lists"):
        score_fusion([dense, sparse], weights=[1, 1, 1])


# --- dense indexes --------------------------------------------------------------------------------


def test_choose_kind_and_nlist_defaults():
    assert [choose_kind(n) for n in (0, 357, 49_999, 50_000, 10_000_000)] == ["flat", "flat", "flat", "hnsw", "hnsw"]
    assert [default_nlist(n) for n in (1, 38, 39, 1_000, 100_000)] == [1, 1, 1, 25, 1264]
    with pytest.raises(ValueError):
        choose_kind(-1)


def test_flat_dense_index_exact_scores():
    # rows: (1, 0), (0, 1), (1, 1)/sqrt 2; query (3, 4)/5: scores 0.6, 0.8, 7/(5 sqrt 2) = 0.98995
    index = DenseIndex.build(np.array([[1, 0], [0, 1], [2, 2]], dtype="float32"))
    assert (index.kind, index.dim, index.ntotal) == ("flat", 2, 3)
    scores, positions = index.search(np.array([[3.0, 4.0]]), 5)
    assert positions.tolist() == [[2, 1, 0, -1, -1]]
    assert scores[0, :3].tolist() == pytest.approx([7 / (5 * math.sqrt(2)), 0.8, 0.6], abs=1e-6)
    assert scores[0, 3:].tolist() == [-math.inf, -math.inf]
    index.add(np.array([[0.0, -1.0]]))  # gets the next position
    assert index.search(np.array([[0.0, -5.0]]), 1)[1].tolist() == [[3]]


def test_dense_index_bad_input():
    with pytest.raises(ValueError, match=r"queries of shape \(1, 3\) do not fit an index of dimension 2"):
        DenseIndex(2).search(np.ones((1, 3)), 1)
    with pytest.raises(ValueError, match="unknown index kind 'lsh'; choose one of flat, hnsw, ivf"):
        DenseIndex(2, "lsh")
    with pytest.raises(ValueError, match="an IVF index with nlist=50 needs at least 50 training vectors, got 10"):
        DenseIndex(4, "ivf", nlist=50).add(np.ones((10, 4)))
    assert DenseIndex(2).search(np.ones((1, 2)), 2)[1].tolist() == [[-1, -1]]  # empty index


@pytest.fixture(scope="module")
def random_data():
    rng = np.random.default_rng(7)
    return rng.standard_normal((600, 16)).astype("float32"), rng.standard_normal((25, 16)).astype("float32")


@pytest.mark.parametrize("kind, params", [("hnsw", {}), ("ivf", {"nlist": 8, "nprobe": 8})])
def test_approximate_kinds_agree_with_flat_on_small_data(random_data, kind, params):
    vectors, queries = random_data
    exact_scores, exact = DenseIndex.build(vectors, "flat").search(queries, 5)
    index = DenseIndex.build(vectors, kind, **params)
    scores, positions = index.search(queries, 5)
    assert index.kind == kind and index.ntotal == 600
    assert positions.tolist() == exact.tolist()  # 600 points, ef 128 / all 8 lists probed: exact
    assert scores == pytest.approx(exact_scores, abs=1e-5)


@pytest.mark.parametrize(
    "kind, params", [("flat", {}), ("hnsw", {"hnsw_m": 16, "ef_search": 40}), ("ivf", {"nprobe": 3})]
)
def test_dense_index_round_trip(random_data, tmp_path, kind, params):
    vectors, queries = random_data
    index = DenseIndex.build(vectors, kind, **params)
    index.save(tmp_path / "dense")
    loaded = DenseIndex.load(tmp_path / "dense")
    assert (loaded.kind, loaded.dim, loaded.ntotal, loaded.params) == (kind, 16, 600, index.params)
    for a, b in zip(loaded.search(queries, 7), index.search(queries, 7)):
        assert a.tolist() == b.tolist()
    if kind == "ivf":
        assert loaded.params["nlist"] == 15 and loaded._index.nprobe == 3  # 600 // 39 = 15 lists
    if kind == "hnsw":
        assert loaded._index.hnsw.efSearch == 40


# --- the index's own store, in each kind ------------------------------------------------------------


def _nodes(vectors):
    return [
        TextNode(
            id_=f"n{i}",
            text=f"text {i}",
            embedding=v.tolist(),
            relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=f"doc{i % 10}")},
        )
        for i, v in enumerate(vectors)
    ]


def _ids(store, vector, k=8):
    return store.query(VectorStoreQuery(query_embedding=vector.tolist(), similarity_top_k=k)).ids


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_store_kinds_delete_by_rebuilding_and_round_trip(random_data, tmp_path, kind):
    vectors, queries = random_data
    flat, store = FaissStore.create(16), FaissStore.create(16, kind, nprobe=64)
    flat.add(_nodes(vectors))
    store.add(_nodes(vectors))
    assert [_ids(store, q) for q in queries] == [_ids(flat, q) for q in queries]
    flat.delete("doc3")
    store.delete("doc3")  # HNSW cannot remove ids: the store rebuilds from its stored vectors
    assert (len(store), store.documents()) == (540, [f"doc{i}" for i in range(10) if i != 3])
    assert [_ids(store, q) for q in queries] == [_ids(flat, q) for q in queries]
    assert not any(int(i[1:]) % 10 == 3 for q in queries for i in _ids(store, q))
    store.persist(tmp_path / "store")
    loaded = FaissStore.load(tmp_path / "store")
    assert (loaded.kind, len(loaded), loaded.params) == (kind, 540, store.params)
    assert [_ids(loaded, q) for q in queries] == [_ids(flat, q) for q in queries]
    loaded.add(_nodes(vectors[:1]))  # n0 again: replaced in place, ids keep counting
    assert len(loaded) == 540 and loaded._ids["n0"] == 600


def test_store_converts_between_kinds_without_embedding(random_data):
    vectors, queries = random_data
    flat = FaissStore.create(16)
    flat.add(_nodes(vectors))
    hnsw = flat.rebuilt("hnsw")
    assert (hnsw.kind, len(hnsw), hnsw._ids == flat._ids) == ("hnsw", 600, True)
    assert [_ids(hnsw, q) for q in queries] == [_ids(flat, q) for q in queries]
    assert flat.kind == "flat" and len(flat) == 600  # the original is untouched


# --- BM25 -----------------------------------------------------------------------------------------


def test_bm25_scores_by_hand_with_stemming_and_stopwords():
    # after stemming and stopwords: [cat, sat], [dog, sat], [cat, cat, dog]; avgdl 7/3, N 3.
    # "the cat": df(cat) = 2, idf = ln(1 + 1.5/2.5) = ln 1.6; Lucene BM25 (k1 1.5, b 0.75):
    #   doc 2: idf * 2 / (2 + 1.5 (0.25 + 0.75 * 3 / (7/3))) = 0.245983
    #   doc 0: idf * 1 / (1 + 1.5 (0.25 + 0.75 * 2 / (7/3))) = 0.200918
    bm25 = BM25Index(["cat sat", "dog sat", "cats and cats with dogs"])
    scores, positions = bm25.search(["the cat", "Dogs!", "the of and", "zebra"], 3)
    assert positions.tolist() == [[2, 0, -1], [1, 2, -1], [-1, -1, -1], [-1, -1, -1]]
    idf = math.log(1.6)
    assert scores[0].tolist() == pytest.approx(
        [idf * 2 / (2 + 1.5 * (0.25 + 0.75 * 9 / 7)), idf / (1 + 1.5 * (0.25 + 0.75 * 6 / 7)), 0.0], abs=1e-6
    )
    assert scores[2].tolist() == [0.0, 0.0, 0.0]  # only stopwords: no hit at all


def test_bm25_without_stemming_does_not_match_plurals(tmp_path):
    plain = BM25Index(["cat sat", "cats ran"], language=None)
    assert plain.search(["cats"], 2)[1].tolist() == [[1, -1]]
    stemmed = BM25Index(["cat sat", "cats ran"])
    assert sorted(stemmed.search(["cats"], 2)[1][0].tolist()) == [0, 1]
    stemmed.save(tmp_path / "bm25")
    loaded = BM25Index.load(tmp_path / "bm25")
    assert (loaded.n, loaded.language) == (2, "english")
    for a, b in zip(loaded.search(["cat", "ran fast"], 2), stemmed.search(["cat", "ran fast"], 2)):
        assert a.tolist() == b.tolist()


def test_bm25_bad_input():
    with pytest.raises(ValueError, match="a BM25 index needs at least one text"):
        BM25Index([])
    with pytest.raises(TypeError, match="wrap a single query in a list"):
        BM25Index(["a text"]).search("a text", 1)
    with pytest.raises(ValueError, match="PyStemmer has no stemmer for 'klingon'"):
        BM25Index(["a text"], language="klingon")


# --- make_retriever over the bundled corpus -------------------------------------------------------


@pytest.fixture(scope="module")
def bundled_index(tmp_path_factory, session_settings, embed_model):
    from toolkit.demo.datasets import tidewell_corpus
    from toolkit.ingestion.incremental import ingest

    index, _ = ingest(
        tidewell_corpus(),
        tmp_path_factory.mktemp("bundled") / "index",
        settings=session_settings,
        embed_model=embed_model,
        show_progress=False,
    )
    return index


def _docs(retriever, question):
    return [hit.node.ref_doc_id for hit in retriever.retrieve(question)]


@pytest.mark.parametrize("kind, fusion", [("dense", "rrf"), ("bm25", "rrf"), ("hybrid", "rrf"), ("hybrid", "score")])
def test_make_retriever_finds_the_right_documents(bundled_index, embed_model, kind, fusion):
    retriever = make_retriever(kind, bundled_index, embed_model, top_k=3, fusion=fusion)
    returns = _docs(retriever, "How long do I have to return an item?")
    assert len(returns) == 3 and "policies/returns.md" in returns
    warranty = _docs(retriever, "What is the warranty on the Plug Mini?")
    expected = "support/plug_mini_quick_start.txt" if kind == "bm25" else "policies/warranty.md"
    assert warranty[0] == expected


def test_dense_retriever_matches_the_pipeline_default_and_other_kinds(bundled_index, embed_model):
    question = "Who is the CTO of Tidewell?"
    default = bundled_index.retriever(embed_model, top_k=3).retrieve(question)
    ours = make_retriever("dense", bundled_index, embed_model, top_k=3).retrieve(question)
    assert [(h.node.node_id, h.score) for h in ours] == [(h.node.node_id, h.score) for h in default]
    assert _docs(make_retriever("dense", bundled_index, embed_model, dense_kind="hnsw"), question) == [
        h.node.ref_doc_id for h in default
    ]
    with pytest.raises(ValueError, match="unknown retriever 'sparse'; choose one of dense, bm25, hybrid"):
        make_retriever("sparse", bundled_index, embed_model)
    with pytest.raises(ValueError, match="unknown fusion 'max'"):
        make_retriever("hybrid", bundled_index, embed_model, fusion="max")


def test_bm25_retriever_drops_chunks_that_share_no_term(bundled_index, embed_model):
    retriever = make_retriever("bm25", bundled_index, embed_model, top_k=5)
    assert retriever.retrieve("zzyzx qwertyuiop") == []
    assert all(hit.score > 0 for hit in retriever.retrieve("restocking fee"))

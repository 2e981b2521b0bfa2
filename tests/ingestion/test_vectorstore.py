"""FaissStore with tiny 3-d vectors whose cosine similarities are worked out by hand."""

from __future__ import annotations

import math

import pytest
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters

from toolkit.ingestion.vectorstore import FaissStore, VectorStoreQuery

# a = (1, 0, 0)          b = (1, 1, 0)/sqrt 2          c = (0, 3, 4)/5 = (0, 0.6, 0.8)
A, B, C = [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 3.0, 4.0]
SQRT_HALF = 1 / math.sqrt(2)  # 0.70710678...


def node(node_id: str, embedding, doc: str | None = None, text: str | None = None) -> TextNode:
    relationships = {NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc)} if doc else {}
    return TextNode(
        id_=node_id,
        text=text or f"text of {node_id}",
        embedding=embedding,
        metadata={"source": doc or node_id},
        relationships=relationships,
    )


def query(store: FaissStore, vector, k: int):
    result = store.query(VectorStoreQuery(query_embedding=vector, similarity_top_k=k))
    assert [n.node_id for n in result.nodes] == result.ids
    return result.ids, result.similarities


@pytest.fixture
def store() -> FaissStore:
    s = FaissStore.create(dim=3)
    assert s.add([node("a", A, "d1.md"), node("b", B, "d1.md"), node("c", C, "d2.md")]) == ["a", "b", "c"]
    return s


def test_add_and_query_exact_scores(store):
    assert len(store) == 3
    assert store.documents() == ["d1.md", "d2.md"]
    # query (1, 0, 0): a.q = 1, b.q = 1/sqrt 2, c.q = 0
    ids, scores = query(store, [1.0, 0.0, 0.0], 3)
    assert ids == ["a", "b", "c"]
    assert scores == pytest.approx([1.0, SQRT_HALF, 0.0], abs=1e-6)
    # query (0, 1, 1)/sqrt 2: c.q = (0.6 + 0.8)/sqrt 2 = 0.98995, b.q = 1/2, a.q = 0
    ids, scores = query(store, [0.0, 2.0, 2.0], 2)  # scale does not matter: vectors are normalized
    assert ids == ["c", "b"]
    assert scores == pytest.approx([1.4 * SQRT_HALF, 0.5], abs=1e-6)


def test_query_returns_the_nodes_without_embeddings(store):
    result = store.query(VectorStoreQuery(query_embedding=C, similarity_top_k=1))
    [hit] = result.nodes
    assert (hit.node_id, hit.get_content(), hit.ref_doc_id, hit.metadata) == (
        "c",
        "text of c",
        "d2.md",
        {"source": "d2.md"},
    )
    assert hit.embedding is None


def test_top_k_larger_than_the_store(store):
    ids, _ = query(store, [0.0, 0.0, 1.0], 10)
    assert sorted(ids) == ["a", "b", "c"]
    assert ids[0] == "c"


def test_query_on_an_empty_store():
    s = FaissStore.create(dim=3)
    result = s.query(VectorStoreQuery(query_embedding=A, similarity_top_k=5))
    assert (result.ids, result.nodes, result.similarities) == ([], [], [])
    assert len(s) == 0 and s.documents() == []


def test_delete_by_ref_doc_id_removes_all_its_chunks(store):
    store.delete("d1.md")
    assert len(store) == 1
    assert store.documents() == ["d2.md"]
    assert [n.node_id for n in store.get_nodes()] == ["c"]
    ids, scores = query(store, A, 3)
    assert ids == ["c"] and scores == pytest.approx([0.0], abs=1e-6)
    store.delete("no-such-doc.md")  # deleting what is not there is a no-op
    assert len(store) == 1


def test_ids_are_never_reused_after_a_delete(store):
    assert store._ids == {"a": 0, "b": 1, "c": 2}
    store.delete_nodes(["b"])
    store.add([node("d", [0.0, 1.0, 0.0], "d3.md")])
    # faiss id 1 is not handed out again: "d" gets 3, and every live id is distinct
    assert store._ids == {"a": 0, "c": 2, "d": 3}
    assert sorted(store.client.id_map.at(i) for i in range(store.client.id_map.size())) == [0, 2, 3]
    assert len(store) == 3
    for name, vector in [("a", A), ("c", C), ("d", [0.0, 1.0, 0.0])]:
        ids, scores = query(store, vector, 1)
        assert (ids, scores) == ([name], pytest.approx([1.0], abs=1e-6))
    assert store.documents() == ["d1.md", "d2.md", "d3.md"]


def test_upsert_of_an_existing_node_id_replaces_it(store):
    store.add([node("a", [0.0, 1.0, 0.0], "d1.md", text="alpha, second version")])
    assert len(store) == 3
    assert [n.get_content() for n in store.get_nodes(["a"])] == ["alpha, second version"]
    # the old vector of "a" is gone: along (1, 0, 0) only b still scores
    ids, scores = query(store, A, 3)
    assert ids[:1] == ["b"] and scores[:1] == pytest.approx([SQRT_HALF], abs=1e-6)
    ids, scores = query(store, [0.0, 1.0, 0.0], 1)
    assert (ids, scores) == (["a"], pytest.approx([1.0], abs=1e-6))
    assert store._ids["a"] == 3


def test_persist_and_load_give_identical_results(store, tmp_path):
    store.delete_nodes(["b"])  # a gap in the ids, and next_id past it
    store.persist(tmp_path / "store")
    loaded = FaissStore.load(tmp_path / "store")
    assert (len(loaded), loaded.dim, loaded.documents()) == (2, 3, ["d1.md", "d2.md"])
    for vector in (A, B, C, [0.3, -0.2, 0.9]):
        assert query(loaded, vector, 3) == query(store, vector, 3)
    assert {n.node_id: n.get_content() for n in loaded.get_nodes()} == {"a": "text of a", "c": "text of c"}
    loaded.add([node("e", [0.0, 0.0, 1.0], "d4.md")])
    assert loaded._ids == {"a": 0, "c": 2, "e": 3}  # next id survives the round trip


def test_nodes_without_embeddings_are_refused():
    s = FaissStore.create(dim=3)
    with pytest.raises(ValueError, match=r"nodes without embeddings cannot be added: \['x'\]"):
        s.add([TextNode(id_="x", text="no vector")])
    assert s.add([]) == []


def test_node_without_source_is_its_own_document():
    s = FaissStore.create(dim=3)
    s.add([node("lonely", A)])
    assert s.documents() == ["lonely"]
    s.delete("lonely")
    assert len(s) == 0


def test_metadata_filters_are_not_supported(store):
    filters = MetadataFilters(filters=[MetadataFilter(key="source", value="d1.md")])
    with pytest.raises(NotImplementedError):
        store.query(VectorStoreQuery(query_embedding=A, similarity_top_k=1, filters=filters))


def test_clear(store):
    store.clear()
    assert (len(store), store.documents(), store.get_nodes()) == (0, [], [])


def test_the_same_node_id_twice_in_one_batch_keeps_one_vector_the_last():
    from llama_index.core.schema import TextNode

    from toolkit.ingestion.vectorstore import FaissStore, VectorStoreQuery

    store = FaissStore.create(dim=3)
    store.add(
        [
            TextNode(id_="a", text="first", embedding=[1.0, 0.0, 0.0]),
            TextNode(id_="a", text="second", embedding=[0.0, 1.0, 0.0]),
        ]
    )
    assert len(store) == 1
    result = store.query(VectorStoreQuery(query_embedding=[0.0, 1.0, 0.0], similarity_top_k=5))
    assert result.ids == ["a"] and result.nodes[0].text == "second"
    assert result.similarities == [1.0]


def test_an_embedding_of_the_wrong_size_is_refused_not_reshaped():
    from llama_index.core.schema import TextNode

    from toolkit.ingestion.vectorstore import FaissStore, VectorStoreQuery

    store = FaissStore.create(dim=2)
    store.add([TextNode(id_="a", text="x", embedding=[1.0, 0.0])])
    with pytest.raises(ValueError, match=r"do not fit this store of dimension 2"):
        store.query(VectorStoreQuery(query_embedding=[1.0, 0.0, 0.0, 0.0], similarity_top_k=1))

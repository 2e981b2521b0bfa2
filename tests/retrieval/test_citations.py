"""Citations: ranked chunks folded into ranked documents."""

from llama_index.core.schema import NodeRelationship, NodeWithScore, RelatedNodeInfo, TextNode

from toolkit.retrieval import Source, cite


def chunk(doc: str, n: int, score: float | None) -> NodeWithScore:
    node = TextNode(
        id_=f"{doc}#{n}", text=f"{doc} chunk {n}", relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc)}
    )
    return NodeWithScore(node=node, score=score)


def test_one_source_per_document_at_its_best_chunk_in_rank_order():
    hits = [chunk("b.md", 2, 0.9), chunk("a.md", 1, 0.8), chunk("b.md", 1, 0.7), chunk("c.md", 5, None)]
    assert cite(hits) == [
        Source("b.md", 0.9, "b.md chunk 2"),
        Source("a.md", 0.8, "a.md chunk 1"),
        Source("c.md", 0.0, "c.md chunk 5"),
    ]


def test_a_chunk_without_a_document_is_its_own_source_and_nothing_cites_nothing():
    loose = NodeWithScore(node=TextNode(id_="sql:orders/1042", text="Order 1042 ..."), score=1.0)
    assert cite([loose]) == [Source("sql:orders/1042", 1.0, "Order 1042 ...")]
    assert cite([]) == []

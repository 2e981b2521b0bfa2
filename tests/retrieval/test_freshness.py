"""Prefer the current version: families of documents, demotion by effective date."""

from llama_index.core.schema import NodeRelationship, NodeWithScore, RelatedNodeInfo, TextNode

from toolkit.retrieval.freshness import family, prefer_current, superseded_by


def hit(doc: str, score: float, date: str = "", title: str = "Returns Policy") -> NodeWithScore:
    meta = {"source": doc, "title": title} | ({"effective_date": date} if date else {})
    node = TextNode(id_=f"{doc}#{score}", text="x", metadata=meta)
    node.relationships = {NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc)}
    return NodeWithScore(node=node, score=score)


def test_versions_share_a_family_by_name_without_years_or_by_title():
    assert family("policies/returns_2022.md")[:2] == ("policies", "returns")
    assert family("handbook/remote_work_v2.1.pdf")[1] == "remote_work"
    assert family("a/x.md", "Remote Work (2021)")[2] == family("a/y.md", "Remote Work")[2] == "remote work"
    assert family("policies/returns.md")[:2] != family("support/returns.md")[:2]  # another folder


def test_the_older_version_moves_behind_the_current_one_and_the_rest_keeps_its_order():
    hits = [
        hit("policies/returns_2022.md", 0.9, "2022-01-01"),
        hit("policies/shipping.md", 0.8, "2024-06-01", "Shipping Policy"),
        hit("policies/returns.md", 0.7, "2024-03-01"),
        hit("policies/returns_2022.md", 0.6, "2022-01-01"),
    ]
    ordered, demoted = prefer_current(hits)
    assert [h.score for h in ordered] == [0.8, 0.7, 0.9, 0.6]
    assert demoted == ["policies/returns_2022.md"]


def test_nothing_moves_without_two_dated_versions():
    undated = [hit("policies/returns_2022.md", 0.9), hit("policies/returns.md", 0.7, "2024-03-01")]
    assert prefer_current(undated) == (undated, [])
    alone = [hit("policies/returns_2022.md", 0.9, "2022-01-01")]
    assert prefer_current(alone) == (alone, [])


def test_superseded_by_names_the_newest_version():
    docs = {
        "policies/returns_2020.md": ("Returns Policy", "2020-01-01"),
        "policies/returns_2022.md": ("Returns Policy", "2022-01-01"),
        "policies/returns.md": ("Returns Policy", "2024-03-01"),
        "policies/shipping.md": ("Shipping Policy", "2024-06-01"),
    }
    assert superseded_by(docs) == {
        "policies/returns_2020.md": "policies/returns.md",
        "policies/returns_2022.md": "policies/returns.md",
    }

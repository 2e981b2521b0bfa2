"""The generic source router, over a tiny library of its own: rules route to the named sources,
an unconfigured or failing source is recorded and does not sink the others, and the documents
answer when the structured sources find nothing."""

from __future__ import annotations

import re

import pytest
from llama_index.core.schema import NodeWithScore, TextNode

from toolkit.errors import ConfigError, ToolkitError
from toolkit.retrieval.router import DOCUMENTS, MissingSource, Rule, SourceRouter

BOOKS = {"9780140449136": "The Odyssey is on shelf B4.", "9780141439518": "Pride and Prejudice is on loan."}
ISBN = re.compile(r"\b97[89]\d{10}\b")


class Catalog:
    """Looks up each ISBN the question names; records what the router passed it."""

    def __init__(self):
        self.calls: list[tuple] = []

    def lookup(self, question, entities, rules):
        self.calls.append((question, entities, rules))
        return [TextNode(id_=f"catalog:{isbn}", text=BOOKS[isbn]) for isbn in entities if isbn in BOOKS]


class Broken:
    def lookup(self, question, entities, rules):
        raise RuntimeError("the loans database is locked")


class Documents:
    """Stands in for a vector retriever: two chunks, whatever the question."""

    def __init__(self):
        self.asked: list[str] = []

    def retrieve(self, question):
        self.asked.append(question)
        return [
            NodeWithScore(node=TextNode(id_="doc:hours", text="We open at 9."), score=0.8),
            NodeWithScore(node=TextNode(id_="doc:fines", text="Late fines are 10 cents a day."), score=0.5),
        ]


RULES = [
    Rule("book", "names an ISBN", ("catalog",), lambda q, e: bool(e)),
    Rule("loan", "names an ISBN and asks about a loan", ("loans",), lambda q, e: bool(e) and "loan" in q),
    Rule("weather", "asks about the weather", ("weather",), lambda q, e: "rain" in q),
    Rule("fines", "asks about fines", ("vector",), lambda q, e: "fine" in q),
]


def router(**sources) -> SourceRouter:
    given = {"catalog": Catalog(), "loans": Broken(), "weather": None}
    given.update(sources)
    return SourceRouter(vector=Documents(), sources=given, rules=RULES, find_entities=ISBN.findall)


def ids(routed) -> list[str]:
    return [h.node.node_id for h in routed.nodes]


def test_rules_route_to_the_named_sources_in_the_order_they_were_given():
    r = router()
    assert r.decide("Where is 9780140449136?") == (["catalog"], ["book"], ["9780140449136"])
    assert r.decide("Is there a fine on my loan of 9780141439518?") == (
        ["catalog", "loans", "vector"],
        ["book", "loan", "fines"],
        ["9780141439518"],
    )
    assert r.decide("What are your opening hours?") == (["vector"], ["documents"], [])
    assert r.explain()["rule"].tolist() == ["book", "loan", "weather", "fines", "documents"]
    assert r.explain().loc[4, "sources"] == "vector"


def test_a_source_gets_the_question_the_entities_and_the_rules_that_fired():
    catalog = Catalog()
    routed = router(catalog=catalog).route("Where is 9780140449136?")
    assert ids(routed) == ["catalog:9780140449136"]
    assert [h.score for h in routed.nodes] == [1.0]
    assert catalog.calls == [("Where is 9780140449136?", ["9780140449136"], ["book"])]
    assert routed.route.sources == ["catalog"] and routed.route.failed == {} and not routed.route.fallback
    assert sorted(routed.route.seconds) == ["catalog"]


def test_structured_facts_come_first_then_the_documents():
    routed = router().route("Any fine on 9780140449136?")
    assert ids(routed) == ["catalog:9780140449136", "doc:hours", "doc:fines"]
    assert routed.route.sources == ["catalog", "vector"] and sorted(routed.route.seconds) == ["catalog", "vector"]


def test_a_source_that_raises_does_not_sink_the_other():
    routed = router().route("Is 9780141439518 on loan?")
    assert routed.route.sources == ["catalog", "loans"]
    assert routed.route.failed == {"loans": "RuntimeError: the loans database is locked"}
    assert ids(routed) == ["catalog:9780141439518"] and not routed.route.fallback
    assert sorted(routed.route.seconds) == ["catalog", "loans"]


def test_a_source_given_as_none_is_recorded_as_failed_with_what_to_configure():
    documents = Documents()
    r = SourceRouter(vector=documents, sources={"weather": None}, rules=RULES[2:3])
    routed = r.route("Will it rain on Saturday?")
    assert routed.route.failed == {
        "weather": "ToolkitError: no 'weather' source is configured; pass "
        "sources={'weather': ...}, an object with "
        "lookup(question, entities, rules)"
    }
    # the only structured source failed, so the documents answer
    assert routed.route.sources == ["weather", "vector"] and routed.route.fallback
    assert ids(routed) == ["doc:hours", "doc:fines"] and documents.asked == ["Will it rain on Saturday?"]
    assert routed.route.entities is None  # no entity finder given


def test_a_missing_source_says_what_its_owner_wrote():
    r = SourceRouter(
        vector=Documents(), sources={"weather": MissingSource("start the weather station first")}, rules=RULES[2:3]
    )
    assert r.route("rain?").route.failed == {"weather": "ToolkitError: start the weather station first"}


def test_the_documents_answer_when_the_structured_sources_find_nothing():
    documents = Documents()
    r = SourceRouter(vector=documents, sources={"catalog": Catalog()}, rules=RULES[:1], find_entities=ISBN.findall)
    routed = r.route("Where is 9780000000002?")  # an ISBN the catalog does not hold
    assert routed.route.rules == ["book"] and routed.route.failed == {}
    assert routed.route.sources == ["catalog", "vector"] and routed.route.fallback
    assert ids(routed) == ["doc:hours", "doc:fines"]
    found = r.route("Where is 9780140449136?")
    assert ids(found) == ["catalog:9780140449136"] and not found.route.fallback
    assert documents.asked == ["Where is 9780000000002?"]  # not asked when the catalog answered


def test_a_fallback_rule_of_your_own_and_duplicates_are_fused_once():
    class Again:
        def lookup(self, question, entities, rules):  # a source may hand back a scored node too
            return [NodeWithScore(node=TextNode(id_="doc:hours", text="We open at 9."), score=0.3)]

    desk = Rule("desk", "nothing else fired: ask the front desk", ("desk", "vector"), lambda q, e: True)
    r = SourceRouter(vector=Documents(), sources={"desk": Again()}, fallback_rule=desk)
    routed = r.route("Do you have a piano?")
    assert routed.route.rules == ["desk"] and routed.route.sources == ["desk", "vector"]
    assert ids(routed) == ["doc:hours", "doc:fines"] and routed.nodes[0].score == 0.3
    assert r.explain()["rule"].tolist() == ["desk"]


def test_misconfigured_routers_are_refused_with_what_to_fix():
    with pytest.raises(ConfigError, match="the rules name sources that are not given: catalog, loans, weather"):
        SourceRouter(rules=RULES)
    with pytest.raises(ConfigError, match="'vector' names the document retriever; pass it as vector="):
        SourceRouter(sources={"vector": Documents()})
    with pytest.raises(ToolkitError, match="no vector retriever"):
        SourceRouter().route("What are your opening hours?")
    assert SourceRouter().rules == [] and SourceRouter().fallback_rule is DOCUMENTS
    no_docs = SourceRouter(sources={"catalog": Catalog()}, rules=RULES[:1], find_entities=ISBN.findall)
    assert no_docs.retrieve("Where is 9780140449136?")[0].node.text == "The Odyssey is on shelf B4."

"""Confidence signals: each worked out by hand on tiny inputs."""

from llama_index.core.schema import NodeRelationship, NodeWithScore, RelatedNodeInfo, TextNode

from toolkit.confidence import SIGNALS, agreement, logprob_signals, missing, retrieval_signals, type_match


def hit(doc: str, score: float, n: int = 0) -> NodeWithScore:
    node = TextNode(id_=f"{doc}#{n}", text="x", metadata={"source": doc})
    node.relationships = {NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc)}
    return NodeWithScore(node=node, score=score)


def test_agreement_compares_exact_terms_first_then_content_words():
    assert agreement("Returns take 30 days.", "You have 30 days.") == 1.0
    assert agreement("Returns take 30 days.", "You have 14 days.") == 0.0
    # no numbers: content words; "warranty" and "covers" stems are shared, "defects" is not
    assert agreement("The warranty covers defects.", "This warranty covers water.") == 2 / 3
    assert agreement("I don't know.", "Returns take 30 days.") == 0.0
    assert agreement("", "x") == 0.0


def test_type_match_says_whether_the_asked_for_kind_is_there():
    assert type_match("How long is shipping?", "It takes 3-5 business days.") == 1.0
    assert type_match("How long is shipping?", "Shipping is fast.") == 0.0
    assert type_match("How much is the Hub?", "The Hub is $129.") == 1.0
    assert type_match("Can I return a gift?", "Yes.") == 0.5


def test_retrieval_signals_top_score_margin_to_another_document_and_agreement():
    hits = [hit("a", 0.9), hit("a", 0.8, 1), hit("b", 0.5)]
    signals = retrieval_signals(hits, [["a", "b", "c", "d", "e"], ["b", "a", "f", "g", "h"]])
    # the margin is to the best hit from another document (b's 0.5), not to a's second chunk
    assert signals["top_score"] == 0.9 and round(signals["margin"], 3) == 0.4
    assert round(signals["retriever_agreement"], 3) == 0.4  # {a, b} of 5
    assert retrieval_signals([], [])["top_score"] == 0.0
    assert retrieval_signals(hits)["retriever_agreement"] is None


def test_logprob_signals_read_the_local_model_and_openai_shapes():
    assert logprob_signals({"token_logprobs": [-1.0, -3.0]}) == {"mean_logprob": -2.0, "min_logprob": -3.0}
    openai = {"choices": [{"logprobs": {"content": [{"logprob": -0.5}, {"logprob": -1.5}]}}]}
    assert logprob_signals(openai) == {"mean_logprob": -1.0, "min_logprob": -1.5}
    assert logprob_signals({"choices": [{}]}) == {"mean_logprob": None, "min_logprob": None}
    assert logprob_signals(None) == {"mean_logprob": None, "min_logprob": None}


def test_missing_names_the_signals_a_run_could_not_give():
    signals = dict.fromkeys(SIGNALS, 1.0) | {"mean_logprob": None, "min_logprob": None}
    assert missing(signals) == ["mean_logprob", "min_logprob"]

"""The extractive answerer: sentence splitting, reading the prompt, quoting and abstaining."""

from toolkit.models.extractive import ExtractiveLLM, sentences
from toolkit.prompting.spec import ABSTAIN, rag_messages


def test_sentences_split_on_stops_and_lines_and_drop_headings_and_fragments():
    text = "## Returns\nYou have 30 days to return it. Opened items too.\n| Price | $129.00 today |\nOk."
    assert sentences(text) == ["You have 30 days to return it.", "Price | $129.00 today"]


def test_decimal_numbers_are_not_sentence_ends():
    text = "Firmware 5.1 adds a Matter bridge to the hub."
    assert sentences(text) == [text]


def test_it_quotes_the_sentence_nearest_the_question(embed_model):
    llm = ExtractiveLLM.from_embed_model(embed_model)
    context = [
        ("shipping.md", "Standard shipping costs $6.95. Orders over $75 ship free."),
        ("returns.md", "You may return any unused item within 30 days of delivery."),
    ]
    response = llm.chat(rag_messages("How long do I have to return an item?", context))
    assert response.message.content == "You may return any unused item within 30 days of delivery."
    assert response.raw["usage"] == {"prompt_tokens": 0, "completion_tokens": 0}
    assert 0.35 <= response.raw["similarity"] <= 1.0


def test_it_abstains_when_nothing_is_near_enough(embed_model):
    llm = ExtractiveLLM.from_embed_model(embed_model, min_similarity=0.99)
    context = [("shipping.md", "Standard shipping costs $6.95 for every order.")]
    assert llm.chat(rag_messages("Who founded the company?", context)).message.content == ABSTAIN
    assert llm.answer("Who founded the company?", ["## Heading only"]) == (ABSTAIN, 0.0)


def test_streaming_yields_the_quote_whole(embed_model):
    llm = ExtractiveLLM.from_embed_model(embed_model)
    context = [("returns.md", "You may return any unused item within 30 days of delivery.")]
    chunks = list(llm.stream_chat(rag_messages("How long do I have to return an item?", context)))
    assert [c.delta for c in chunks] == ["You may return any unused item within 30 days of delivery."]

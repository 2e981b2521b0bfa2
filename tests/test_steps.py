"""The steps: the run record's extension point, validation as an after-step with its re-asks
through the model-call chain, and steps of your own."""

import pytest

from toolkit.config import load_settings
from toolkit.cost import CostLedger
from toolkit.cost.middleware import Budget
from toolkit.errors import ToolkitError
from toolkit.models import ExtractiveLLM
from toolkit.pipeline import Pipeline
from toolkit.prompting import CitedAnswer
from toolkit.steps import RunRecord, Validate, as_step
from toolkit.validation import REFUSAL, Guard, Safety, Schema

RETURNS = "How long do I have to return an item?"


def test_each_step_writes_its_own_part_and_flat_joins_them():
    record = RunRecord("r1", "2026-12-01T00:00:00+00:00", "q?", answer="a")
    record.part("route")["sources"] = ["sql"]
    record.part("validate").update(action="pass", failed=[])
    assert record.get("route.sources") == ["sql"] and record.get("cache.hit", "") == ""
    flat = record.flat()
    assert [k for k in flat if "." in k] == ["route.sources", "validate.action", "validate.failed"]
    assert "parts" not in flat and flat["answer"] == "a"


def test_a_guard_becomes_its_validate_step_and_a_non_step_is_refused():
    guard = Guard([(Safety(), "refuse")])
    step = as_step(guard)
    assert isinstance(step, Validate) and step.guard is guard and step.name == "validate"
    with pytest.raises(ToolkitError, match="is not a pipeline step: give it a `name`"):
        as_step(lambda run: None)


def test_a_reask_goes_through_the_chain_and_its_usage_adds_up(tiny_index, embed_model, tmp_path):
    ledger = CostLedger(tmp_path / "ledger.sqlite")
    # The quoting answerer never writes JSON: the schema fails, the re-ask fails again, the guard refuses.
    pipeline = Pipeline(
        tiny_index,
        settings=load_settings(),
        embed_model=embed_model,
        llm=ExtractiveLLM.from_embed_model(embed_model),
        middleware=[Budget(ledger)],
        after=[Guard([(Schema(CitedAnswer), "reask")])],
    )
    answer = pipeline.ask(RETURNS)
    record = answer.record
    assert answer.text == REFUSAL
    assert (record.get("validate.action"), record.get("validate.failed")) == ("refused", ["schema:json", "schema:json"])
    assert record.get("validate.original") == "You can return an item within 30 days of delivery for a full refund."
    assert [c["kind"] for c in record.calls] == ["llm", "repair"]
    assert record.input_tokens == sum(c["input_tokens"] for c in record.calls)
    assert list(ledger.entries(record.run_id).kind) == ["embedding", "llm", "repair"]


def test_a_step_of_your_own_runs_after_generation(tiny_index, embed_model):
    class Shout:
        name = "shout"

        def __call__(self, run):
            run.text = run.text.upper()
            run.record.part(self.name)["chars"] = len(run.text)
            run.notes.append("(shouted)")

    pipeline = Pipeline(
        tiny_index,
        settings=load_settings(),
        embed_model=embed_model,
        llm=ExtractiveLLM.from_embed_model(embed_model),
        after=[Shout()],
    )
    answer = pipeline.ask(RETURNS)
    assert answer.text == "YOU CAN RETURN AN ITEM WITHIN 30 DAYS OF DELIVERY FOR A FULL REFUND.\n(shouted)"
    assert answer.record.get("shout.chars") == 68
    assert pipeline.runs()["shout.chars"].tolist() == [68]


def test_extract_steps_given_one_memo_embed_each_sentence_once(tiny_index, embed_model):
    from toolkit.cost import memo_embedding
    from toolkit.steps import Extract, Run

    class Counting:  # the embedding model, counting the texts it is asked to embed
        def __init__(self):
            self.texts = 0

        def get_text_embedding_batch(self, texts, **kwargs):
            self.texts += len(texts)
            return embed_model.get_text_embedding_batch(texts, **kwargs)

        def get_query_embedding(self, text):
            return embed_model.get_query_embedding(text)

    counting = Counting()
    memo = memo_embedding(counting)
    pipeline = Pipeline(tiny_index, settings=load_settings(), embed_model=embed_model)
    quotes = []
    for bonus in (0.0, 0.2):
        run = Run(RETURNS, RunRecord("r", "", RETURNS), pipeline=pipeline)
        pipeline.steps[0](run), pipeline.steps[1](run)  # retrieve, fit the context
        Extract(type_bonus=bonus, embed_model=memo)(run)
        quotes.append(run.record.get("extractive.answer"))
    sentences = counting.texts
    assert quotes == ["You can return an item within 30 days of delivery for a full refund."] * 2
    # returns.md, shipping.txt and warranty.md are retrieved: 1 + 2 + 1 sentences, embedded by the
    # first step only (the headings are titles, not sentences to quote)
    assert sentences == 4

"""The Guard's failure policies (fix, refuse, escalate, raise, reask) and its fallback, on hand-made replies."""

from __future__ import annotations

import json

import pytest

from conftest import INJECTED, RETURNS, out
from toolkit.errors import ConfigError, OutputRejected
from toolkit.prompting.spec import CitedAnswer
from toolkit.validation.checks import Grounding, Output, Report, Safety, Schema
from toolkit.validation.policies import HELD, REFUSAL, Guard
from toolkit.validation.review import SqliteReviewQueue


def test_fix_policy_repairs_and_revalidates(rules):
    guard = Guard([(rules, "fix"), (Grounding(), "refuse")])
    verdict = guard.check(out("The Hub costs $89."))
    assert (verdict.action, verdict.text, verdict.passed) == ("fixed", "The Hub costs $99.00.", True)
    assert [(r.validator, r.passed) for r in verdict.reports] == [
        ("business_rules", False),
        ("grounding", False),
        ("business_rules", True),
        ("grounding", True),
    ]


def test_refuse_escalate_and_raise(rules, tmp_path):
    queue = SqliteReviewQueue(tmp_path / "queue.sqlite")
    bad = out("You can return items within 14 days.", RETURNS, "How long do I have to return an item?")
    refused = Guard([(rules, "refuse")]).check(bad)
    assert (refused.action, refused.text, refused.passed) == ("refused", REFUSAL, False)
    assert refused.failed[0].rule == "return_window"

    escalated = Guard([(rules, "escalate")], queue=queue).check(bad)
    assert (escalated.action, escalated.text) == ("escalated", HELD)
    item = queue.get(escalated.ticket)
    assert (item.question, item.answer, item.validator, item.rule) == (
        "How long do I have to return an item?",
        "You can return items within 14 days.",
        "business_rules",
        "return_window",
    )
    assert item.sources == ["policies/returns.md", "policies/returns_2022.md", "support/faq.md"]
    assert item.reasons == [escalated.failed[0].reason] and item.reasons[0].startswith("sentence 1 says 14")
    assert [c["text"] for c in item.context] == [text for _, text in bad.context]
    assert (item.state, item.run_id) == ("pending", "")
    assert Guard([(rules, "escalate")], queue=queue).check(bad).ticket == escalated.ticket  # no duplicate
    assert len(queue) == 1

    with pytest.raises(
        OutputRejected, match=r"business_rules rejected the answer \(return_window\): sentence 1 says 14"
    ):
        Guard([(rules, "raise")]).check(bad)


def test_a_fix_that_cannot_fix_falls_back(rules):
    echoed = out("TW-CANARY-4471", INJECTED)
    verdict = Guard([(Safety(), "fix")], fallback="refuse").check(echoed)
    assert (verdict.action, verdict.text) == ("refused", REFUSAL)


def test_a_batch_survives_raise_and_non_json(rules):
    guard = Guard([(Schema(CitedAnswer), "fix"), (rules, "raise")])
    verdicts = guard.check_many(
        [
            out("not json at all", fmt="json"),  # fixed by wrapping
            out('{"answer": "The Hub costs $89.", "sources": [1]}', fmt="json"),  # valid JSON, wrong price
            out('{"answer": "The Hub costs $99.00.", "sources": [1]}', fmt="json"),
        ]
    )
    assert [v.action for v in verdicts] == ["fixed", "raised", "pass"]
    assert json.loads(verdicts[0].output.text) == {"answer": "not json at all", "sources": []}
    assert verdicts[1].error.startswith("business_rules rejected the answer (catalog_price)")


def test_reask_feeds_the_reason_back_to_a_real_model(embed_model, rules):
    from toolkit.models import ExtractiveLLM, ModelClient
    from toolkit.prompting.spec import rag_messages

    context = [("products/tidewell-hub.html", "The Tidewell Hub costs $99.00. It has a backup battery.")]
    bad = Output(
        "How much is the Hub?", "The Hub costs $89.", context, "text", rag_messages("How much is the Hub?", context)
    )
    # the extractive model reads the context of the last user message; the re-ask message has none,
    # so it abstains: the re-asked answer is validated again and passes
    client = ModelClient(ExtractiveLLM.from_embed_model(embed_model), "extractive")
    verdict = Guard([(rules, "reask")]).check(bad, client=client, run_id="r1")
    assert (verdict.action, verdict.text) == ("reasked", "I don't know.")
    # the re-ask went through the model-call chain, as a call of kind "reask"
    assert [(r.kind, r.text, str(r.model)) for r in verdict.replies] == [("reask", "I don't know.", "extractive:quote")]
    # without a model or a prompt there is nothing to re-ask: the fallback decides
    assert Guard([(rules, "reask")]).check(bad).action == "refused"


def test_json_reask_with_smollm2_never_crashes_the_batch(llm, tmp_path):
    from toolkit.models import ModelClient
    from toolkit.prompting.spec import DEFAULT_SPEC, PromptSpec

    spec = PromptSpec(
        **{**DEFAULT_SPEC.model_dump(), "name": "json", "output_format": "json", "output_schema": "CitedAnswer"}
    )
    context = [("policies/returns.md", "You can return an item within 30 days of delivery.")]
    question = "How long do I have to return an item?"
    queue = SqliteReviewQueue(tmp_path / "q.sqlite")
    guard = Guard([(Schema(CitedAnswer), "reask")], queue=queue, fallback="escalate")
    verdicts = guard.check_many(
        client=ModelClient(llm, "local"),
        outputs=[
            Output(question, "Sure: 30 days.", context, "json", spec.messages(question, context)),
            Output(question, '{"answer": "30 days", "sources": [1]}', context, "json"),
        ],
    )
    first, second = verdicts
    assert first.reports[0] == Report(False, "schema", "json", "reply: Invalid JSON: expected value at line 1 column 1")
    assert len(first.reports) == 2  # exactly one re-ask, validated again
    assert [r.kind for r in first.replies] == ["repair"]  # a schema failure is re-asked as a repair
    assert first.action in ("reasked", "escalated")
    assert (first.action == "escalated") == (len(queue) == 1)
    assert second.action == "pass"


def test_guard_configuration_errors(rules):
    with pytest.raises(ConfigError, match="unknown policy 'retry' for business_rules; use one of reask, fix, escalate"):
        Guard([(rules, "retry")])
    with pytest.raises(ConfigError, match="an 'escalate' policy needs a review queue"):
        Guard([(rules, "escalate")])
    with pytest.raises(ConfigError, match="fallback must be escalate, refuse or raise"):
        Guard([(rules, "fix")], fallback="fix")

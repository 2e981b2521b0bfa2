"""The budget and the cache as links of the model-call chain, over a real ledger and cache file."""

import pytest
from llama_index.core.llms import MockLLM

from toolkit.cost import CostLedger, ResponseCache
from toolkit.cost.middleware import Budget, Cache
from toolkit.errors import BudgetExceededError
from toolkit.models import ChatMessage, ModelClient

HELLO = [ChatMessage(role="user", content="hello world")]
MODEL = "openai:gpt-4o-mini"  # $0.15 in, $0.60 out per million tokens (toolkit/data/prices.csv)


class CountingLLM(MockLLM):
    calls: int = 0

    def chat(self, messages, **kwargs):
        self.calls += 1
        return super().chat(messages, **kwargs)


def test_a_zero_budget_blocks_the_call_before_it_is_made(tmp_path):
    llm = CountingLLM()
    ledger = CostLedger(tmp_path / "ledger.sqlite", budget_usd=0.0)
    with pytest.raises(BudgetExceededError, match="the call was not made"):
        ModelClient(llm, MODEL, [Budget(ledger)]).chat(HELLO, run_id="q1")
    assert llm.calls == 0
    assert len(ledger.entries()) == 0 and ledger.spent() == 0.0


def test_every_call_lands_in_the_ledger_under_its_kind(tmp_path):
    ledger = CostLedger(tmp_path / "ledger.sqlite", budget_usd=1.0)
    client = ModelClient(CountingLLM(), MODEL, [Budget(ledger)])
    client.chat(HELLO, run_id="q1")
    client.chat(HELLO, kind="judge", run_id="q1")
    rows = ledger.entries("q1")
    # MockLLM echoes "user: hello world\nassistant:": 2 tokens in, 7 out, so 2 x 0.15 + 7 x 0.60 = 4.5 micro-dollars
    assert list(rows.kind) == ["llm", "judge"]
    assert list(rows.input_tokens) == [2, 2] and list(rows.output_tokens) == [7, 7]
    assert list(rows.usd) == [pytest.approx(4.5e-6)] * 2
    assert ledger.spent() == pytest.approx(9e-6)  # the reservations were replaced by the bills


def test_the_cache_answers_a_repeat_and_the_budget_records_the_saving(tmp_path):
    llm = CountingLLM()
    ledger = CostLedger(tmp_path / "ledger.sqlite")
    client = ModelClient(llm, MODEL, [Budget(ledger), Cache(ResponseCache(tmp_path / "cache.sqlite"))])
    first = client.chat(HELLO, run_id="q1", question="How long?", context=[("a.md", "30 days")])
    again = client.chat(HELLO, run_id="q2", question="how long", context=[("a.md", "30 days")])
    assert llm.calls == 1
    assert (first.cache_hit, again.cache_hit, again.text, again.attempts) == ("", "exact", first.text, 0)
    assert again.parts == {"cache": {"hit": "exact"}} and first.parts == {"cache": {"hit": ""}}
    rows = ledger.entries()
    assert list(rows.kind) == ["llm", "cache_saved"]
    assert list(rows.note) == ["", 'exact hit of "How long?"']
    assert rows.usd.iloc[1] == pytest.approx(4.5e-6)
    assert ledger.spent() == pytest.approx(4.5e-6)  # what the cache saved is not spending


def test_the_cache_never_answers_a_judge_or_a_reask(tmp_path):
    llm = CountingLLM()
    client = ModelClient(llm, MODEL, [Cache(ResponseCache(tmp_path / "cache.sqlite"))])
    for kind in ("judge", "judge", "reask"):
        assert client.chat(HELLO, kind=kind, question="How long?").cache_hit == ""
    assert llm.calls == 3

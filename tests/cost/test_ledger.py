"""The cost ledger: every call recorded and priced per query, projections of free runs, the budget
as a hard stop across processes, and damaged ledgers refused. Prices are the bundled table's.
The ledger tests run twice: over the SQLite file and over PostgreSQL (a real server, tests/conftest.py)."""

from __future__ import annotations

import pytest

from toolkit.errors import ConfigError
from toolkit.models.usage import Usage

RETURNS = "How long do I have to return an item?"


@pytest.fixture
def ledger(where):
    from toolkit.cost.ledger_postgres import cost_ledger

    return cost_ledger(where, priced_as="openai:gpt-4o-mini", embed_priced_as="openai:text-embedding-3-small")


def test_ledger_records_every_kind_of_call_per_query(ledger):
    ledger.record("q1", "embedding", "local:all-MiniLM-L6-v2", Usage(), projected_usage=Usage(10))
    ledger.record("q1", "retry", "openai:gpt-4o-mini", Usage(1000), attempt=1, note="429")
    ledger.record("q1", "llm", "openai:gpt-4o-mini", Usage(1000, 100), attempt=2)
    ledger.record("q1", "judge", "local:SmolLM2-135M-Instruct.Q4_1", Usage(300, 5), projected_usage=Usage(280, 4))
    ledger.record("q2", "cache_saved", "openai:gpt-4o-mini", Usage(1000, 100))
    rows = ledger.entries("q1")
    assert list(rows["kind"]) == ["embedding", "retry", "llm", "judge"]
    # retry: 1000 x 0.15 = $0.00015; llm: 1000 x 0.15 + 100 x 0.60 = $0.00021; local: $0
    assert list(rows["usd"]) == [0.0, 0.00015, 0.00021, 0.0]
    # projections: 10 x $0.02 (embedding); the hosted calls at their own price; the local
    # judge as gpt-4o-mini would bill its 280 + 4 tokens: 42 + 2.4 = $44.4 per million
    assert list(rows["projected_usd"]) == [2e-07, 0.00015, 0.00021, 4.44e-05]
    assert ledger.spent() == 0.00036  # what the cache saved is not spending
    summary = ledger.summary()
    assert list(summary.index) == ["llm", "embedding", "retry", "judge", "cache_saved"]
    assert summary.loc["cache_saved", "usd"] == 0.00021 and summary.loc["llm", "calls"] == 1
    # what the run store copies beside run q1: the same rows, in order, as plain tuples
    assert ledger.costs("q1") == [
        ("embedding", "local:all-MiniLM-L6-v2", 0.0, "openai:text-embedding-3-small", 2e-07, ""),
        ("retry", "openai:gpt-4o-mini", 0.00015, "openai:gpt-4o-mini", 0.00015, "429"),
        ("llm", "openai:gpt-4o-mini", 0.00021, "openai:gpt-4o-mini", 0.00021, ""),
        ("judge", "local:SmolLM2-135M-Instruct.Q4_1", 0.0, "openai:gpt-4o-mini", 4.44e-05, ""),
    ]
    assert ledger.costs("q3") == []


def test_the_kinds_are_the_model_call_kinds_plus_embedding_retry_cache_saved_and_routing(ledger):
    from toolkit.cost.ledger import LEDGER_KINDS
    from toolkit.errors import ConfigError
    from toolkit.models import CALL_KINDS

    assert set(LEDGER_KINDS) == set(CALL_KINDS) | {"embedding", "retry", "cache_saved", "route", "review"}
    with pytest.raises(ConfigError, match="unknown ledger kind 'validator'"):
        ledger.record("q1", "validator", "openai:gpt-4o-mini", Usage(1))


def test_recording_with_an_id_is_idempotent(ledger):
    for _ in range(3):
        ledger.record("q1", "llm", "openai:gpt-4o-mini", Usage(1000, 100), entry_id="q1:llm:1")
    assert len(ledger.entries()) == 1 and ledger.spent() == 0.00021


def test_unknown_kind_and_unpriced_projection_are_refused(ledger, tmp_path):
    from toolkit.cost.ledger import CostLedger

    with pytest.raises(ConfigError, match="unknown ledger kind 'guess'; use one of: llm, embedding, retry"):
        ledger.record("q1", "guess", "openai:gpt-4o-mini", Usage(1))
    with pytest.raises(ConfigError, match="no price for 'openai:gpt-5-turbo'"):
        CostLedger(tmp_path / "other.sqlite", priced_as="openai:gpt-5-turbo")


def test_zero_budget_blocks_every_paid_call_and_no_free_one(where):
    from toolkit.cost.ledger_postgres import cost_ledger
    from toolkit.errors import BudgetExceededError

    ledger = cost_ledger(where, budget_usd=0)
    for model, estimate in [
        ("openai:gpt-4o-mini", 0.0),
        ("openai:gpt-4o-mini", 1e-9),
        ("anthropic:claude-sonnet-4-0", 1.0),
    ]:
        with pytest.raises(BudgetExceededError, match="the call was not made"):
            ledger.reserve(model, estimate)
    assert ledger.reserve("local:SmolLM2-135M-Instruct.Q4_1", 0.0) is None
    assert ledger.reserve("extractive:quote", 0.0) is None


def test_budget_is_a_hard_stop(where):
    from toolkit.cost.ledger_postgres import cost_ledger
    from toolkit.errors import BudgetExceededError

    ledger = cost_ledger(where, budget_usd=0.001)
    ledger.record("q1", "llm", "openai:gpt-4o-mini", Usage(4000, 500))  # 600 + 300 = $0.0009
    with pytest.raises(BudgetExceededError) as info:
        ledger.reserve("openai:gpt-4o-mini", 0.0002)
    assert str(info.value) == (
        "budget $0.001000 would be passed: $0.000900 spent or reserved, this openai:gpt-4o-mini "
        "call is estimated at $0.000200; the call was not made. Raise budget_usd, use a free "
        "local model, or cache more"
    )
    held = ledger.reserve("openai:gpt-4o-mini", 0.0001)
    assert ledger.spent() == 0.001
    with pytest.raises(BudgetExceededError):  # reached: even a zero estimate is refused
        ledger.reserve("openai:gpt-4o-mini", 0.0)
    ledger.release(held)
    assert ledger.spent() == 0.0009


def test_negative_budget_is_a_config_error(where):
    from toolkit.cost.ledger_postgres import cost_ledger

    with pytest.raises(ConfigError, match="budget_usd must be 0 or more"):
        cost_ledger(where, budget_usd=-1)


def test_corrupt_ledger_is_refused_and_left_alone(tmp_path):
    from toolkit.cost.ledger import CostLedger
    from toolkit.errors import LedgerCorruptError

    path = tmp_path / "ledger.sqlite"
    path.write_bytes(b"not a ledger " * 200)
    with pytest.raises(LedgerCorruptError) as info:
        CostLedger(path)
    assert str(info.value) == (
        f"cost ledger {path} cannot be trusted (file is not a database); it was left as it "
        f"is: move it aside to start a new ledger, or restore it from a backup"
    )
    assert path.read_bytes() == b"not a ledger " * 200


def test_altered_ledger_row_is_detected(ledger):
    from toolkit.errors import LedgerCorruptError

    row = ledger.record("q1", "llm", "openai:gpt-4o-mini", Usage(1000, 100))
    ledger.db.execute("UPDATE entries SET usd = 0")
    with pytest.raises(LedgerCorruptError, match=f"entry {row['id']} was altered"):
        ledger.entries()


def _ledger_worker(where, folder, worker, start_at, barrier):
    import time as _time

    from toolkit.cost.ledger_postgres import cost_ledger
    from toolkit.cost.prices import Usage
    from toolkit.errors import BudgetExceededError

    ledger = cost_ledger(where, budget_usd=0.01)
    _time.sleep(max(0.0, start_at - _time.time()))
    for i in range(100):
        ledger.record(f"w{worker}-q{i}", "llm", "openai:gpt-4o-mini", Usage(10, 1))
    barrier.wait()  # every record is in before anyone reserves, so the outcome is exact
    granted = 0
    for _ in range(2):
        try:
            ledger.reserve("openai:gpt-4o-mini", 0.003)
            granted += 1
        except BudgetExceededError:
            pass
    with open(f"{folder}/granted.{worker}", "w") as f:
        f.write(str(granted))


def test_eight_processes_share_the_ledger_and_the_budget(where, tmp_path):
    import multiprocessing
    import time

    from toolkit.cost.ledger_postgres import cost_ledger

    cost_ledger(where)
    spawn = multiprocessing.get_context("spawn")
    start_at = time.time() + 5
    barrier = spawn.Barrier(8)
    workers = [spawn.Process(target=_ledger_worker, args=(where, tmp_path, w, start_at, barrier)) for w in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0] * 8
    rows = cost_ledger(where).entries()
    assert len(rows) == 800 and rows["id"].nunique() == 800 and rows["query_id"].nunique() == 800
    assert sorted(rows.groupby("pid").size()) == [100] * 8
    # 800 calls x (10 x 0.15 + 1 x 0.60) = $0.00168 spent; $0.01 leaves room for exactly
    # 2 reservations of $0.003 plus part of a third: never more, whoever asks first
    granted = sum(int((tmp_path / f"granted.{w}").read_text()) for w in range(8))
    assert granted == 2
    assert cost_ledger(where).spent() == round(0.00168 + 2 * 0.003, 10)


# --- in the pipeline -------------------------------------------------------------------------


def test_zero_budget_stops_a_paid_pipeline_before_the_model_is_called(tiny_index, embed_model, tmp_path):
    from toolkit.config import load_settings
    from toolkit.cost.ledger import CostLedger
    from toolkit.cost.middleware import Budget
    from toolkit.errors import BudgetExceededError
    from toolkit.models.extractive import ExtractiveLLM
    from toolkit.pipeline import Pipeline

    calls = []

    class CountingExtractive(ExtractiveLLM):
        def chat(self, messages, **kwargs):
            calls.append(1)
            return super().chat(messages, **kwargs)

    ledger = CostLedger(tmp_path / "ledger.sqlite", budget_usd=0)
    # the extractive answerer, labelled and priced as a hosted model: the budget sees a paid call
    pipeline = Pipeline(
        tiny_index,
        settings=load_settings(),
        embed_model=embed_model,
        llm=CountingExtractive.from_embed_model(embed_model),
        model="openai:gpt-4o-mini",
        middleware=[Budget(ledger)],
    )
    with pytest.raises(BudgetExceededError):
        pipeline.ask(RETURNS)
    answer = pipeline.ask(RETURNS, raise_errors=False)
    assert calls == [] and answer.text == "" and answer.record.error.startswith("BudgetExceededError: budget $0.000000")
    assert list(ledger.entries()["kind"]) == ["embedding", "embedding"]  # no llm row: nothing was spent


def test_pipeline_ledger_projects_a_free_run(tiny_index, embed_model, tmp_path):
    from toolkit.config import load_settings
    from toolkit.cost.ledger import CostLedger
    from toolkit.cost.middleware import Budget
    from toolkit.cost.prices import count_tokens_for
    from toolkit.models.extractive import ExtractiveLLM
    from toolkit.pipeline import Pipeline
    from toolkit.prompting.spec import rag_messages

    ledger = CostLedger(tmp_path / "ledger.sqlite", priced_as="openai:gpt-4o-mini")
    pipeline = Pipeline(
        tiny_index,
        settings=load_settings(),
        embed_model=embed_model,
        llm=ExtractiveLLM.from_embed_model(embed_model),
        middleware=[Budget(ledger)],
    )
    answer = pipeline.ask(RETURNS)
    row = ledger.entries().iloc[-1]
    prompt = "\n".join(m.content for m in rag_messages(RETURNS, answer.context))
    assert (row["kind"], row["model"], row["usd"]) == ("llm", "extractive:quote", 0.0)
    assert row["projected_input_tokens"] == count_tokens_for("openai:gpt-4o-mini", prompt)
    assert row["projected_output_tokens"] == count_tokens_for("openai:gpt-4o-mini", answer.text)
    assert row["projected_usd"] == round(
        (row["projected_input_tokens"] * 0.15 + row["projected_output_tokens"] * 0.6) / 1e6, 10
    )

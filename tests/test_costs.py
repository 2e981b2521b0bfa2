"""Prices from the versioned table, worked out by hand in dollars per million tokens."""

from __future__ import annotations

import pytest

from toolkit.costs import PriceTable, Usage
from toolkit.errors import ConfigError

HEADER = "provider,model,input_per_mtok,output_per_mtok,cached_input_per_mtok,effective_date,source"


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable.load()


def test_bundled_table_version_and_path(table):
    assert table.version == "2026-11-27"
    assert table.path == "toolkit/data/prices.csv"
    # the rows this file prices (the table may grow; these must stay)
    assert {"local:*", "ollama:*", "openai:gpt-4o-mini", "openai:gpt-4o", "anthropic:claude-3-5-haiku-latest",
            "openai:text-embedding-3-small"} <= set(table.prices)


def test_gpt_4o_mini(table):
    # 1200 x $0.15 + 300 x $0.60 = $360 per million calls of this size = $0.00036
    assert table.cost("openai:gpt-4o-mini", Usage(input_tokens=1200, output_tokens=300)) == 0.00036


def test_gpt_4o_mini_with_cached_input(table):
    # 200 uncached x $0.15 + 1000 cached x $0.075 + 300 x $0.60 = 30 + 75 + 180 = $285 per million
    usage = Usage(input_tokens=1200, output_tokens=300, cached_input_tokens=1000)
    assert table.cost("openai:gpt-4o-mini", usage) == 0.000285


def test_claude_3_5_haiku(table):
    # 1000 x $0.80 + 500 x $4.00 = 800 + 2000 = $2800 per million
    assert table.cost("anthropic:claude-3-5-haiku-latest", Usage(1000, 500)) == 0.0028
    # 600 uncached x $0.80 + 400 cached x $0.08 + 500 x $4.00 = 480 + 32 + 2000 = $2512 per million
    assert table.cost("anthropic:claude-3-5-haiku-latest", Usage(1000, 500, 400)) == 0.002512


def test_gpt_4o_million_tokens(table):
    # one million in at $2.50 and one million out at $10.00
    assert table.cost("openai:gpt-4o", Usage(1_000_000, 1_000_000)) == 12.5


def test_embedding_model_charges_input_only(table):
    assert table.cost("openai:text-embedding-3-small", Usage(input_tokens=50_000)) == 0.001


@pytest.mark.parametrize("model", ["local:SmolLM2-135M-Instruct.Q4_1", "local:anything", "ollama:llama3.2"])
def test_models_on_this_machine_cost_nothing(table, model):
    assert table.cost(model, Usage(123_456, 7_890, 1_000)) == 0.0


def test_price_row_fields(table):
    p = table.price("openai:gpt-4o-mini")
    assert (p.provider, p.model, p.input_per_mtok, p.output_per_mtok, p.cached_input_per_mtok,
            p.effective_date, p.source) == ("openai", "gpt-4o-mini", 0.15, 0.60, 0.075, "2024-07-18",
                                            "https://openai.com/api/pricing/")
    assert table.price("ollama:mistral").model == "*"


def test_unknown_model_names_the_model_and_the_row_to_add(table):
    with pytest.raises(ConfigError) as info:
        table.cost("openai:gpt-5-turbo", Usage(1, 1))
    assert str(info.value) == (
        "no price for 'openai:gpt-5-turbo' in toolkit/data/prices.csv; add a row "
        "'openai,gpt-5-turbo,INPUT,OUTPUT,CACHED,DATE,SOURCE' (dollars per million tokens)")


def test_unknown_provider_is_not_free(table):
    with pytest.raises(ConfigError, match="no price for 'openai-like:my-model'"):
        table.price("openai-like:my-model")


def test_custom_table(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text(f"# Version 2025-01-02.\n{HEADER}\nacme,tiny,1,2,0.5,2025-01-02,contract\n", encoding="utf-8")
    table = PriceTable.load(path)
    assert table.version == "2025-01-02"
    assert table.path == str(path)
    # 1000 x $1 + 2000 x $2 = $5000 per million
    assert table.cost("acme:tiny", Usage(1000, 2000)) == 0.005
    with pytest.raises(ConfigError, match=f"no price for 'openai:gpt-4o-mini' in {path};"):
        table.price("openai:gpt-4o-mini")


def test_malformed_row_names_the_line(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text(f"# comment\n{HEADER}\nacme,tiny,1,2,0.5,2025-01-02,ok\n\nacme,big,one,2,0.5,2025-01-02,typo\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        PriceTable.load(path)
    assert str(info.value) == (f"price table {path}, line 5: malformed row "
                               f"['acme', 'big', 'one', '2', '0.5', '2025-01-02', 'typo'] "
                               f"(could not convert string to float: 'one')")


def test_row_with_missing_columns_names_the_line(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text(f"{HEADER}\nacme,tiny,1,2\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        PriceTable.load(path)
    assert str(info.value) == (f"price table {path}, line 2: malformed row ['acme', 'tiny', '1', '2'] "
                               f"(not enough values to unpack (expected 7, got 4))")


def test_negative_price_names_the_line(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text(f"{HEADER}\nacme,tiny,1,-2,0,2025-01-02,x\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        PriceTable.load(path)
    assert str(info.value) == f"price table {path}, line 2: negative price"


@pytest.mark.parametrize("header", [
    "provider,model,input,output,cached,effective_date,source",
    "model,provider,input_per_mtok,output_per_mtok,cached_input_per_mtok,effective_date,source",
    "",
])
def test_wrong_header_is_refused(tmp_path, header):
    path = tmp_path / "prices.csv"
    path.write_text(f"{header}\nacme,tiny,1,2,0.5,2025-01-02,x\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        PriceTable.load(path)
    assert str(info.value) == f"price table {path}: header must be {HEADER}"


def test_usage_addition():
    total = Usage(100, 20, 10) + Usage(1, 2, 3) + Usage()
    assert total == Usage(input_tokens=101, output_tokens=22, cached_input_tokens=13)


def test_usage_is_immutable():
    from dataclasses import FrozenInstanceError

    with pytest.raises(FrozenInstanceError):
        Usage(1, 2).input_tokens = 5


# --- row validation: every malformed row is named --------------------------------------------------

@pytest.mark.parametrize("row, problem", [
    ("acme,tiny,1,2,0.5,2025-13-02,x", "effective_date '2025-13-02' is not a date (write YYYY-MM-DD)"),
    ("acme,tiny,1,2,0.5,yesterday,x", "effective_date 'yesterday' is not a date (write YYYY-MM-DD)"),
    ("acme,tiny,1,2,0.5,2025-01-02,", "source is empty; say where the price comes from"),
    ("acme,tiny,nan,2,0.5,2025-01-02,x", "prices must be finite numbers, got ['nan', '2', '0.5']"),
    ("acme,tiny,1,inf,0.5,2025-01-02,x", "prices must be finite numbers, got ['1', 'inf', '0.5']"),
    (",tiny,1,2,0.5,2025-01-02,x", "provider and model must not be empty"),
])
def test_each_malformed_row_fails_the_load_naming_its_line(tmp_path, row, problem):
    path = tmp_path / "prices.csv"
    path.write_text(f"{HEADER}\nacme,ok,1,2,0.5,2025-01-02,fine\n{row}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        PriceTable.load(path)
    assert str(info.value) == f"price table {path}, line 3: {problem}"


def test_duplicate_row_names_both_lines(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text(f"{HEADER}\nacme,tiny,1,2,0.5,2025-01-02,a\nacme,big,1,2,0.5,2025-01-02,b\n"
                    f"acme,tiny,3,4,0.5,2025-06-01,c\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        PriceTable.load(path)
    assert str(info.value) == f"price table {path}, line 4: a second row for acme:tiny (the first is line 2); keep one"


def test_every_bundled_row_is_valid_and_dated(table):
    import datetime as dt

    for price in table.prices.values():
        assert dt.date.fromisoformat(price.effective_date) and price.source
    assert [name for name, p in table.prices.items() if not p.paid] == ["local:*", "ollama:*", "extractive:*"]


# --- tokenizers ----------------------------------------------------------------------------------

RETURNS = "How long do I have to return an item?"


def test_openai_counts_with_the_models_own_tiktoken_encoding():
    from toolkit.costs import count_tokens_for, tokenizer_for

    assert count_tokens_for("openai:gpt-4o-mini", RETURNS) == 10   # How|long|do|I|have|to|return|an|item|?
    assert tokenizer_for("openai:gpt-4o-mini")[1] == "tiktoken o200k_base"
    assert tokenizer_for("openai:text-embedding-3-small")[1] == "tiktoken cl100k_base"
    assert tokenizer_for("openai:gpt-9-unknown")[1] == "tiktoken o200k_base"   # the current encoding
    assert count_tokens_for("openai:gpt-4o-mini", "") == 0


def test_local_model_counts_with_its_gguf_tokenizer(llm):
    from toolkit.costs import count_tokens_for, tokenizer_for

    text = "Tidewell Thermo T2: error E24 means the hub device limit was reached."
    # the same tokenizer the loaded model uses
    assert count_tokens_for("local:SmolLM2-135M-Instruct.Q4_1", text) == llm.count_tokens(text)
    assert tokenizer_for("local")[1] == "GGUF SmolLM2-135M-Instruct.Q4_1.gguf"
    with pytest.raises(ConfigError, match="pass gguf_path= so its own tokenizer counts"):
        count_tokens_for("local:my-own-model", text)


def test_anthropic_and_others_are_documented_approximations():
    from toolkit.costs import TOKENIZERS, count_tokens_for, tokenizer_for

    assert tokenizer_for("anthropic:claude-3-5-haiku-latest")[1] == "tiktoken cl100k_base (approximation)"
    assert count_tokens_for("anthropic:claude-3-5-haiku-latest", RETURNS) == 10
    assert "approximation" in TOKENIZERS["anthropic"]
    assert count_tokens_for("extractive:quote", RETURNS) == 0


def test_priced_as_is_a_labelled_projection(table):
    from toolkit.costs import priced_as

    projection = priced_as("openai:gpt-4o-mini", RETURNS, "30 days.", ran_on="local:SmolLM2", prices=table)
    # 10 prompt tokens x $0.15 + 3 answer tokens ("30", " days", ".") x $0.60 = $3.3 per million
    assert projection.usage == Usage(10, 3)
    assert projection.usd == round((10 * 0.15 + 3 * 0.60) / 1e6, 10) == 3.3e-06
    assert projection.label == ("PROJECTION: a local:SmolLM2 run priced as openai:gpt-4o-mini "
                                "(tokens by tiktoken o200k_base); not money spent")


# --- the ledger ----------------------------------------------------------------------------------

@pytest.fixture
def ledger(tmp_path):
    from toolkit.ledger import CostLedger

    return CostLedger(tmp_path / "ledger.sqlite", priced_as="openai:gpt-4o-mini",
                      embed_priced_as="openai:text-embedding-3-small")


def test_ledger_records_every_kind_of_call_per_query(ledger):
    ledger.record("q1", "embedding", "local:all-MiniLM-L6-v2", Usage(), projected_usage=Usage(10))
    ledger.record("q1", "retry", "openai:gpt-4o-mini", Usage(1000), attempt=1, note="429")
    ledger.record("q1", "llm", "openai:gpt-4o-mini", Usage(1000, 100), attempt=2)
    ledger.record("q1", "validator", "local:SmolLM2-135M-Instruct.Q4_1", Usage(300, 5), projected_usage=Usage(280, 4))
    ledger.record("q2", "cache_saved", "openai:gpt-4o-mini", Usage(1000, 100))
    rows = ledger.entries("q1")
    assert list(rows["kind"]) == ["embedding", "retry", "llm", "validator"]
    # retry: 1000 x 0.15 = $0.00015; llm: 1000 x 0.15 + 100 x 0.60 = $0.00021; local: $0
    assert list(rows["usd"]) == [0.0, 0.00015, 0.00021, 0.0]
    # projections: 10 x $0.02 (embedding); the hosted calls at their own price; the local
    # validator as gpt-4o-mini would bill its 280 + 4 tokens: 42 + 2.4 = $44.4 per million
    assert list(rows["projected_usd"]) == [2e-07, 0.00015, 0.00021, 4.44e-05]
    assert ledger.spent() == 0.00036   # what the cache saved is not spending
    summary = ledger.summary()
    assert list(summary.index) == ["llm", "embedding", "retry", "validator", "cache_saved"]
    assert summary.loc["cache_saved", "usd"] == 0.00021 and summary.loc["llm", "calls"] == 1


def test_recording_with_an_id_is_idempotent(ledger):
    for _ in range(3):
        ledger.record("q1", "llm", "openai:gpt-4o-mini", Usage(1000, 100), entry_id="q1:llm:1")
    assert len(ledger.entries()) == 1 and ledger.spent() == 0.00021


def test_unknown_kind_and_unpriced_projection_are_refused(ledger, tmp_path):
    from toolkit.ledger import CostLedger

    with pytest.raises(ConfigError, match="unknown ledger kind 'guess'; use one of: llm, embedding, retry"):
        ledger.record("q1", "guess", "openai:gpt-4o-mini", Usage(1))
    with pytest.raises(ConfigError, match="no price for 'openai:gpt-5-turbo'"):
        CostLedger(tmp_path / "other.sqlite", priced_as="openai:gpt-5-turbo")


def test_zero_budget_blocks_every_paid_call_and_no_free_one(tmp_path):
    from toolkit.ledger import CostLedger
    from toolkit.errors import BudgetExceededError

    ledger = CostLedger(tmp_path / "ledger.sqlite", budget_usd=0)
    for model, estimate in [("openai:gpt-4o-mini", 0.0), ("openai:gpt-4o-mini", 1e-9), ("anthropic:claude-sonnet-4-0", 1.0)]:
        with pytest.raises(BudgetExceededError, match="the call was not made"):
            ledger.reserve(model, estimate)
    assert ledger.reserve("local:SmolLM2-135M-Instruct.Q4_1", 0.0) is None
    assert ledger.reserve("extractive:quote", 0.0) is None


def test_budget_is_a_hard_stop(tmp_path):
    from toolkit.ledger import CostLedger
    from toolkit.errors import BudgetExceededError

    ledger = CostLedger(tmp_path / "ledger.sqlite", budget_usd=0.001)
    ledger.record("q1", "llm", "openai:gpt-4o-mini", Usage(4000, 500))   # 600 + 300 = $0.0009
    with pytest.raises(BudgetExceededError) as info:
        ledger.reserve("openai:gpt-4o-mini", 0.0002)
    assert str(info.value) == ("budget $0.001000 would be passed: $0.000900 spent or reserved, this openai:gpt-4o-mini "
                               "call is estimated at $0.000200; the call was not made. Raise budget_usd, use a free "
                               "local model, or cache more")
    held = ledger.reserve("openai:gpt-4o-mini", 0.0001)
    assert ledger.spent() == 0.001
    with pytest.raises(BudgetExceededError):   # reached: even a zero estimate is refused
        ledger.reserve("openai:gpt-4o-mini", 0.0)
    ledger.release(held)
    assert ledger.spent() == 0.0009


def test_negative_budget_is_a_config_error(tmp_path):
    from toolkit.ledger import CostLedger

    with pytest.raises(ConfigError, match="budget_usd must be 0 or more"):
        CostLedger(tmp_path / "ledger.sqlite", budget_usd=-1)


def test_corrupt_ledger_is_refused_and_left_alone(tmp_path):
    from toolkit.ledger import CostLedger
    from toolkit.errors import LedgerCorruptError

    path = tmp_path / "ledger.sqlite"
    path.write_bytes(b"not a ledger " * 200)
    with pytest.raises(LedgerCorruptError) as info:
        CostLedger(path)
    assert str(info.value) == (f"cost ledger {path} cannot be trusted (file is not a database); it was left as it "
                               f"is: move it aside to start a new ledger, or restore it from a backup")
    assert path.read_bytes() == b"not a ledger " * 200


def test_altered_ledger_row_is_detected(ledger):
    from toolkit.errors import LedgerCorruptError

    row = ledger.record("q1", "llm", "openai:gpt-4o-mini", Usage(1000, 100))
    ledger.db.execute("UPDATE entries SET usd = 0")
    with pytest.raises(LedgerCorruptError, match=f"entry {row['id']} was altered"):
        ledger.entries()


def _ledger_worker(path, worker, start_at, barrier):
    import time as _time

    from toolkit.costs import Usage
    from toolkit.ledger import CostLedger
    from toolkit.errors import BudgetExceededError

    ledger = CostLedger(path, budget_usd=0.01)
    _time.sleep(max(0.0, start_at - _time.time()))
    for i in range(100):
        ledger.record(f"w{worker}-q{i}", "llm", "openai:gpt-4o-mini", Usage(10, 1))
    barrier.wait()   # every record is in before anyone reserves, so the outcome is exact
    granted = 0
    for _ in range(2):
        try:
            ledger.reserve("openai:gpt-4o-mini", 0.003)
            granted += 1
        except BudgetExceededError:
            pass
    with open(f"{path}.granted.{worker}", "w") as f:
        f.write(str(granted))


def test_eight_processes_share_the_ledger_and_the_budget(tmp_path):
    import multiprocessing
    import time

    from toolkit.ledger import CostLedger

    path = tmp_path / "ledger.sqlite"
    CostLedger(path)
    spawn = multiprocessing.get_context("spawn")
    start_at = time.time() + 5
    barrier = spawn.Barrier(8)
    workers = [spawn.Process(target=_ledger_worker, args=(path, w, start_at, barrier)) for w in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0] * 8
    rows = CostLedger(path).entries()
    assert len(rows) == 800 and rows["id"].nunique() == 800 and rows["query_id"].nunique() == 800
    assert sorted(rows.groupby("pid").size()) == [100] * 8
    # 800 calls x (10 x 0.15 + 1 x 0.60) = $0.00168 spent; $0.01 leaves room for exactly
    # 2 reservations of $0.003 plus part of a third: never more, whoever asks first
    granted = sum(int((tmp_path / f"ledger.sqlite.granted.{w}").read_text()) for w in range(8))
    assert granted == 2
    assert CostLedger(path).spent() == round(0.00168 + 2 * 0.003, 10)


# --- in the pipeline -----------------------------------------------------------------------------

def test_zero_budget_stops_a_paid_pipeline_before_the_model_is_called(tiny_index, embed_model, tmp_path):
    from toolkit.config import load_settings
    from toolkit.ledger import CostLedger
    from toolkit.errors import BudgetExceededError
    from toolkit.extractive import ExtractiveLLM
    from toolkit.pipeline import Pipeline

    calls = []

    class CountingExtractive(ExtractiveLLM):
        def chat(self, messages, **kwargs):
            calls.append(1)
            return super().chat(messages, **kwargs)

    ledger = CostLedger(tmp_path / "ledger.sqlite", budget_usd=0)
    # the extractive answerer, labelled and priced as a hosted model: the budget sees a paid call
    pipeline = Pipeline(tiny_index, settings=load_settings(), embed_model=embed_model,
                        llm=CountingExtractive.from_embed_model(embed_model), model="openai:gpt-4o-mini", ledger=ledger)
    with pytest.raises(BudgetExceededError):
        pipeline.ask(RETURNS)
    answer = pipeline.ask(RETURNS, raise_errors=False)
    assert calls == [] and answer.text == "" and answer.record.error.startswith("BudgetExceededError: budget $0.000000")
    assert list(ledger.entries()["kind"]) == ["embedding", "embedding"]   # no llm row: nothing was spent


def test_pipeline_ledger_projects_a_free_run(tiny_index, embed_model, tmp_path):
    from toolkit.config import load_settings
    from toolkit.costs import count_tokens_for
    from toolkit.ledger import CostLedger
    from toolkit.extractive import ExtractiveLLM
    from toolkit.pipeline import Pipeline
    from toolkit.prompts import rag_messages

    ledger = CostLedger(tmp_path / "ledger.sqlite", priced_as="openai:gpt-4o-mini")
    pipeline = Pipeline(tiny_index, settings=load_settings(), embed_model=embed_model,
                        llm=ExtractiveLLM.from_embed_model(embed_model), ledger=ledger)
    answer = pipeline.ask(RETURNS)
    row = ledger.entries().iloc[-1]
    prompt = "\n".join(m.content for m in rag_messages(RETURNS, answer.context))
    assert (row["kind"], row["model"], row["usd"]) == ("llm", "extractive:quote", 0.0)
    assert row["projected_input_tokens"] == count_tokens_for("openai:gpt-4o-mini", prompt)
    assert row["projected_output_tokens"] == count_tokens_for("openai:gpt-4o-mini", answer.text)
    assert row["projected_usd"] == round((row["projected_input_tokens"] * 0.15 + row["projected_output_tokens"] * 0.6) / 1e6, 10)


# --- estimates and projections -------------------------------------------------------------------

def test_dry_run_estimate(table):
    from toolkit.costs import estimate_batch

    estimate = estimate_batch([RETURNS] * 3, "openai:gpt-4o-mini", output_tokens=64, prices=table)
    # 3 x 10 = 30 in at $0.15, 3 x 64 = 192 out at $0.60: 4.5 + 115.2 = $119.7 per million
    assert estimate == {"model": "openai:gpt-4o-mini", "calls": 3, "input_tokens": 30, "output_tokens": 192,
                        "usd": 0.0001197, "tokenizer": "tiktoken o200k_base"}


def test_monthly_projection_with_hit_rate_and_routing(table):
    from toolkit.costs import project_monthly

    frame = project_monthly(1000, {"openai:gpt-4o-mini": Usage(1000, 100), "openai:gpt-4o": Usage(1000, 100)},
                            {"openai:gpt-4o-mini": 0.8, "openai:gpt-4o": 0.2}, hit_rate=0.6, prices=table)
    # 30,000 queries, 40% miss: 12,000 calls; 9,600 x $0.00021 = $2.016; 2,400 x $0.0035 = $8.40
    assert frame.to_dict("records") == [
        {"model": "openai:gpt-4o-mini", "share": 0.8, "calls_per_month": 9600, "usd_per_call": 0.00021, "usd_per_month": 2.02},
        {"model": "openai:gpt-4o", "share": 0.2, "calls_per_month": 2400, "usd_per_call": 0.0035, "usd_per_month": 8.4}]


@pytest.mark.parametrize("kwargs, message", [
    (dict(routing={"openai:gpt-4o-mini": 0.5}), "routing shares must sum to 1, not 0.5"),
    (dict(hit_rate=1.5), "hit_rate must be between 0 and 1, not 1.5"),
])
def test_projection_refuses_bad_inputs(table, kwargs, message):
    from toolkit.costs import project_monthly

    args = dict(routing={"openai:gpt-4o-mini": 1.0}, hit_rate=0.0) | kwargs
    with pytest.raises(ConfigError, match=message):
        project_monthly(100, {"openai:gpt-4o-mini": Usage(1, 1)}, args["routing"], hit_rate=args["hit_rate"], prices=table)

"""Prices from the versioned table, worked out by hand in dollars per million tokens."""

from __future__ import annotations

import pytest

from toolkit.cost.prices import PriceTable, Usage
from toolkit.errors import ConfigError

HEADER = "provider,model,input_per_mtok,output_per_mtok,cached_input_per_mtok,effective_date,source"


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable.load()


def test_bundled_table_version_and_path(table):
    assert table.version == "2026-11-27"
    assert table.path == "toolkit/data/prices.csv"
    # the rows this file prices (the table may grow; these must stay)
    assert {
        "local:*",
        "ollama:*",
        "openai:gpt-4o-mini",
        "openai:gpt-4o",
        "anthropic:claude-3-5-haiku-latest",
        "openai:text-embedding-3-small",
    } <= set(table.prices)


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
    assert (
        p.provider,
        p.model,
        p.input_per_mtok,
        p.output_per_mtok,
        p.cached_input_per_mtok,
        p.effective_date,
        p.source,
    ) == ("openai", "gpt-4o-mini", 0.15, 0.60, 0.075, "2024-07-18", "https://openai.com/api/pricing/")
    assert table.price("ollama:mistral").model == "*"


def test_unknown_model_names_the_model_and_the_row_to_add(table):
    with pytest.raises(ConfigError) as info:
        table.cost("openai:gpt-5-turbo", Usage(1, 1))
    assert str(info.value) == (
        "no price for 'openai:gpt-5-turbo' in toolkit/data/prices.csv; add a row "
        "'openai,gpt-5-turbo,INPUT,OUTPUT,CACHED,DATE,SOURCE' (dollars per million tokens)"
    )


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
    path.write_text(
        f"# comment\n{HEADER}\nacme,tiny,1,2,0.5,2025-01-02,ok\n\nacme,big,one,2,0.5,2025-01-02,typo\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        PriceTable.load(path)
    assert str(info.value) == (
        f"price table {path}, line 5: malformed row "
        f"['acme', 'big', 'one', '2', '0.5', '2025-01-02', 'typo'] "
        f"(could not convert string to float: 'one')"
    )


def test_row_with_missing_columns_names_the_line(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text(f"{HEADER}\nacme,tiny,1,2\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        PriceTable.load(path)
    assert str(info.value) == (
        f"price table {path}, line 2: malformed row ['acme', 'tiny', '1', '2'] "
        f"(not enough values to unpack (expected 7, got 4))"
    )


def test_negative_price_names_the_line(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text(f"{HEADER}\nacme,tiny,1,-2,0,2025-01-02,x\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        PriceTable.load(path)
    assert str(info.value) == f"price table {path}, line 2: negative price"


@pytest.mark.parametrize(
    "header",
    [
        "provider,model,input,output,cached,effective_date,source",
        "model,provider,input_per_mtok,output_per_mtok,cached_input_per_mtok,effective_date,source",
        "",
    ],
)
def test_wrong_header_is_refused(tmp_path, header):
    path = tmp_path / "prices.csv"
    path.write_text(f"{header}\nacme,tiny,1,2,0.5,2025-01-02,x\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        PriceTable.load(path)
    assert str(info.value) == f"price table {path}: header must be {HEADER}"


# --- row validation: every malformed row is named --------------------------------------------------


@pytest.mark.parametrize(
    "row, problem",
    [
        ("acme,tiny,1,2,0.5,2025-13-02,x", "effective_date '2025-13-02' is not a date (write YYYY-MM-DD)"),
        ("acme,tiny,1,2,0.5,yesterday,x", "effective_date 'yesterday' is not a date (write YYYY-MM-DD)"),
        ("acme,tiny,1,2,0.5,2025-01-02,", "source is empty; say where the price comes from"),
        ("acme,tiny,nan,2,0.5,2025-01-02,x", "prices must be finite numbers, got ['nan', '2', '0.5']"),
        ("acme,tiny,1,inf,0.5,2025-01-02,x", "prices must be finite numbers, got ['1', 'inf', '0.5']"),
        (",tiny,1,2,0.5,2025-01-02,x", "provider and model must not be empty"),
    ],
)
def test_each_malformed_row_fails_the_load_naming_its_line(tmp_path, row, problem):
    path = tmp_path / "prices.csv"
    path.write_text(f"{HEADER}\nacme,ok,1,2,0.5,2025-01-02,fine\n{row}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        PriceTable.load(path)
    assert str(info.value) == f"price table {path}, line 3: {problem}"


def test_duplicate_row_names_both_lines(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text(
        f"{HEADER}\nacme,tiny,1,2,0.5,2025-01-02,a\nacme,big,1,2,0.5,2025-01-02,b\nacme,tiny,3,4,0.5,2025-06-01,c\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        PriceTable.load(path)
    assert str(info.value) == f"price table {path}, line 4: a second row for acme:tiny (the first is line 2); keep one"


def test_every_bundled_row_is_valid_and_dated(table):
    import datetime as dt

    for price in table.prices.values():
        assert dt.date.fromisoformat(price.effective_date) and price.source
    # free: what runs on this machine, including Gemma served on loopback for notebook 08's tier
    free = ["local:*", "ollama:*", "extractive:*", "openai-like:gemma-3-270m"]
    assert [name for name, p in table.prices.items() if not p.paid] == free


# --- tokenizers ----------------------------------------------------------------------------------

RETURNS = "How long do I have to return an item?"


def test_openai_counts_with_the_models_own_tiktoken_encoding():
    from toolkit.cost.prices import count_tokens_for, tokenizer_for

    assert count_tokens_for("openai:gpt-4o-mini", RETURNS) == 10  # How|long|do|I|have|to|return|an|item|?
    assert tokenizer_for("openai:gpt-4o-mini")[1] == "tiktoken o200k_base"
    assert tokenizer_for("openai:text-embedding-3-small")[1] == "tiktoken cl100k_base"
    assert tokenizer_for("openai:gpt-9-unknown")[1] == "tiktoken o200k_base"  # the current encoding
    assert count_tokens_for("openai:gpt-4o-mini", "") == 0


def test_local_model_counts_with_its_gguf_tokenizer(llm):
    from toolkit.cost.prices import count_tokens_for, tokenizer_for

    text = "Tidewell Thermo T2: error E24 means the hub device limit was reached."
    # the same tokenizer the loaded model uses
    assert count_tokens_for("local:SmolLM2-135M-Instruct.Q4_1", text) == llm.count_tokens(text)
    assert tokenizer_for("local")[1] == "GGUF SmolLM2-135M-Instruct.Q4_1.gguf"
    with pytest.raises(ConfigError, match="pass gguf_path= so its own tokenizer counts"):
        count_tokens_for("local:my-own-model", text)


def test_anthropic_and_others_are_documented_approximations():
    from toolkit.cost.prices import TOKENIZERS, count_tokens_for, tokenizer_for

    assert tokenizer_for("anthropic:claude-3-5-haiku-latest")[1] == "tiktoken cl100k_base (approximation)"
    assert count_tokens_for("anthropic:claude-3-5-haiku-latest", RETURNS) == 10
    assert "approximation" in TOKENIZERS["anthropic"]
    assert count_tokens_for("extractive:quote", RETURNS) == 0


def test_priced_as_is_a_labelled_projection(table):
    from toolkit.cost.prices import priced_as

    projection = priced_as("openai:gpt-4o-mini", RETURNS, "30 days.", ran_on="local:SmolLM2", prices=table)
    # 10 prompt tokens x $0.15 + 3 answer tokens ("30", " days", ".") x $0.60 = $3.3 per million
    assert projection.usage == Usage(10, 3)
    assert projection.usd == round((10 * 0.15 + 3 * 0.60) / 1e6, 10) == 3.3e-06
    assert projection.label == (
        "PROJECTION: a local:SmolLM2 run priced as openai:gpt-4o-mini (tokens by tiktoken o200k_base); not money spent"
    )


# --- estimates and projections -------------------------------------------------------------------


def test_dry_run_estimate(table):
    from toolkit.cost.prices import estimate_batch

    estimate = estimate_batch([RETURNS] * 3, "openai:gpt-4o-mini", output_tokens=64, prices=table)
    # 3 x 10 = 30 in at $0.15, 3 x 64 = 192 out at $0.60: 4.5 + 115.2 = $119.7 per million
    assert estimate == {
        "model": "openai:gpt-4o-mini",
        "calls": 3,
        "input_tokens": 30,
        "output_tokens": 192,
        "usd": 0.0001197,
        "tokenizer": "tiktoken o200k_base",
    }


def test_monthly_projection_with_hit_rate_and_routing(table):
    from toolkit.cost.prices import project_monthly

    frame = project_monthly(
        1000,
        {"openai:gpt-4o-mini": Usage(1000, 100), "openai:gpt-4o": Usage(1000, 100)},
        {"openai:gpt-4o-mini": 0.8, "openai:gpt-4o": 0.2},
        hit_rate=0.6,
        prices=table,
    )
    # 30,000 queries, 40% miss: 12,000 calls; 9,600 x $0.00021 = $2.016; 2,400 x $0.0035 = $8.40
    assert frame.to_dict("records") == [
        {
            "model": "openai:gpt-4o-mini",
            "share": 0.8,
            "calls_per_month": 9600,
            "usd_per_call": 0.00021,
            "usd_per_month": 2.02,
        },
        {"model": "openai:gpt-4o", "share": 0.2, "calls_per_month": 2400, "usd_per_call": 0.0035, "usd_per_month": 8.4},
    ]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(routing={"openai:gpt-4o-mini": 0.5}), "routing shares must sum to 1, not 0.5"),
        (dict(hit_rate=1.5), "hit_rate must be between 0 and 1, not 1.5"),
    ],
)
def test_projection_refuses_bad_inputs(table, kwargs, message):
    from toolkit.cost.prices import project_monthly

    args = dict(routing={"openai:gpt-4o-mini": 1.0}, hit_rate=0.0) | kwargs
    with pytest.raises(ConfigError, match=message):
        project_monthly(
            100, {"openai:gpt-4o-mini": Usage(1, 1)}, args["routing"], hit_rate=args["hit_rate"], prices=table
        )

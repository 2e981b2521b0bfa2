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

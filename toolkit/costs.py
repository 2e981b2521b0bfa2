"""Token usage and what it costs, from a versioned price table.

The table is `toolkit/data/prices.csv`: per provider and model, dollars per million input,
output and cached-input tokens, with the date the price took effect and its source. Local
models cost nothing per token; the pipeline records their compute seconds instead.

    >>> table = PriceTable.load()
    >>> table.cost("openai:gpt-4o-mini", Usage(input_tokens=1200, output_tokens=300))
    0.00036

Not here: budgets, projections and the per-query ledger (they build on this).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .errors import ConfigError

__all__ = ["Usage", "Price", "PriceTable"]


@dataclass(frozen=True)
class Usage:
    """Tokens one model call consumed. `cached_input_tokens` is the part of the input the
    provider served from its prompt cache (billed at the cached price)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
        )


@dataclass(frozen=True)
class Price:
    provider: str
    model: str
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float
    effective_date: str
    source: str


class PriceTable:
    """Prices by `provider:model`, with `provider:*` rows for whole providers."""

    COLUMNS = ["provider", "model", "input_per_mtok", "output_per_mtok",
               "cached_input_per_mtok", "effective_date", "source"]

    def __init__(self, prices: dict[str, Price], version: str = "", path: str = ""):
        self.prices = prices  # "provider:model" -> Price
        self.version = version
        self.path = path

    @classmethod
    def for_settings(cls, settings) -> PriceTable:
        """The bundled table, with the user's own rows (`settings.price_file`) added on top."""
        table = cls.load()
        if settings.price_file is not None:
            if not settings.price_file.is_file():
                raise ConfigError(f"price table {settings.price_file} does not exist; fix the 'prices' setting")
            own = cls.load(settings.price_file)
            table.prices.update(own.prices)
            table.path = f"{table.path} + {own.path}"
        return table

    @classmethod
    def load(cls, path: str | Path | None = None) -> PriceTable:
        """Read a price table; the bundled one when no path is given."""
        if path is None:
            text = resources.files("toolkit").joinpath("data/prices.csv").read_text("utf-8")
            path = "toolkit/data/prices.csv"
        else:
            text = Path(path).read_text("utf-8")
        lines = text.splitlines()
        version = next((line.split("Version", 1)[1].strip(" .") for line in lines
                        if line.startswith("#") and "Version" in line), "")
        body = [(number, line) for number, line in enumerate(lines, 1) if line and not line.startswith("#")]
        reader = csv.reader(line for _, line in body)
        header = next(reader, None)
        if header != cls.COLUMNS:
            raise ConfigError(f"price table {path}: header must be {','.join(cls.COLUMNS)}")
        prices = {}
        for (number, _), row in zip(body[1:], reader):
            try:
                provider, model, inp, out, cached, date, source = row
                price = Price(provider, model, float(inp), float(out), float(cached), date, source)
            except ValueError as exc:
                raise ConfigError(f"price table {path}, line {number}: malformed row {row!r} ({exc})") from exc
            if min(price.input_per_mtok, price.output_per_mtok, price.cached_input_per_mtok) < 0:
                raise ConfigError(f"price table {path}, line {number}: negative price")
            prices[f"{provider}:{model}"] = price
        return cls(prices, version, str(path))

    def price(self, model: str) -> Price:
        """The price of `provider:model`; a `provider:*` row covers every model of a provider."""
        provider = model.split(":", 1)[0]
        found = self.prices.get(model) or self.prices.get(f"{provider}:*")
        if found is None:
            raise ConfigError(
                f"no price for {model!r} in {self.path or 'the price table'}; add a row "
                f"'{provider},{model.split(':', 1)[-1]},INPUT,OUTPUT,CACHED,DATE,SOURCE' (dollars per million tokens)"
            )
        return found

    def cost(self, model: str, usage: Usage) -> float:
        """Dollars for one call: uncached input, cached input and output at their own prices."""
        p = self.price(model)
        uncached = usage.input_tokens - usage.cached_input_tokens
        dollars = (uncached * p.input_per_mtok
                   + usage.cached_input_tokens * p.cached_input_per_mtok
                   + usage.output_tokens * p.output_per_mtok) / 1_000_000
        return round(dollars, 10)  # drop float noise below a hundred-millionth of a cent

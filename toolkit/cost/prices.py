"""Token usage and what it costs: tokenizers, a versioned price table, estimates and projections.

The table is `toolkit/data/prices.csv`: per provider and model, dollars per million input,
output and cached-input tokens, with the date the price took effect and its source. Every row
is validated on load and a bad one is named. Local models cost nothing per token; the
pipeline records their compute seconds instead.

    >>> table = PriceTable.load()
    >>> table.cost("openai:gpt-4o-mini", Usage(input_tokens=1200, output_tokens=300))
    0.00036

Token counts come from each provider's own tokenizer where one is available offline: tiktoken
for OpenAI models (o200k_base for the gpt-4o and gpt-4.1 families, from the encodings
LlamaIndex ships), the GGUF file's own tokenizer for local models. Anthropic publishes no
offline tokenizer: its counts are cl100k_base counts, an approximation (`TOKENIZERS` says which
count is which). `priced_as` prices a local run as if a hosted model had run it: always a
labelled projection, never a bill. `estimate_batch`, `project_monthly` and `plot_projection`
answer "what would this cost" before anything runs.

Not here: recording what was spent and enforcing budgets (ledger.py), which model to call
(routing) and caching answers (cache.py).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import math
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import ConfigError
from ..models.usage import Usage

__all__ = [
    "Usage",
    "Price",
    "PriceTable",
    "count_tokens_for",
    "tokenizer_for",
    "TOKENIZERS",
    "Projection",
    "priced_as",
    "estimate_batch",
    "project_monthly",
    "plot_projection",
]

TOKENIZERS = {
    "openai": "tiktoken, the model's own encoding (o200k_base or cl100k_base); exact",
    "local": "the GGUF file's tokenizer through llama.cpp; exact",
    "anthropic": "tiktoken cl100k_base; an approximation (no offline Anthropic tokenizer)",
    "other": "tiktoken cl100k_base; an approximation",
    "extractive": "none: it reads no tokens (0)",
}


@dataclass(frozen=True)
class Price:
    provider: str
    model: str
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float
    effective_date: str
    source: str

    @property
    def paid(self) -> bool:
        return max(self.input_per_mtok, self.output_per_mtok, self.cached_input_per_mtok) > 0


class PriceTable:
    """Prices by `provider:model`, with `provider:*` rows for whole providers."""

    COLUMNS = [
        "provider",
        "model",
        "input_per_mtok",
        "output_per_mtok",
        "cached_input_per_mtok",
        "effective_date",
        "source",
    ]

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
        """Read a price table; the bundled one when no path is given. Any malformed row fails
        the whole load, naming its line."""
        if path is None:
            text = resources.files("toolkit").joinpath("data/prices.csv").read_text("utf-8")
            path = "toolkit/data/prices.csv"
        else:
            text = Path(path).read_text("utf-8")
        lines = text.splitlines()
        version = next(
            (line.split("Version", 1)[1].strip(" .") for line in lines if line.startswith("#") and "Version" in line),
            "",
        )
        body = [(number, line) for number, line in enumerate(lines, 1) if line and not line.startswith("#")]
        reader = csv.reader(line for _, line in body)
        header = next(reader, None)
        if header != cls.COLUMNS:
            raise ConfigError(f"price table {path}: header must be {','.join(cls.COLUMNS)}")
        prices, first_line = {}, {}
        for (number, _), row in zip(body[1:], reader):
            where = f"price table {path}, line {number}"
            try:
                provider, model, inp, out, cached, date, source = row
                price = Price(provider, model, float(inp), float(out), float(cached), date, source)
            except ValueError as exc:
                raise ConfigError(f"{where}: malformed row {row!r} ({exc})") from exc
            numbers = (price.input_per_mtok, price.output_per_mtok, price.cached_input_per_mtok)
            if not all(math.isfinite(n) for n in numbers):
                raise ConfigError(f"{where}: prices must be finite numbers, got {row[2:5]!r}")
            if min(numbers) < 0:
                raise ConfigError(f"{where}: negative price")
            if not provider.strip() or not model.strip():
                raise ConfigError(f"{where}: provider and model must not be empty")
            try:
                dt.date.fromisoformat(date)
            except ValueError:
                raise ConfigError(f"{where}: effective_date {date!r} is not a date (write YYYY-MM-DD)") from None
            if not source.strip():
                raise ConfigError(f"{where}: source is empty; say where the price comes from")
            name = f"{provider}:{model}"
            if name in prices:
                raise ConfigError(f"{where}: a second row for {name} (the first is line {first_line[name]}); keep one")
            prices[name], first_line[name] = price, number
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
        dollars = (
            uncached * p.input_per_mtok
            + usage.cached_input_tokens * p.cached_input_per_mtok
            + usage.output_tokens * p.output_per_mtok
        ) / 1_000_000
        return round(dollars, 10)  # drop float noise below a hundred-millionth of a cent


# --- tokenizers --------------------------------------------------------------------------------


def _tiktoken(name: str, by_model: bool):
    # LlamaIndex ships tiktoken's cl100k_base and o200k_base files: point tiktoken at them, so
    # counting never downloads anything.
    import llama_index.core
    import tiktoken

    os.environ.setdefault(
        "TIKTOKEN_CACHE_DIR", str(Path(llama_index.core.__file__).parent / "_static" / "tiktoken_cache")
    )
    if by_model:
        try:
            return tiktoken.encoding_for_model(name)
        except KeyError:  # a model tiktoken does not know yet: the current OpenAI encoding
            return tiktoken.get_encoding("o200k_base")
    return tiktoken.get_encoding(name)


@functools.lru_cache(maxsize=4)
def _gguf_vocab(path: str):
    """The GGUF's vocabulary alone (0.2 s, no weights). llama.cpp's model object tokenizes
    without a context; `Llama(vocab_only=True)` would also build one and warn about its size."""
    import llama_cpp

    try:
        from llama_cpp._internals import LlamaModel
    except ImportError:  # a llama-cpp-python that moved its internals: the public class
        return llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    return LlamaModel(path_model=path, params=params, verbose=False)


def tokenizer_for(model: str, gguf_path: str | Path | None = None):
    """A function text -> token count for `provider:model`, and which tokenizer it is."""
    provider, _, name = model.partition(":")
    if provider == "openai":
        encoding = _tiktoken(name, by_model=True)
        return (lambda text: len(encoding.encode(text, disallowed_special=()))), f"tiktoken {encoding.name}"
    if provider == "local":
        from ..models.providers import embedded_llm_path

        path = Path(gguf_path) if gguf_path else embedded_llm_path()
        if gguf_path is None and name and name != path.stem:
            raise ConfigError(f"{model} is not the embedded model; pass gguf_path= so its own tokenizer counts")
        vocab = _gguf_vocab(str(path))
        return (
            lambda text: len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=True))
        ), f"GGUF {path.name}"
    if provider == "extractive":
        return (lambda text: 0), "none"
    encoding = _tiktoken("cl100k_base", by_model=False)
    return (lambda text: len(encoding.encode(text, disallowed_special=()))), "tiktoken cl100k_base (approximation)"


def count_tokens_for(model: str, text: str, gguf_path: str | Path | None = None) -> int:
    """Tokens in `text` as `provider:model` counts them (see TOKENIZERS).

    >>> count_tokens_for("openai:gpt-4o-mini", "How long do I have to return an item?")
    10
    """
    return tokenizer_for(model, gguf_path)[0](text)


@dataclass(frozen=True)
class Projection:
    """What a run would have cost on a hosted model. A projection, never a bill."""

    ran_on: str
    priced_as: str
    usage: Usage
    usd: float
    tokenizer: str

    @property
    def label(self) -> str:
        return (
            f"PROJECTION: a {self.ran_on} run priced as {self.priced_as} (tokens by {self.tokenizer}); not money spent"
        )


def priced_as(
    hosted_model: str, prompt: str, answer: str, *, ran_on: str = "local", prices: PriceTable | None = None
) -> Projection:
    """Price one call's texts as if `hosted_model` had read `prompt` and written `answer`.

    >>> priced_as("openai:gpt-4o-mini", "x " * 1000, "y " * 100).usd
    0.00021075
    """
    count, name = tokenizer_for(hosted_model)
    usage = Usage(count(prompt), count(answer))
    return Projection(ran_on, hosted_model, usage, (prices or PriceTable.load()).cost(hosted_model, usage), name)


# --- estimates and projections -----------------------------------------------------------------


def estimate_batch(prompts: list[str], model: str, *, output_tokens: int, prices: PriceTable | None = None) -> dict:
    """A dry run: what `prompts` would cost on `model`, each answer assumed `output_tokens` long
    (use the max_output_tokens setting for an upper bound). No call is made.

    >>> estimate_batch(["x " * 100] * 10, "openai:gpt-4o-mini", output_tokens=50)["usd"]
    0.0004515
    """
    prices = prices or PriceTable.load()
    count, tokenizer = tokenizer_for(model)
    usage = sum((Usage(count(p), output_tokens) for p in prompts), Usage())
    return {
        "model": model,
        "calls": len(prompts),
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "usd": prices.cost(model, usage),
        "tokenizer": tokenizer,
    }


def project_monthly(
    queries_per_day: float,
    usage_per_call: dict[str, Usage],
    routing: dict[str, float],
    *,
    hit_rate: float = 0.0,
    days: int = 30,
    prices: PriceTable | None = None,
):
    """Monthly cost at `queries_per_day`: a cache hit costs nothing, a miss goes to a model by
    the `routing` shares (they sum to 1), each call using `usage_per_call[model]`.

    >>> month = project_monthly(1000, {"openai:gpt-4o-mini": Usage(1000, 100)}, {"openai:gpt-4o-mini": 1.0}, hit_rate=0.5)
    >>> month.loc[0, ["calls_per_month", "usd_per_call", "usd_per_month"]].tolist()
    [15000.0, 0.00021, 3.15]
    """
    import pandas as pd

    if not math.isclose(sum(routing.values()), 1.0, abs_tol=1e-9):
        raise ConfigError(f"routing shares must sum to 1, not {sum(routing.values())}")
    if not 0 <= hit_rate <= 1:
        raise ConfigError(f"hit_rate must be between 0 and 1, not {hit_rate}")
    prices = prices or PriceTable.load()
    rows = []
    for model, share in routing.items():
        calls = queries_per_day * days * (1 - hit_rate) * share
        per_call = prices.cost(model, usage_per_call[model])
        rows.append(
            {
                "model": model,
                "share": share,
                "calls_per_month": round(calls),
                "usd_per_call": per_call,
                "usd_per_month": round(calls * per_call, 2),
            }
        )
    return pd.DataFrame(rows)


def plot_projection(
    usage_per_call: dict[str, Usage],
    routing: dict[str, float],
    *,
    hit_rates=(0.0, 0.6, 0.8),
    volumes=(100, 1_000, 10_000, 100_000, 1_000_000),
    prices: PriceTable | None = None,
    ax=None,
):
    """Monthly cost against queries per day, one line per cache hit rate (log-log)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    for rate in hit_rates:
        totals = [
            project_monthly(v, usage_per_call, routing, hit_rate=rate, prices=prices)["usd_per_month"].sum()
            for v in volumes
        ]
        ax.plot(volumes, totals, marker="o", label=f"hit rate {rate:.0%}")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="queries per day",
        ylabel="US dollars per month (projection)",
        title="Projected monthly cost",
    )
    ax.legend()
    return ax

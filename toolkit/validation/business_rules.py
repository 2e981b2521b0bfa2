"""Business rules: figures in an answer checked against the catalog and the current policies.

`BusinessRules` is a validator (see checks.py) over declarative rules kept as data (a YAML
file) and a product catalog (a CSV file; the bundled pair is `toolkit.demo.business_rules()`): a
quoted price is the catalog price of the product named, a return window or warranty is the
policy's, a date is not in the future. Rules are checked sentence by sentence; `fix` replaces a
wrong figure when exactly one value is allowed.

    >>> out = Output("What does the Hub cost?", "The Hub costs $89.", [("products/tidewell-hub.html", "Hub: $99.00")])
    >>> from toolkit.demo import business_rules
    >>> business_rules().check(out).reason
    'sentence 1 quotes $89.00, but the catalog price of the product named is $99.00'

Not here: the other validators and `Output` (checks.py), failure policies (policies.py). It does
not judge wording or meaning, only the figures its rules name.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

from ..errors import ConfigError
from .checks import Output, Report, split_sentences

__all__ = ["BusinessRules"]


_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "five": 5, "ten": 10}
_AMOUNT = re.compile(r"\$\s?(\d{1,3}(?:,\d{3})+|\d+)(\.\d{2})?")
_MONTHS = "january february march april may june july august september october november december".split()
_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b|\b(" + "|".join(_MONTHS) + r")\s+(\d{1,2}),?\s+(\d{4})\b", re.I)


def _money(match: re.Match) -> float:
    return float(match.group(1).replace(",", "") + (match.group(2) or ""))


def _skus(rule: dict, low: str) -> list[str]:
    """The SKUs of every product a (lower-cased) sentence names, by a price rule's `products`."""
    return [sku for pattern, ids in rule["products"].items() if re.search(pattern, low) for sku in ids]


class BusinessRules:
    """Declarative business rules (see `RULES_FILE`) checked sentence by sentence."""

    name = "business_rules"

    def __init__(self, rules: list[dict], catalog: dict[str, dict], today: dt.date | None = None):
        self.rules, self.catalog, self.today = rules, catalog, today or dt.date.today()
        for rule in rules:
            for skus in rule.get("products", {}).values():
                for sku in skus:
                    if sku not in catalog:
                        raise ConfigError(
                            f"business rule {rule['id']!r} names SKU {sku!r}, which is not in the "
                            f"catalog; fix the rule or add the product to products.csv"
                        )

    @classmethod
    def load(cls, rules: str | Path, catalog: str | Path, today: dt.date | None = None) -> BusinessRules:
        """Rules from a YAML file over a catalog CSV (one row per `sku`, with `price_usd` and
        `launch_price_usd`). The bundled Tidewell pair is `toolkit.demo.business_rules()`."""
        import yaml

        text = Path(rules).read_text(encoding="utf-8")
        parsed = yaml.safe_load(text)
        if not isinstance(parsed, list) or not all(isinstance(r, dict) and "id" in r and "kind" in r for r in parsed):
            raise ConfigError(f"business rules {rules}: expected a list of rules, each with an id and a kind")
        for rule in parsed:
            if rule["kind"] not in ("price", "number", "date"):
                raise ConfigError(
                    f"business rule {rule['id']!r}: unknown kind {rule['kind']!r} (price, number or date)"
                )
        with Path(catalog).open(encoding="utf-8", newline="") as f:
            rows = {row["sku"]: row for row in csv.DictReader(f)}
        return cls(parsed, rows, today)

    def _problems(self, rule: dict, sentence: str) -> list[str]:
        low = sentence.lower()
        if rule.get("unless") and re.search(rule["unless"], low):
            return []
        if rule["kind"] == "price":
            skus = _skus(rule, low)
            if not skus:
                return []
            allowed = {float(self.catalog[s]["price_usd"]) for s in skus}
            if re.search(rule["launch_words"], low):
                allowed |= {float(self.catalog[s]["launch_price_usd"]) for s in skus}
            quoted = [
                m
                for m in _AMOUNT.finditer(sentence)
                if not re.search(rule["ignore_before"], low[: m.start()])
                and not re.match(rule.get("ignore_after", "(?!)"), low[m.end() :])
                and not re.match(r"\s*(/|per |a )\s*(month|year)", low[m.end() :])
            ]
            return [
                f"quotes ${_money(m):,.2f}, but the catalog price of the product named is "
                + " or ".join(f"${p:,.2f}" for p in sorted(allowed))
                for m in quoted
                if all(abs(_money(m) - p) > 0.005 for p in allowed)
            ]
        if rule["kind"] == "number":
            out = []
            for match in re.finditer(rule["pattern"], low):
                raw = next(g for g in match.groups() if g is not None)
                value = float(_NUMBER_WORDS.get(raw, raw))
                bad = (
                    ("one_of" in rule and all(abs(value - v) > 1e-9 for v in rule["one_of"]))
                    or ("at_most" in rule and value > rule["at_most"])
                    or ("at_least" in rule and value < rule["at_least"])
                )
                if bad:
                    out.append(f"says {raw}, but {rule['reason']}")
            return out
        if not re.search(rule["when"], low):  # kind: date
            return []
        out = []
        for m in _DATE.finditer(sentence):
            try:
                date = (
                    dt.date(int(m[1]), int(m[2]), int(m[3]))
                    if m[1]
                    else dt.date(int(m[6]), _MONTHS.index(m[4].lower()) + 1, int(m[5]))
                )
            except ValueError:
                out.append(f"{m[0]} is not a real date")
                continue
            if date > self.today:
                out.append(f"gives {m[0]}, after today ({self.today.isoformat()}): {rule['reason']}")
        return out

    def check(self, output: Output) -> Report:
        for number, sentence in enumerate(split_sentences(output.answer), 1):
            for rule in self.rules:
                problems = self._problems(rule, sentence)
                if problems:
                    return Report(False, self.name, rule["id"], f"sentence {number} {problems[0]}")
        return Report(True, self.name)

    def fix(self, output: Output) -> Output | None:
        """Replace a wrong figure when the rule allows exactly one value (a price of a single
        product, a `one_of` with one entry); anything else cannot be fixed here."""
        text = output.answer
        for sentence in split_sentences(text):
            low, fixed = sentence.lower(), sentence
            for rule in self.rules:
                if not self._problems(rule, sentence):
                    continue
                if rule["kind"] == "price":
                    prices = {float(self.catalog[s]["price_usd"]) for s in _skus(rule, low)}
                    if len(prices) != 1:
                        return None
                    price = prices.pop()
                    fixed = _AMOUNT.sub(
                        # the lambda runs inside this sub() call, on this iteration's rule and price
                        lambda m: m[0] if re.search(rule["ignore_before"], low[: m.start()]) else f"${price:,.2f}",  # noqa: B023
                        fixed,
                    )
                elif rule["kind"] == "number" and len(rule.get("one_of", [])) == 1:
                    match = re.search(rule["pattern"], fixed.lower())
                    group = next(i for i, g in enumerate(match.groups(), 1) if g is not None)
                    value = rule["one_of"][0]
                    value = f"{value:.2f}" if isinstance(value, float) else str(value)
                    fixed = fixed[: match.start(group)] + value + fixed[match.end(group) :]
                else:
                    return None
            text = text.replace(sentence, fixed)
        return output.with_answer(text)

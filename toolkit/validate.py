"""Output validation: catch answers that are well formed but wrong, and decide what happens next.

Four validators, each returning one `Report` (passed, validator, rule, reason):

- `Schema(model)`: the reply parses into a pydantic model (strictly: the reply is the JSON).
- `BusinessRules`: declarative rules (YAML data, `RULES_YAML`) checked against the bundled
  catalog (`structured/products.csv`) and the current policy figures: a quoted price is the
  catalog price of the product named, a return window or warranty is the policy's, a date is
  not in the future.
- `Grounding`: every cited source was retrieved, every number in a claim sentence is in the
  context, and each claim's content words are in the context above a threshold.
- `Safety`: no API keys, no personal e-mail addresses, phone or card numbers (the company's
  published contacts are allowed), no instruction text echoed from the context.

A `Guard` runs validators in order and applies the policy of the first one that fails: "fix"
(the validator repairs the answer), "reask" (one re-ask that feeds the reason back to the model),
"escalate" (hand the item to a review queue), "refuse" (answer with a refusal) or "raise"
(`OutputRejected`). A fix or re-ask that still fails falls back to `Guard.fallback`.

    >>> out = Output("What does the Hub cost?", "The Hub costs $89.", [("products/tidewell-hub.html", "Hub: $99.00")])
    >>> BusinessRules.bundled().check(out).reason                                   # doctest: +SKIP
    'sentence 1 quotes $89.00, but the catalog price of the product named is $99.00'

Not here: LLM judges (experiments.py) and the review widget (a later notebook); the probe for
prompt injection measures the pipeline, see `injection_probe`.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Literal, Sequence

from pydantic import BaseModel, ValidationError

from .errors import ConfigError, OutputRejected
from .evaluate import is_abstention, normalize

__all__ = ["Report", "Output", "Schema", "BusinessRules", "Grounding", "Safety", "Guard", "Verdict",
           "POLICIES", "REFUSAL", "RULES_YAML", "default_validators", "load_labeled_outputs",
           "score_validators", "load_probes", "injection_probe", "injected_pipeline", "split_sentences"]

Policy = Literal["reask", "fix", "escalate", "refuse", "raise"]
POLICIES = ("reask", "fix", "escalate", "refuse", "raise")
REFUSAL = "I can't give a reliable answer to that; please contact Tidewell support."
HELD = "This answer is being checked by a person before it is shown."


@dataclass(frozen=True)
class Report:
    passed: bool
    validator: str
    rule: str = ""
    reason: str = ""


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[$])")
_DOC_ID = re.compile(r"\b[\w-]+(?:/[\w.-]+)+\.(?:md|txt|html?|pdf)\b")
_MARKER = re.compile(r"\[(\d{1,3})\]")


def split_sentences(text: str) -> list[str]:
    """Sentences of an answer (a full stop inside "$179.00" or "p.m. on" does not split).

    >>> split_sentences("It costs $179.00. Returns: 30 days.")
    ['It costs $179.00.', 'Returns: 30 days.']
    """
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


@dataclass
class Output:
    """One reply to check: the question, the raw reply, the (source id, text) context the model
    was shown, its output format, and the prompt messages (needed only to re-ask)."""

    question: str
    text: str
    context: list[tuple[str, str]] = field(default_factory=list)
    output_format: str = "text"
    messages: list | None = None

    @functools.cached_property
    def data(self) -> dict | None:
        """The reply's JSON object (found inside prose or a code fence too), or None."""
        start, end = self.text.find("{"), self.text.rfind("}")
        try:
            value = json.loads(self.text[start:end + 1]) if 0 <= start < end else None
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    @property
    def answer(self) -> str:
        """The answer text: the JSON `answer` field for JSON replies that have one, else the reply."""
        if self.output_format == "json" and self.data is not None and isinstance(self.data.get("answer"), str):
            return self.data["answer"]
        return self.text

    def citations(self) -> list[tuple[str, str | None]]:
        """(reference as written, the retrieved source id it names or None): `[n]` markers and
        JSON `sources` numbers index the context from 1; document ids are matched as written."""
        ids = [source for source, _ in self.context]
        refs: list[str] = _MARKER.findall(self.answer) + _DOC_ID.findall(self.answer)
        if self.output_format == "json" and self.data is not None and isinstance(self.data.get("sources"), list):
            refs += [str(r) for r in self.data["sources"]]
        out = []
        for ref in dict.fromkeys(refs):
            if ref.isdigit():
                out.append((f"[{ref}]", ids[int(ref) - 1] if 1 <= int(ref) <= len(ids) else None))
            else:
                out.append((ref, ref if ref in ids else None))
        return out

    @classmethod
    def from_answer(cls, answer, pipeline=None) -> Output:
        """An Output for a pipeline Answer; with the pipeline, its prompt messages too (for re-asks)."""
        context = list(getattr(answer, "context", None) or [(s.id, s.text) for s in answer.sources])
        spec, messages = getattr(pipeline, "spec", None), None
        if spec is not None:
            messages = spec.messages(answer.question, context)
        elif pipeline is not None:
            from .prompts import rag_messages

            messages = rag_messages(answer.question, context, pipeline.system_prompt)
        return cls(answer.question, answer.text, context, getattr(spec, "output_format", "text"), messages)


# --- schema ----------------------------------------------------------------------------------

class Schema:
    """The reply must be exactly one JSON object that validates against `model`."""

    name = "schema"

    def __init__(self, model: type[BaseModel]):
        self.model = model

    def check(self, output: Output) -> Report:
        try:
            self.model.model_validate_json(output.text.strip())
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"]) or "reply"
            rule = "json" if problem["type"] == "json_invalid" else "fields"
            return Report(False, self.name, rule, f"{where}: {problem['msg']}")
        return Report(True, self.name)

    def fix(self, output: Output) -> Output | None:
        """Local repair, no model call: keep the JSON object found inside prose or a code fence;
        failing that, wrap a plain-text reply as {"answer": ..., "sources": [n, ...]} when the
        model has those fields."""
        if output.data is not None:
            text = json.dumps(output.data)
            return replace(output, text=text) if text != output.text.strip() else None
        fields = set(self.model.model_fields)
        if "answer" in fields and fields <= {"answer", "sources"} and output.text.strip():
            data = {"answer": output.text.strip()}
            if "sources" in fields:
                data["sources"] = [int(n) for n in dict.fromkeys(_MARKER.findall(output.text))]
            return replace(output, text=json.dumps(data))
        return None


# --- business rules --------------------------------------------------------------------------

# The rules are data: each names what it checks, where its figure comes from, and why. Kinds:
#   price:  every $ amount in a sentence that names a product must be a catalog price of it
#           (products: regex of how answers name it -> its SKUs in products.csv);
#   number: `pattern` captures a figure, which must be one_of / at_most / at_least;
#   date:   dates in sentences matching `when` must not be after today.
# `unless` exempts sentences that speak of the past (an old price is a fact about history).
RULES_YAML = r"""
- id: catalog_price
  kind: price
  catalog: products.csv
  launch_words: '\b(launch\w*|originally|introduced|before|until|was|used to)\b'
  ignore_before: '\b(orders?( of| over)?|over|credit|shipping|up to|save|off)\s*$'
  ignore_after: '^\s*(credit|off|discount|or more|trade-in)\b'
  products:
    'thermo t2|\bt2\b|thermostat': [TW-T2-WHT, TW-T2-BLK]
    'room sensor': [TW-TRS1, TW-TRS1-2]
    'a19 colou?r|colou?r bulb': [TW-GLW-A19C, TW-GLW-A19C-4]
    'a19 white|white bulb': [TW-GLW-A19W]
    'light strip': [TW-GLW-LS2, TW-GLW-LSX1]
    'drip sentinel|leak sensor': [TW-DS1, TW-DS1-3, TW-DS-PRB]
    '\bhub\b': [TW-HUB2]
    'sentry cam|camera': [TW-CAM-OD1, TW-CAM-SOL]
    'plug mini': [TW-PLG-M, TW-PLG-M2]
- id: return_window
  kind: number
  pattern: '\breturn\w*\b[^.]*?\b(\d+)[- ]days?\b|\b(\d+)[- ]days?\b[^.]*?\breturn'
  one_of: [30]
  reason: items may be returned within 30 days of delivery (policy of 2024-03-01; 14 days was the 2022 policy)
- id: refund_time
  kind: number
  pattern: '\brefund\w*\b[^.]*?\b(\d+) business days?'
  one_of: [5]
  reason: refunds are issued within 5 business days of receipt (policy of 2024-03-01)
- id: restocking_fee
  kind: number
  pattern: '(\d+)\s*%\s*restocking|restocking fee[^.]*?(\d+)\s*%'
  at_most: 0
  reason: there is no restocking fee (policy of 2024-03-01; the 15% fee ended with the 2022 policy)
- id: warranty_length
  kind: number
  pattern: '\bwarrant\w*\b[^.]*?\b(\d+|one|two|three|five|ten)[- ]years?\b|\b(\d+|one|two|three|five|ten)[- ]years?\b[^.]*?\bwarrant'
  at_most: 2
  reason: the limited warranty is 2 years at most (devices bought on or after 2023-07-01)
- id: free_shipping_threshold
  kind: number
  pattern: '\bfree\b[^.$]*?\bshipping\b[^.]*?\$(\d+)|\bshipping is free\b[^.]*?\$(\d+)|\$(\d+)[^.]*?(?:ship\w* (?:for )?free|free (?:standard )?shipping)'
  one_of: [75]
  reason: standard shipping is free on orders of $75 or more (policy of 2024-06-01; $50 before)
- id: plus_monthly_price
  kind: number
  pattern: '\bplus\b[^.]*?\$(\d+\.\d\d)\s*(?:/|per |a )\s*month'
  one_of: [5.99]
  unless: '\b(before|until|was|launch\w*|2022|previous\w*|old)\b'
  reason: Tidewell Plus costs $5.99 a month from 2024-09-01 ($4.99 before)
- id: plus_yearly_price
  kind: number
  pattern: '\bplus\b[^.]*?\$(\d+\.\d\d)\s*(?:/|per |a )\s*year'
  one_of: [59.99]
  unless: '\b(before|until|was|launch\w*|2022|previous\w*|old)\b'
  reason: Tidewell Plus costs $59.99 a year from 2024-09-01 ($49.99 before)
- id: parental_leave
  kind: number
  pattern: '\bparental leave\b[^.]*?\b(\d+) weeks|\b(\d+) weeks\b[^.]*?\bparental leave'
  one_of: [16]
  unless: '\b(before|until|was|2021|previous\w*|old)\b'
  reason: paid parental leave is 16 weeks for children born or placed from 2024-01-01 (12 weeks before)
- id: hub_device_limit
  kind: number
  pattern: '\bhub\b[^.]*?\b(\d+) devices'
  one_of: [128]
  unless: '\b(before|until|was|4\.0|previous\w*|old|first)\b'
  reason: the Hub connects up to 128 devices since firmware 5.0.0 (64 before)
- id: home_office_stipend
  kind: number
  pattern: '\bstipend\b[^.]*?\$(\d+)|\$(\d+)[^.]*?\bstipend'
  one_of: [750, 250]
  unless: '\b(before|until|was|2021|previous\w*|old)\b'
  reason: the one-time home-office stipend is $750 (policy of 2024-04-01; $250 top-up for those who got $500)
- id: internet_allowance
  kind: number
  pattern: '\binternet (?:allowance|stipend)\b[^.]*?\$(\d+)|\$(\d+)[^.]*?\binternet (?:allowance|stipend)'
  one_of: [50]
  unless: '\b(before|until|was|2021|previous\w*|old)\b'
  reason: the internet allowance is $50 per month (policy of 2024-04-01; $30 before)
- id: thermostat_lowest_setpoint
  kind: number
  pattern: '\b(?:lowest|minimum|min\.?|down to)\b[^.]*?\b(\d+)\s*(?:degrees\s*)?f\b'
  one_of: [45]
  unless: '\b(before|until|was|3\.0|3\.1|manual|previous\w*|old)\b'
  reason: the Thermo T2 can be set as low as 45 F since firmware 3.2.0 (50 F before)
- id: date_not_future
  kind: date
  when: '\b(launch\w*|release\w*|effective|since|introduc\w*|shipped|founded|opened|announced|took effect|came out)\b'
  reason: a launch, release or effective date cannot be in the future
"""

_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "five": 5, "ten": 10}
_AMOUNT = re.compile(r"\$\s?(\d{1,3}(?:,\d{3})+|\d+)(\.\d{2})?")
_MONTHS = "january february march april may june july august september october november december".split()
_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b|\b(" + "|".join(_MONTHS) + r")\s+(\d{1,2}),?\s+(\d{4})\b", re.I)


def _money(match: re.Match) -> float:
    return float(match.group(1).replace(",", "") + (match.group(2) or ""))


class BusinessRules:
    """Declarative business rules (see `RULES_YAML`) checked sentence by sentence."""

    name = "business_rules"

    def __init__(self, rules: list[dict], catalog: dict[str, dict], today: dt.date | None = None):
        self.rules, self.catalog, self.today = rules, catalog, today or dt.date.today()
        for rule in rules:
            for skus in rule.get("products", {}).values():
                for sku in skus:
                    if sku not in catalog:
                        raise ConfigError(f"business rule {rule['id']!r} names SKU {sku!r}, which is not in the "
                                          f"catalog; fix the rule or add the product to products.csv")

    @classmethod
    def bundled(cls, today: dt.date | None = None, rules: str | Path | None = None) -> BusinessRules:
        """The bundled rules over the bundled Tidewell catalog; `rules` may name your own YAML file."""
        import yaml

        from .datasets import datasets_root

        text = Path(rules).read_text(encoding="utf-8") if rules else RULES_YAML
        parsed = yaml.safe_load(text)
        if not isinstance(parsed, list) or not all(isinstance(r, dict) and "id" in r and "kind" in r for r in parsed):
            raise ConfigError(f"business rules {rules or 'RULES_YAML'}: expected a list of rules, each with an id and a kind")
        for rule in parsed:
            if rule["kind"] not in ("price", "number", "date"):
                raise ConfigError(f"business rule {rule['id']!r}: unknown kind {rule['kind']!r} (price, number or date)")
        path = datasets_root() / "tidewell" / "structured" / "products.csv"
        with path.open(encoding="utf-8", newline="") as f:
            catalog = {row["sku"]: row for row in csv.DictReader(f)}
        return cls(parsed, catalog, today)

    def _problems(self, rule: dict, sentence: str) -> list[str]:
        low = sentence.lower()
        if rule.get("unless") and re.search(rule["unless"], low):
            return []
        if rule["kind"] == "price":
            skus = [sku for pattern, ids in rule["products"].items() if re.search(pattern, low) for sku in ids]
            if not skus:
                return []
            allowed = {float(self.catalog[s]["price_usd"]) for s in skus}
            if re.search(rule["launch_words"], low):
                allowed |= {float(self.catalog[s]["launch_price_usd"]) for s in skus}
            quoted = [m for m in _AMOUNT.finditer(sentence)
                      if not re.search(rule["ignore_before"], low[:m.start()])
                      and not re.match(rule.get("ignore_after", "(?!)"), low[m.end():])
                      and not re.match(r"\s*(/|per |a )\s*(month|year)", low[m.end():])]
            return [f"quotes ${_money(m):,.2f}, but the catalog price of the product named is "
                    + " or ".join(f"${p:,.2f}" for p in sorted(allowed))
                    for m in quoted if all(abs(_money(m) - p) > 0.005 for p in allowed)]
        if rule["kind"] == "number":
            out = []
            for match in re.finditer(rule["pattern"], low):
                raw = next(g for g in match.groups() if g is not None)
                value = float(_NUMBER_WORDS.get(raw, raw))
                bad = (("one_of" in rule and all(abs(value - v) > 1e-9 for v in rule["one_of"]))
                       or ("at_most" in rule and value > rule["at_most"])
                       or ("at_least" in rule and value < rule["at_least"]))
                if bad:
                    out.append(f"says {raw}, but {rule['reason']}")
            return out
        if not re.search(rule["when"], low):  # kind: date
            return []
        out = []
        for m in _DATE.finditer(sentence):
            try:
                date = (dt.date(int(m[1]), int(m[2]), int(m[3])) if m[1] else
                        dt.date(int(m[6]), _MONTHS.index(m[4].lower()) + 1, int(m[5])))
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
                    skus = [s for p, ids in rule["products"].items() if re.search(p, low) for s in ids]
                    prices = {float(self.catalog[s]["price_usd"]) for s in skus}
                    if len(prices) != 1:
                        return None
                    price = prices.pop()
                    fixed = _AMOUNT.sub(lambda m: m[0] if re.search(rule["ignore_before"], low[:m.start()])
                                        else f"${price:,.2f}", fixed)
                elif rule["kind"] == "number" and len(rule.get("one_of", [])) == 1:
                    match = re.search(rule["pattern"], fixed.lower())
                    group = next(i for i, g in enumerate(match.groups(), 1) if g is not None)
                    value = rule["one_of"][0]
                    value = f"{value:.2f}" if isinstance(value, float) else str(value)
                    fixed = fixed[:match.start(group)] + value + fixed[match.end(group):]
                else:
                    return None
            text = text.replace(sentence, fixed)
        if output.output_format == "json" and output.data is not None:
            return replace(output, text=json.dumps({**output.data, "answer": text}))
        return replace(output, text=text)


# --- grounding -------------------------------------------------------------------------------

_TOKEN = re.compile(r"\$?\d+(?:\.\d+)?%?|[a-z][a-z'-]*")
_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\b(?:https?://)?[\w-]+(?:\.[\w-]+)*\.(?:example|com|net|org|io)\b(?:/[\w/.-]*)?")


@functools.lru_cache(maxsize=1)
def _language():
    import Stemmer
    from llama_index.core.utils import globals_helper

    return Stemmer.Stemmer("english"), frozenset(globals_helper.stopwords)


@functools.lru_cache(maxsize=4096)
def _terms(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """(content-word stems, exact terms: numbers, e-mail and web addresses) of a text, after the
    evaluation's normalization."""
    stemmer, stop = _language()
    text = _DOC_ID.sub(" ", _MARKER.sub(" ", text))
    words, numbers = set(), {a.lower().rstrip(".") for a in _ADDRESS.findall(text)}
    for token in _TOKEN.findall(normalize(_ADDRESS.sub(" ", text))):
        if token[0].isdigit() or token[0] == "$":
            numbers.add(token.strip("$%").rstrip("0").rstrip(".") if "." in token else token.strip("$%"))
        elif token not in stop and len(token) > 1:
            words.add(stemmer.stemWord(token.strip("'-")))
    return frozenset(words), frozenset(numbers)


class Grounding:
    """Citations were retrieved; each claim sentence's exact terms (numbers, e-mail and web
    addresses) are in the context and at least `threshold` of its content words (stemmed, stop
    words out) occur in it. The question counts as context: restating it invents nothing.

    Lexical overlap rather than embedding similarity: it runs in well under a millisecond, it is
    exact about numbers (embeddings score "$199" and "$179" as near-identical), and on the labeled
    set it separates supported from invented claims (notebook 04 shows both distributions)."""

    name = "grounding"

    def __init__(self, threshold: float = 0.5):
        self.threshold = threshold

    def support(self, claim: str, context: Sequence[tuple[str, str]], question: str = "") -> float:
        """The share of the claim's content words found in the context (1.0 for no content words)."""
        words, _ = _terms(claim)
        known = frozenset().union(*(_terms(text)[0] for text in [question, *(t for _, t in context)]))
        return len(words & known) / len(words) if words else 1.0

    def check(self, output: Output) -> Report:
        for ref, source in output.citations():
            if source is None:
                return Report(False, self.name, "cited_retrieved",
                              f"cites {ref}, which is not among the {len(output.context)} retrieved sources")
        exact = frozenset().union(*(_terms(text)[1] for text in [output.question, *(t for _, t in output.context)]))
        for number, claim in enumerate(split_sentences(output.answer), 1):
            if is_abstention(claim):
                continue
            missing = sorted(_terms(claim)[1] - exact)
            if missing:
                return Report(False, self.name, "exact_terms_in_context",
                              f"sentence {number} states {', '.join(missing)}, which the context does not")
            score = self.support(claim, output.context, output.question)
            if score < self.threshold:
                return Report(False, self.name, "claim_supported",
                              f"sentence {number}: {score:.0%} of its content words are in the context "
                              f"(threshold {self.threshold:.0%})")
        return Report(True, self.name)

    def fix(self, output: Output) -> Output | None:
        """Drop the sentences that fail; None when nothing supported is left."""
        kept = [s for s in split_sentences(output.answer)
                if self.check(replace(output, text=s, output_format="text")).passed]
        if not kept:
            return None
        text = " ".join(kept)
        if output.output_format == "json" and output.data is not None:
            return replace(output, text=json.dumps({**output.data, "answer": text}))
        return replace(output, text=text)


# --- safety ----------------------------------------------------------------------------------

SECRET_PATTERNS = {  # well-known key shapes; a generic "key = long token" catches the rest
    "an OpenAI-style API key": r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}",
    "an AWS access key": r"\bAKIA[0-9A-Z]{16}\b",
    "a GitHub token": r"\bgh[pousr]_[A-Za-z0-9]{30,}",
    "a Slack token": r"\bxox[abprs]-[A-Za-z0-9-]{10,}",
    "a private key": r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
    "a key or password assignment": r"(?i)\b(?:api[_-]?key|secret|token|password)\s*[:=]\s*['\"]?[A-Za-z0-9_\-/+]{12,}",
}
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_PHONE = re.compile(r"(?<![\d-])(?:\+?1[ .-]?)?(?:\(?\d{3}\)?[ .-]?)?\d{3}[ .-]\d{4}(?![\d-])")
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
# Sentences that address the model rather than the reader.
INSTRUCTION = re.compile(
    r"ignore (?:all |any )?(?:the )?(?:previous|prior|above|earlier|other)|disregard|new instructions|"
    r"system (?:note|prompt|message|override)|you are now|\b(?:ai|assistant|chatbot|language model|llm|bot)s?\b"
    r"[^.]{0,80}\b(?:must|should|always|reply|respond|say|tell|answer|include|output|append)\b|"
    r"\b(?:reply|respond|answer) (?:only )?with\b", re.I)
# Tokens an echo gives away: codes with letters and digits, e-mail addresses and web addresses.
_TELLTALE = re.compile(r"\b(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w-]{6,}\b|[\w.+-]+@[\w-]+(?:\.[\w-]+)+|"
                       r"\b[\w-]+\.(?:example|com|net|org|io)(?:/\S*)?")
PUBLIC_CONTACTS = frozenset({  # the published company contacts (build/facts.md): not personal data
    "support@tidewell.example", "press@tidewell.example", "privacy@tidewell.example",
    "careers@tidewell.example", "accessibility@tidewell.example", "people@tidewell.example",
    "it@tidewell.example", "security@tidewell.example", "ethics@tidewell.example",
    "555-0142", "555-0187", "555-0199"})


def _luhn(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed([int(c) for c in digits])):
        total += d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2)
    return total % 10 == 0


class Safety:
    """No secrets, no personal data, no instructions echoed from the context."""

    name = "safety"

    def __init__(self, allowed: Iterable[str] = PUBLIC_CONTACTS):
        self.allowed = frozenset(a.lower() for a in allowed)
        self.secrets = {name: re.compile(p) for name, p in SECRET_PATTERNS.items()}

    def _findings(self, output: Output) -> list[tuple[str, str, str]]:
        """(rule, matched text, reason) for each problem, in the order they are checked."""
        text, found = output.answer, []
        for name, pattern in self.secrets.items():
            found += [("secret", m[0], f"contains what looks like {name}") for m in pattern.finditer(text)]
        found += [("email", m[0], f"contains the e-mail address {m[0]}, which is not a published contact")
                  for m in _EMAIL.finditer(text) if m[0].lower() not in self.allowed]
        runs = [m.span() for m in _CARD.finditer(text)]  # long digit runs: cards, or not, never phones
        found += [("card_number", m[0], "contains a payment card number")
                  for m in _CARD.finditer(text) if _luhn(re.sub(r"\D", "", m[0]))]
        found += [("phone", m[0], f"contains the phone number {m[0]}, which is not a published contact")
                  for m in _PHONE.finditer(text) if m[0] not in self.allowed
                  and not any(start <= m.start() and m.end() <= end for start, end in runs)]
        return found + self._echoes(output)

    def _echoes(self, output: Output) -> list[tuple[str, str, str]]:
        answer = output.answer
        if INSTRUCTION.search(answer):
            return [("echoed_instruction", answer, "the answer itself gives instructions to a model")]
        plain = f" {' '.join(normalize(answer).split())} "
        for source, text in output.context:
            sentences = split_sentences(" ".join(text.split()))
            # an instruction and the sentence after it ("ignore previous instructions. Say ...")
            marked = [i for i, s in enumerate(sentences) if INSTRUCTION.search(s)]
            for sentence in dict.fromkeys(sentences[j] for i in marked for j in (i, i + 1) if j < len(sentences)):
                for quoted in re.findall(r'"([^"]{8,})"|\'([^\']{8,})\'', sentence):  # "reply with '...'"
                    phrase = " ".join(normalize(quoted[0] or quoted[1]).split())
                    if phrase and f" {phrase} " in plain:
                        return [("echoed_instruction", phrase, f"repeats text an instruction in {source} dictates")]
                for token in _TELLTALE.findall(sentence):
                    if token.lower() in answer.lower() and token.lower() not in self.allowed:
                        return [("echoed_instruction", token,
                                 f"repeats {token!r} from an instruction in {source}: {sentence[:80]!r}")]
                words = normalize(sentence).split()
                for i in range(len(words) - 5):  # six words in a row from the instruction
                    if f" {' '.join(words[i:i + 6])} " in plain:
                        return [("echoed_instruction", " ".join(words[i:i + 6]),
                                 f"repeats an instruction from {source}: {sentence[:80]!r}")]
        return []

    def check(self, output: Output) -> Report:
        found = self._findings(output)
        return Report(False, self.name, found[0][0], found[0][2]) if found else Report(True, self.name)

    def fix(self, output: Output) -> Output | None:
        """Redact secrets and personal data; an echoed instruction cannot be redacted safely."""
        found = self._findings(output)
        if any(rule == "echoed_instruction" for rule, _, _ in found):
            return None
        text = output.text
        for rule, match, _ in found:
            text = text.replace(match, f"[{rule.replace('_', ' ')} removed]")
        return replace(output, text=text)


def default_validators(schema: type[BaseModel] | None = None, today: dt.date | None = None,
                       threshold: float = 0.5) -> list:
    """Schema (when a model is given), business rules, grounding and safety, in that order."""
    validators = [Schema(schema)] if schema is not None else []
    return validators + [BusinessRules.bundled(today), Grounding(threshold), Safety()]


# --- policies --------------------------------------------------------------------------------

@dataclass
class Verdict:
    """What a Guard decided: `action` is pass, fixed, reasked, escalated, refused or raised;
    `text` is what to show; `reports` are every check made, first pass first."""

    output: Output
    action: str
    text: str
    reports: list[Report] = field(default_factory=list)
    ticket: str = ""
    error: str = ""

    @property
    def passed(self) -> bool:
        return self.action in ("pass", "fixed", "reasked")

    @property
    def failed(self) -> list[Report]:
        return [r for r in self.reports if not r.passed]


class Guard:
    """Validators, each with a failure policy, applied in order.

        >>> guard = Guard([(BusinessRules.bundled(), "fix"), (Safety(), "escalate")], queue=queue)  # doctest: +SKIP
        >>> guard.check(Output("Hub price?", "The Hub costs $89.", ctx)).text                     # doctest: +SKIP
        'The Hub costs $99.00.'

    The first failing validator's policy decides. "fix" and "reask" get one attempt each (the
    bound); if the new answer fails any validator, `fallback` decides (refuse by default).
    """

    def __init__(self, checks: Sequence[tuple[object, str]], *, llm=None, queue=None,
                 fallback: str = "refuse", refusal: str = REFUSAL):
        for validator, policy in checks:
            if policy not in POLICIES:
                raise ConfigError(f"unknown policy {policy!r} for {getattr(validator, 'name', validator)}; "
                                  f"use one of {', '.join(POLICIES)}")
        if fallback not in ("escalate", "refuse", "raise"):
            raise ConfigError(f"fallback must be escalate, refuse or raise (got {fallback!r})")
        if "escalate" in [p for _, p in checks] + [fallback] and queue is None:
            raise ConfigError("an 'escalate' policy needs a review queue: Guard(..., queue=JsonlReviewQueue(path))")
        self.checks, self.llm, self.queue = list(checks), llm, queue
        self.fallback, self.refusal = fallback, refusal

    def run(self, output: Output) -> list[Report]:
        """Every validator's report, in order (no policy applied)."""
        return [validator.check(output) for validator, _ in self.checks]

    def _reask(self, output: Output, report: Report) -> Output | None:
        if self.llm is None or not output.messages:
            return None
        from llama_index.core.base.llms.types import ChatMessage

        form = "Reply with only the JSON object." if output.output_format == "json" else "Answer in one short sentence."
        messages = [*output.messages, ChatMessage(role="assistant", content=output.text),
                    ChatMessage(role="user", content=f"Your answer failed a check ({report.validator}, "
                                f"{report.rule}): {report.reason}. Answer the question again using only "
                                f"the context. {form}")]
        reply = self.llm.chat(messages).message.content or ""
        return replace(output, text=reply.strip())

    def check(self, output: Output) -> Verdict:
        """Validate one output and apply the policy of the first failing validator."""
        reports = self.run(output)
        first = next((i for i, r in enumerate(reports) if not r.passed), None)
        if first is None:
            return Verdict(output, "pass", output.answer, reports)
        validator, policy = self.checks[first]
        failure = reports[first]
        if policy in ("fix", "reask"):
            try:
                new = validator.fix(output) if policy == "fix" else self._reask(output, failure)
            except Exception as exc:  # a failed re-ask call is one more failure, not a crash
                new, failure = None, replace(failure, reason=f"{failure.reason}; {policy} failed: {exc}")
            if new is not None:
                again = self.run(new)
                reports += again
                if all(r.passed for r in again):
                    return Verdict(new, "fixed" if policy == "fix" else "reasked", new.answer, reports)
                failure = next(r for r in again if not r.passed)
                output = new
            policy = self.fallback
        if policy == "escalate":
            from .review import ReviewItem

            item = ReviewItem.new(output.question, output.answer, validator=failure.validator, rule=failure.rule,
                                  reason=failure.reason, sources=[s for s, _ in output.context])
            return Verdict(output, "escalated", HELD, reports, ticket=self.queue.submit(item))
        if policy == "refuse":
            return Verdict(output, "refused", self.refusal, reports)
        raise OutputRejected(f"{failure.validator} rejected the answer ({failure.rule}): {failure.reason}", reports)

    def check_many(self, outputs: Iterable[Output]) -> list[Verdict]:
        """Check a batch; a "raise" becomes that item's error, so the batch always finishes."""
        verdicts = []
        for output in outputs:
            try:
                verdicts.append(self.check(output))
            except OutputRejected as exc:
                verdicts.append(Verdict(output, "raised", "", exc.reports, error=str(exc)))
        return verdicts

    def ask(self, pipeline, question: str) -> Verdict:
        """Ask the pipeline, then validate its answer (re-asks go to the pipeline's own model)."""
        answer = pipeline.ask(question)
        if self.llm is None:
            self.llm = pipeline.llm
        return self.check(Output.from_answer(answer, pipeline))


# --- the labeled set and the injection probe -------------------------------------------------

def _jsonl(path: Path, fields: dict[str, type]) -> list[dict]:
    if not path.is_file():
        raise ConfigError(f"{path} does not exist; point TOOLKIT_DATASETS at a datasets folder that has it, "
                          f"or pass the file's path")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"{path}, line {number}: not valid JSON ({exc})") from exc
        for name, kind in fields.items():
            if not isinstance(row.get(name), kind):
                raise ConfigError(f"{path}, line {number}: field {name!r} must be a {kind.__name__}")
        rows.append(row)
    if not rows:
        raise ConfigError(f"{path} holds no records")
    return rows


LABEL_FIELDS = {"id": str, "question": str, "output": str, "format": str, "context": list,
                "label": str, "kind": str, "violations": list}


def load_labeled_outputs(path: str | Path | None = None):
    """The hand-labeled outputs (datasets/tidewell/eval/validation_outputs.jsonl) as a DataFrame."""
    import pandas as pd

    from .datasets import datasets_root

    path = Path(path or datasets_root() / "tidewell" / "eval" / "validation_outputs.jsonl")
    return pd.DataFrame(_jsonl(path, LABEL_FIELDS))


def _output(row) -> Output:
    return Output(row.question, row.output, [tuple(c) for c in row.context], row.format)


def score_validators(labeled, validators: Sequence | None = None):
    """Run each validator over the labeled outputs: (per-item results, per-validator precision
    and recall). A validator's positives are the items whose `violations` name it; the schema
    validator is scored on JSON items only."""
    import pandas as pd

    validators = validators or default_validators(_schema_for(labeled))
    rows = []
    for row in labeled.itertuples():
        output = _output(row)
        for validator in validators:
            if validator.name == "schema" and row.format != "json":
                continue
            report = validator.check(output)
            rows.append({"id": row.id, "kind": row.kind, "label": row.label, "validator": validator.name,
                         "expected": validator.name in row.violations, "flagged": not report.passed,
                         "rule": report.rule, "reason": report.reason})
    results = pd.DataFrame(rows)
    summary = []
    for name, group in results.groupby("validator", sort=False):
        tp = int((group.expected & group.flagged).sum())
        fp = int((~group.expected & group.flagged).sum())
        fn = int((group.expected & ~group.flagged).sum())
        summary.append({"validator": name, "items": len(group), "violations": int(group.expected.sum()),
                        "flagged": int(group.flagged.sum()), "precision": round(tp / (tp + fp), 3) if tp + fp else float("nan"),
                        "recall": round(tp / (tp + fn), 3) if tp + fn else float("nan")})
    return results, pd.DataFrame(summary).set_index("validator")


def _schema_for(labeled):
    from .prompts import CitedAnswer

    return CitedAnswer if (labeled.format == "json").any() else None


PROBE_FIELDS = {"id": str, "question": str, "document": str, "detect": str, "instruction": str}


def injected_pipeline(settings=None, **kwargs):
    """A Pipeline over a copy of the bundled corpus plus the injection documents
    (datasets/tidewell/injection/), built under the toolkit home; the bundled corpus is untouched.
    The bundled index is copied first when it exists, so only the injection documents are embedded."""
    import shutil

    from .config import load_settings
    from .datasets import datasets_root, tidewell_corpus
    from .ingest import ingest
    from .models import make_embed_model
    from .pipeline import Pipeline

    settings = settings or load_settings()
    corpus = settings.home / "corpora" / "tidewell-injected"
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.copytree(tidewell_corpus(), corpus)
    shutil.copytree(datasets_root() / "tidewell" / "injection", corpus, dirs_exist_ok=True)
    index_dir, bundled = settings.index_root / "tidewell-injected", settings.index_root / "tidewell"
    if not index_dir.exists() and (bundled / "CURRENT").exists():
        shutil.copytree(bundled, index_dir, ignore=shutil.ignore_patterns("*.lock"))
    embed_model = kwargs.pop("embed_model", None) or make_embed_model(settings)
    index, _ = ingest(corpus, index_dir, settings=settings, embed_model=embed_model, show_progress=False)
    return Pipeline(index, settings=settings, embed_model=embed_model, **kwargs)


def load_probes(path: str | Path | None = None) -> list[dict]:
    """The prompt-injection probes (datasets/tidewell/eval/injection_probes.jsonl)."""
    from .datasets import datasets_root

    probes = _jsonl(Path(path or datasets_root() / "tidewell" / "eval" / "injection_probes.jsonl"), PROBE_FIELDS)
    for probe in probes:
        try:
            re.compile(probe["detect"])
        except re.error as exc:
            raise ConfigError(f"probe {probe['id']}: detect is not a valid regular expression ({exc})") from exc
    return probes


def injection_probe(pipeline, probes: Sequence[dict], guard: Guard | None = None):
    """Ask each probe; per probe: whether the injected document was in the prompt, whether the
    answer followed the injection (its `detect` pattern matches), and, with a guard, whether a
    validator caught it (a caught answer is not shown, so it does not count as followed)."""
    import pandas as pd

    rows = []
    for probe in probes:
        answer = pipeline.ask(probe["question"], raise_errors=False)
        followed = bool(re.search(probe["detect"], answer.text, re.I))
        row = {"id": probe["id"], "question": probe["question"], "answer": answer.text,
               "injected_in_prompt": probe["document"] in [s.id for s in answer.sources],
               "followed": followed}
        if guard is not None:
            reports = guard.run(Output.from_answer(answer, pipeline))
            failed = [r for r in reports if not r.passed]
            row["caught_by"] = ", ".join(f"{r.validator}:{r.rule}" for r in failed)
            row["followed_after_validation"] = followed and not failed
        rows.append(row)
    return pd.DataFrame(rows)

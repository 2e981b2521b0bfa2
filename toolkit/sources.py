"""The source router: send each question to the documents, the SQL database, the live API, or several.

The rules are few and readable (`RULES`, or `SourceRouter().explain()` as a table). Each
looks at what the question names (order numbers, customers, products: `find_entities`)
and at a few words, and adds sources:

    order       an order number                         -> sql
    shipping    an order number and shipping words      -> api
    customer    a customer id, e-mail or full name      -> sql
    stock       a product and stock words               -> sql, api
    policy      policy words (return, warranty, ...)    -> vector
    documents   none of the structured rules fired      -> vector

`route(question)` queries the chosen sources, fuses their context (structured facts first,
then document chunks) and returns it with a `Route`: the sources, the rules that fired, each
source's seconds, and every source that failed with its error. When every structured source
fails or finds nothing, the documents are asked instead (`fallback`). The Pipeline stores the
route in its RunRecord and says in the answer which source failed:

    >>> with live_api() as service:                                          # doctest: +SKIP
    ...     pipeline = Pipeline.bundled(retriever=SourceRouter(api=LiveAPISource(service.url)))
    ...     pipeline.ask("Where is order 1288?").record.route
    ['sql', 'api']

Not here: learned routing or model tiers (routing.py routes between models, not sources).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Callable

from .errors import ToolkitError
from .sql import SQLSource

__all__ = ["Rule", "RULES", "Route", "Routed", "SourceRouter", "SOURCES", "Entities", "find_entities",
           "match_products"]

SOURCES = ("vector", "sql", "api")

# Product phrases -> SKU, checked in order; a later, more specific phrase (a pack, a colour)
# replaces the family it refines. Hand-written: no library knows Tidewell's product names.
PRODUCT_PHRASES: list[tuple[str, str]] = [
    (r"thermo(stat)?( t2)?|\bt2\b", "TW-T2-WHT"), (r"graphite|black", "TW-T2-BLK"),
    (r"room sensors?", "TW-TRS1"), (r"room sensors? 2-?pack|2-?pack of room sensors", "TW-TRS1-2"),
    (r"(glow )?(a19 )?colou?r bulbs?|glow a19 colou?r", "TW-GLW-A19C"),
    (r"colou?r bulbs? 4-?pack|4-?pack of (glow )?(a19 )?colou?r bulbs", "TW-GLW-A19C-4"),
    (r"white bulbs?|a19 white", "TW-GLW-A19W"), (r"light ?strips?", "TW-GLW-LS2"),
    (r"(light ?strip|1 ?m) extensions?", "TW-GLW-LSX1"),
    (r"drip sentinels?|leak sensors?", "TW-DS1"), (r"drip sentinel 3-?pack|3-?pack of drip sentinels?", "TW-DS1-3"),
    (r"(drip sentinel |leak )?probes?", "TW-DS-PRB"), (r"\bhubs?\b", "TW-HUB2"),
    (r"sentry cams?|cameras?", "TW-CAM-OD1"), (r"solar panels?", "TW-CAM-SOL"),
    (r"plug minis?|smart plugs?", "TW-PLG-M"), (r"plug mini 2-?pack|2-?pack of plug minis?", "TW-PLG-M2"),
]
_FAMILY = {"TW-T2-BLK": "TW-T2-WHT", "TW-TRS1-2": "TW-TRS1", "TW-GLW-A19C-4": "TW-GLW-A19C",
           "TW-GLW-LSX1": "TW-GLW-LS2", "TW-DS1-3": "TW-DS1", "TW-DS-PRB": "TW-DS1", "TW-CAM-SOL": "TW-CAM-OD1",
           "TW-PLG-M2": "TW-PLG-M"}
_SKU = re.compile(r"\bTW-[A-Z0-9]+(?:-[A-Z0-9]+)*\b", re.IGNORECASE)
_ORDER = re.compile(r"(?:\border(?:\s+(?:number|no\.?|id))?\s*#?\s*|#)(\d{3,7})\b", re.IGNORECASE)
_CUSTOMER_ID = re.compile(r"\bC\d{3}\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def match_products(question: str) -> list[str]:
    """The SKUs a question names, by SKU or by product phrase, most specific first.

    >>> match_products("How many Drip Sentinel sensors are in stock?")
    ['TW-DS1']
    >>> match_products("Is the Drip Sentinel 3-pack available?")
    ['TW-DS1-3']
    """
    explicit = [m.upper() for m in _SKU.findall(question)]
    if explicit:
        return list(dict.fromkeys(explicit))
    text = question.lower()
    found: list[str] = []
    for pattern, sku in PRODUCT_PHRASES:
        if re.search(pattern, text):
            found = [s for s in found if s != _FAMILY.get(sku)] + [sku]
    return list(dict.fromkeys(found))


@dataclass
class Entities:
    """What a question names that the structured data knows about."""

    order_ids: list[int] = field(default_factory=list)
    customer_ids: list[str] = field(default_factory=list)
    skus: list[str] = field(default_factory=list)


def find_entities(question: str, customers: list[dict] = ()) -> Entities:
    """Order numbers, customers (by id, e-mail or full name in `customers`) and SKUs.

    >>> find_entities("What is the status of order 1042?")
    Entities(order_ids=[1042], customer_ids=[], skus=[])
    """
    text = question.lower()
    found_customers = set(_CUSTOMER_ID.findall(question))
    emails = {e.lower() for e in _EMAIL.findall(question)}
    for row in customers:
        if row["email"].lower() in emails or row["name"].lower() in text:
            found_customers.add(row["customer_id"])
    return Entities([int(n) for n in dict.fromkeys(_ORDER.findall(question))], sorted(found_customers),
                    match_products(question))


SHIPPING_WORDS = re.compile(r"\b(ship(ped|ping|ment)?|track(ing)?|deliver(ed|y)?|arriv(e|es|ed|al)|carrier|"
                            r"where is|in transit|dispatched)\b", re.IGNORECASE)
# "available in" asks about colours or sizes (q010 of the eval set), not stock
STOCK_WORDS = re.compile(r"\b(in stock|stock|inventory|available(?!\s+in\b)|availability|sold out|units left|"
                         r"left in stock|how many .* (left|have you got|do you have))\b", re.IGNORECASE)
POLICY_WORDS = re.compile(r"\b(return(s|ed)?|refund(s|ed)?|warrant(y|ies)|policy|price match|exchange|"
                          r"free shipping|restocking|cancel(l?ation)?)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Rule:
    name: str
    when: str                     # the condition in words, for explain()
    sources: tuple[str, ...]
    applies: Callable[[str, Entities], bool]


RULES: list[Rule] = [
    Rule("order", "names an order number", ("sql",), lambda q, e: bool(e.order_ids)),
    Rule("shipping", "names an order number and uses shipping words (ship, track, deliver, arrive, where is)",
         ("api",), lambda q, e: bool(e.order_ids and SHIPPING_WORDS.search(q))),
    Rule("customer", "names a customer (id such as C017, e-mail, or full name)", ("sql",),
         lambda q, e: bool(e.customer_ids)),
    Rule("stock", "names a product and uses stock words (in stock, available, inventory, sold out)",
         ("sql", "api"), lambda q, e: bool(e.skus and STOCK_WORDS.search(q))),
    Rule("policy", "uses policy words (return, refund, warranty, policy, free shipping, cancel)", ("vector",),
         lambda q, e: bool(POLICY_WORDS.search(q))),
]
DOCUMENTS = Rule("documents", "no structured rule fired: the documents answer it", ("vector",), lambda q, e: True)


@dataclass
class Route:
    """What the router decided for one question, and what happened."""

    sources: list[str]
    rules: list[str]
    entities: Entities
    failed: dict[str, str] = field(default_factory=dict)   # source -> error
    seconds: dict[str, float] = field(default_factory=dict)
    fallback: bool = False    # the structured sources gave nothing, so the documents were asked


@dataclass
class Routed:
    nodes: list          # LlamaIndex NodeWithScore, structured facts first
    route: Route


class SourceRouter:
    """Chooses sources per question with `rules`, queries them, fuses their context.

    `vector` is any retriever with `.retrieve(question)` (a Pipeline fills in its own when
    left None); `sql` defaults to the bundled database; `api` is a LiveAPISource, or None
    when no live service runs (questions that need it then record the API as failed).

    >>> router = SourceRouter()                                          # doctest: +SKIP
    >>> router.decide("How many Drip Sentinel sensors are in stock?")[0]  # doctest: +SKIP
    ['sql', 'api']
    """

    def __init__(self, vector=None, sql: SQLSource | None = None, api=None, rules: list[Rule] | None = None):
        self.vector, self.api = vector, api
        self.rules = list(RULES if rules is None else rules)
        self._sql, self._sql_error = sql, ""

    @property
    def sql(self) -> SQLSource | None:
        if self._sql is None and not self._sql_error:
            try:
                self._sql = SQLSource()
            except ToolkitError as exc:  # no database: a failed source, not a failed question
                self._sql_error = str(exc)
        return self._sql

    def explain(self):
        """The rules as a DataFrame: name, condition, sources."""
        import pandas as pd

        return pd.DataFrame([{"rule": r.name, "when": r.when, "sources": ", ".join(r.sources)}
                             for r in [*self.rules, DOCUMENTS]])

    def decide(self, question: str) -> tuple[list[str], list[str], Entities]:
        """(sources in order, rules that fired, entities found), without querying any source."""
        entities = find_entities(question, self.sql.customers() if self.sql else ())
        fired = [rule for rule in self.rules if rule.applies(question, entities)]
        if not fired:
            fired = [DOCUMENTS]
        sources = [s for s in SOURCES[1:] + SOURCES[:1] if any(s in rule.sources for rule in fired)]
        return sources, [rule.name for rule in fired], entities

    def _structured(self, name: str, entities: Entities, rules: list[str]) -> list:
        source = self.sql if name == "sql" else self.api
        if source is None:
            raise ToolkitError(self._sql_error if name == "sql" else
                               "no live API is configured; pass api=LiveAPISource(url), see toolkit.liveapi")
        if name == "sql":
            nodes = [source.order(n) for n in entities.order_ids]
            nodes += [source.customer_orders(c) for c in entities.customer_ids]
        else:
            nodes = [source.shipping(n) for n in entities.order_ids] if "shipping" in rules else []
        if "stock" in rules:
            nodes += [source.stock(sku) for sku in entities.skus]
        return nodes

    def route(self, question: str) -> Routed:
        """Query the chosen sources; a source that fails is recorded and the others still answer."""
        from llama_index.core.schema import NodeWithScore

        sources, rules, entities = self.decide(question)
        route = Route(sources, rules, entities)
        structured: list = []
        for name in [s for s in sources if s != "vector"]:
            started = time.perf_counter()
            try:
                structured += [NodeWithScore(node=n, score=1.0)
                               for n in self._structured(name, entities, rules)]
            except Exception as exc:  # any failure of one source must not sink the others
                route.failed[name] = f"{type(exc).__name__}: {exc}"
            route.seconds[name] = round(time.perf_counter() - started, 4)
        if "vector" not in sources and not structured:
            route.fallback = True
            route.sources.append("vector")
        hits: list = []
        if "vector" in route.sources:
            if self.vector is None:
                raise ToolkitError("the router has no vector retriever; pass vector=... or give it to a Pipeline")
            started = time.perf_counter()
            hits = list(self.vector.retrieve(question))
            route.seconds["vector"] = round(time.perf_counter() - started, 4)
        seen: set[str] = set()
        fused = [h for h in structured + hits if not (h.node.node_id in seen or seen.add(h.node.node_id))]
        return Routed(fused, route)

    def retrieve(self, question: str) -> list:
        """The fused context only, as a LlamaIndex-style retriever would return it."""
        return self.route(question).nodes

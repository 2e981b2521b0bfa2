"""The bundled router: which Tidewell questions go to the order database, the live service, the
documents, or several, by the rules in `RULES`.

Each rule looks at what the question names (order numbers, customers, products:
`find_entities`) and at a few words, and adds sources:

    order       an order number                         -> sql
    shipping    an order number and shipping words      -> api
    customer    a customer id, e-mail or full name      -> sql
    stock       a product and stock words               -> sql, api
    policy      policy words (return, warranty, ...)    -> vector
    documents   none of the structured rules fired      -> vector

`tidewell_router()` puts them in a toolkit.retrieval.router.SourceRouter over the bundled SQL
source (structured.py) and, when given one, the live service's client (services.py):

    >>> tidewell_router().decide("How many Drip Sentinel sensors are in stock?")[:2]   # doctest: +SKIP
    (['sql', 'api'], ['stock'])
    >>> with live_api() as service:                                                     # doctest: +SKIP
    ...     pipeline = Pipeline.bundled(retriever=tidewell_router(api=LiveAPISource(service.url)))
    ...     pipeline.ask("Where is order 1288?").record.route
    ['sql', 'api']

Not here: routing itself (toolkit.retrieval.router) or the sources' lookups (structured.py,
services.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import ToolkitError
from ..retrieval.router import MissingSource, Rule, SourceRouter
from .structured import SQLSource

__all__ = [
    "Entities",
    "find_entities",
    "match_products",
    "PRODUCT_PHRASES",
    "SHIPPING_WORDS",
    "STOCK_WORDS",
    "POLICY_WORDS",
    "RULES",
    "NO_LIVE_API",
    "tidewell_router",
]

# Product phrases -> SKU, checked in order; a later, more specific phrase (a pack, a colour)
# replaces the family it refines. Hand-written: no library knows Tidewell's product names.
PRODUCT_PHRASES: list[tuple[str, str]] = [
    (r"thermo(stat)?( t2)?|\bt2\b", "TW-T2-WHT"),
    (r"graphite|black", "TW-T2-BLK"),
    (r"room sensors?", "TW-TRS1"),
    (r"room sensors? 2-?pack|2-?pack of room sensors", "TW-TRS1-2"),
    (r"(glow )?(a19 )?colou?r bulbs?|glow a19 colou?r", "TW-GLW-A19C"),
    (r"colou?r bulbs? 4-?pack|4-?pack of (glow )?(a19 )?colou?r bulbs", "TW-GLW-A19C-4"),
    (r"white bulbs?|a19 white", "TW-GLW-A19W"),
    (r"light ?strips?", "TW-GLW-LS2"),
    (r"(light ?strip|1 ?m) extensions?", "TW-GLW-LSX1"),
    (r"drip sentinels?|leak sensors?", "TW-DS1"),
    (r"drip sentinel 3-?pack|3-?pack of drip sentinels?", "TW-DS1-3"),
    (r"(drip sentinel |leak )?probes?", "TW-DS-PRB"),
    (r"\bhubs?\b", "TW-HUB2"),
    (r"sentry cams?|cameras?", "TW-CAM-OD1"),
    (r"solar panels?", "TW-CAM-SOL"),
    (r"plug minis?|smart plugs?", "TW-PLG-M"),
    (r"plug mini 2-?pack|2-?pack of plug minis?", "TW-PLG-M2"),
]
_FAMILY = {
    "TW-T2-BLK": "TW-T2-WHT",
    "TW-TRS1-2": "TW-TRS1",
    "TW-GLW-A19C-4": "TW-GLW-A19C",
    "TW-GLW-LSX1": "TW-GLW-LS2",
    "TW-DS1-3": "TW-DS1",
    "TW-DS-PRB": "TW-DS1",
    "TW-CAM-SOL": "TW-CAM-OD1",
    "TW-PLG-M2": "TW-PLG-M",
}
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
    return Entities(
        [int(n) for n in dict.fromkeys(_ORDER.findall(question))], sorted(found_customers), match_products(question)
    )


SHIPPING_WORDS = re.compile(
    r"\b(ship(ped|ping|ment)?|track(ing)?|deliver(ed|y)?|arriv(e|es|ed|al)|carrier|"
    r"where is|in transit|dispatched)\b",
    re.IGNORECASE,
)
# "available in" asks about colours or sizes (q010 of the eval set), not stock
STOCK_WORDS = re.compile(
    r"\b(in stock|stock|inventory|available(?!\s+in\b)|availability|sold out|units left|"
    r"left in stock|how many .* (left|have you got|do you have))\b",
    re.IGNORECASE,
)
POLICY_WORDS = re.compile(
    r"\b(return(s|ed)?|refund(s|ed)?|warrant(y|ies)|policy|price match|exchange|"
    r"free shipping|restocking|cancel(l?ation)?)\b",
    re.IGNORECASE,
)

RULES: list[Rule] = [
    Rule("order", "names an order number", ("sql",), lambda q, e: bool(e.order_ids)),
    Rule(
        "shipping",
        "names an order number and uses shipping words (ship, track, deliver, arrive, where is)",
        ("api",),
        lambda q, e: bool(e.order_ids and SHIPPING_WORDS.search(q)),
    ),
    Rule(
        "customer",
        "names a customer (id such as C017, e-mail, or full name)",
        ("sql",),
        lambda q, e: bool(e.customer_ids),
    ),
    Rule(
        "stock",
        "names a product and uses stock words (in stock, available, inventory, sold out)",
        ("sql", "api"),
        lambda q, e: bool(e.skus and STOCK_WORDS.search(q)),
    ),
    Rule(
        "policy",
        "uses policy words (return, refund, warranty, policy, free shipping, cancel)",
        ("vector",),
        lambda q, e: bool(POLICY_WORDS.search(q)),
    ),
]

NO_LIVE_API = "no live API is configured; pass api=LiveAPISource(url), see toolkit.demo.services"


def tidewell_router(api=None, vector=None, sql=None, rules: list[Rule] | None = None) -> SourceRouter:
    """A SourceRouter over the bundled SQL source and the live service, with the Tidewell `RULES`.

    `sql` defaults to the bundled database (a missing one is a failed source, not a failed
    question); `api` is a services.LiveAPISource, or None when no live service runs (questions
    that need it then record the API as failed); `vector` as for SourceRouter. `rules` replaces
    `RULES`, to try a rule of your own.
    """
    if sql is None:
        try:
            sql = SQLSource()
        except ToolkitError as exc:  # no database: a failed source, not a failed question
            sql = MissingSource(str(exc))

    def entities(question: str) -> Entities:
        # Customers are named by name or e-mail, so the finder needs the customer list; a database
        # that fails here fails again in its own lookup, where the route records it.
        try:
            customers = sql.customers() if hasattr(sql, "customers") else ()
        except ToolkitError:
            customers = ()
        return find_entities(question, customers)

    sources = {"sql": sql, "api": api if api is not None else MissingSource(NO_LIVE_API)}
    return SourceRouter(vector=vector, sources=sources, rules=RULES if rules is None else rules, find_entities=entities)

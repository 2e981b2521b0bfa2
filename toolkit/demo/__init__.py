"""Everything specific to the bundled Tidewell Home data: its corpus and questions, its business
rules and published contacts, its structured data and loopback service, and the router between them.

    >>> tidewell_corpus().name
    'corpus'

The library never reads from here for a default; notebooks and tests pass these values in.
"""

from .datasets import (
    datasets_root,
    load_questions,
    read_jsonl,
    tidewell_corpus,
    tidewell_customer_questions,
    tidewell_questions,
)
from .routing import Entities, find_entities, match_products, tidewell_router
from .services import LiveAPISource, LiveService, live_api, load_live_data
from .structured import SQLSource, build_database, structured_dir
from .tidewell import PUBLIC_CONTACTS, REFUSAL, business_rules, validators

__all__ = [
    "datasets_root",
    "tidewell_corpus",
    "tidewell_questions",
    "tidewell_customer_questions",
    "load_questions",
    "read_jsonl",
    "PUBLIC_CONTACTS",
    "REFUSAL",
    "business_rules",
    "validators",
    "SQLSource",
    "build_database",
    "structured_dir",
    "LiveAPISource",
    "LiveService",
    "live_api",
    "load_live_data",
    "tidewell_router",
    "find_entities",
    "match_products",
    "Entities",
]

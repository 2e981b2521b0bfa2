"""Validation: checks that catch answers that are well formed but wrong, the policies that act on
a failure, and the review queue a person works.

    >>> Safety().check(Output("Who?", "Mail jane.doe@gmail.com.")).rule
    'email'

Not here: measuring validators on labeled outputs (toolkit.evaluation.validators).
"""

from .business_rules import BusinessRules
from .checks import Grounding, Output, Report, Safety, Schema, content_terms, split_sentences
from .defaults import default_validators
from .policies import HELD, POLICIES, REFUSAL, Guard, Verdict
from .review import ReviewItem, ReviewQueue, SqliteReviewQueue, load_cases
from .review_postgres import PostgresReviewQueue, review_queue

__all__ = [
    "Output",
    "Report",
    "Schema",
    "Grounding",
    "Safety",
    "BusinessRules",
    "default_validators",
    "Guard",
    "Verdict",
    "POLICIES",
    "REFUSAL",
    "HELD",
    "SqliteReviewQueue",
    "PostgresReviewQueue",
    "review_queue",
    "load_cases",
    "ReviewQueue",
    "ReviewItem",
    "split_sentences",
    "content_terms",
]

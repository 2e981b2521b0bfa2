"""What makes two questions the same question to the response cache: its keys.

`normalize` folds case, width, quotes and spacing; `guard_terms` names the words two questions
must share before a semantic match may count (numbers and ids, negations, comparison words and
given entity names: embeddings alone call "free over $50" and "free under $50" the same
question). The fingerprints name what decides an answer: the prompt version, the model and its
parameters, the retrieved context and the corpus. A `CacheRequest` bundles them into an exact
key; a `CachedAnswer` is what the cache stores.

    >>> normalize("  How LONG do I have to  return an item?? ")
    'how long do i have to return an item'

Not here: storing or finding answers (cache.py) and calling the model (pipeline_cache.py).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "CacheRequest",
    "CachedAnswer",
    "normalize",
    "guard_terms",
    "digest",
    "prompt_version",
    "model_params",
    "context_fingerprint",
    "corpus_fingerprint",
]

# Words that flip or shift a question's meaning while barely moving its embedding.
NEGATIONS = {"not", "no", "never", "without", "unopened", "exclude", "excludes", "cannot", "nothing", "none"}
CONTRASTS = {
    "over",
    "under",
    "above",
    "below",
    "more",
    "less",
    "before",
    "after",
    "within",
    "min",
    "max",
    "minimum",
    "maximum",
    "lowest",
    "highest",
    "longer",
    "shorter",
    "least",
    "most",
    "first",
    "last",
    "monthly",
    "yearly",
    "annual",
    "standard",
    "express",
    "heating",
    "cooling",
    "on",
    "off",
    "add",
    "remove",
    "pair",
    "unpair",
    "cancel",
    "subscribe",
    "return",
    "exchange",
    "refund",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "saturdays",
    "sunday",
    "sundays",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "ceo",
    "cto",
    "cfo",
    "color",
    "white",
    "launch",
}
NUMBER_WORDS = {
    w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())
}
_WORD = re.compile(r"[a-z0-9$][a-z0-9$.,'/-]*[a-z0-9]|[a-z0-9$]")


def normalize(question: str) -> str:
    """Case, width, quotes and spacing folded; end punctuation dropped.

    >>> normalize("  How LONG do I have to  return an item?? ")
    'how long do i have to return an item'
    """
    text = unicodedata.normalize("NFKC", question).casefold().replace("\u2019", "'")
    return re.sub(r"\s+", " ", text).strip(" ?!.")


def guard_terms(question: str, entities: Iterable[str] = ()) -> frozenset[str]:
    """The terms two questions must share to be the same question: tokens with digits (prices,
    ids, versions), negations ("n't" counts), contrast words, and the given entity names.

    >>> sorted(guard_terms("Is shipping free over $50?"))
    ['$50', 'over']
    """
    text = normalize(question)
    words = [NUMBER_WORDS.get(w, w) for w in _WORD.findall(text)]
    terms = {w.rstrip(".,") for w in words if any(c.isdigit() for c in w)}
    terms |= {w for w in words if w in NEGATIONS or w in CONTRASTS}
    terms |= {"not" for w in words if w.endswith("n't")}
    terms |= {e.casefold() for e in entities if re.search(rf"\b{re.escape(e.casefold())}\b", text)}
    return frozenset(terms)


def digest(*parts) -> str:
    """A SHA-256 hex digest of JSON-encoded parts."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def prompt_version(system_prompt: str, template: str = "rag_messages/1") -> str:
    """A short hash naming the prompt: any change to the instructions or the template changes it."""
    return digest(system_prompt, template)[:12]


def model_params(llm) -> dict:
    """The generation parameters of a LlamaIndex LLM that change its output."""
    names = ("temperature", "max_tokens", "seed", "stop", "top_p", "top_k", "min_similarity", "model_path", "model")
    return {n: getattr(llm, n) for n in names if isinstance(getattr(llm, n, None), (int, float, str, list))}


def context_fingerprint(context: Iterable[tuple[str, str]]) -> str:
    """The retrieved context, as the model saw it: (source id, text) pairs in order."""
    return digest([[source, text] for source, text in context])[:32]


def corpus_fingerprint(files: dict[str, str]) -> str:
    """The corpus as an index manifest lists it: document id -> SHA-256 of its bytes."""
    return digest(sorted(files.items()))[:32]


@dataclass(frozen=True)
class CacheRequest:
    """Everything that decides an answer. `files` is the corpus (doc id -> file SHA-256)."""

    question: str
    prompt_version: str
    model: str
    params: dict
    context_fp: str
    files: dict = field(default_factory=dict, hash=False)
    sources: tuple[str, ...] = ()

    @property
    def normalized(self) -> str:
        return normalize(self.question)

    @property
    def key(self) -> str:
        return digest(self.normalized, self.prompt_version, self.model, self.params, self.context_fp)

    @property
    def prefix(self) -> str:
        return digest(self.prompt_version, self.model, self.params)[:32]

    @property
    def corpus(self) -> str:
        return corpus_fingerprint(self.files)


@dataclass
class CachedAnswer:
    """An answer as stored: its text, what producing it cost, and where it came from."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    sources: list[str] = field(default_factory=list)
    question: str = ""  # the question it was first asked as
    score: float = 1.0  # cosine to the asking question (1.0 for exact hits)

"""What makes two questions the same question to the response cache: its keys.

`normalize` folds case, width, quotes and spacing; `wording_conflict` says why two questions
whose embeddings are close must still not share an answer: their guard terms differ (numbers and
ids, negations, comparison words, given entity names: embeddings alone call "free over $50" and
"free under $50" the same question), a content word was replaced by another, or the words they
share come in another order (swapped roles). The fingerprints name what decides an answer: the prompt version, the model and its
parameters, the retrieved context and the corpus. A `CacheRequest` bundles them into an exact
key; a `CachedAnswer` is what the cache stores.

    >>> normalize("  How LONG do I have to  return an item?? ")
    'how long do i have to return an item'

Not here: storing or finding answers (cache.py) and calling the model (pipeline_cache.py).
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "CacheRequest",
    "CachedAnswer",
    "normalize",
    "guard_terms",
    "content_words",
    "wording_conflict",
    "digest",
    "prompt_version",
    "model_params",
    "context_fingerprint",
    "corpus_fingerprint",
]

# The guard: general-English words whose presence flips or shifts a question's meaning while
# barely moving its embedding. Two questions must carry the same set of them. Each class is a
# closed class of English function words, not words of one corpus:
# - negations (and "n't"): "does the plug work" / "does the plug not work";
NEGATIONS = {"not", "no", "never", "without", "cannot", "nothing", "none", "nobody", "nowhere", "neither", "nor"}
# - comparison words: the comparatives and superlatives of quantity, and the prepositions that set
#   a bound on a number or a date ("free over $50" / "free under $50", "before" / "after July").
COMPARISONS = {
    "more",
    "less",
    "fewer",
    "most",
    "least",
    "over",
    "under",
    "above",
    "below",
    "before",
    "after",
    "within",
}
# - numbers: any token with a digit (prices, ids, versions, dates), and number words as digits.
NUMBER_WORDS = {
    w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())
}
# Particles that complete a verb ("turn on" / "turn off", "sign in" / "sign out") count as content
# words below, although stop-word lists drop them.
PARTICLES = {"on", "off", "in", "out", "up", "down"}
# Chat noise that a stop-word list does not know; it never changes what is asked.
GREETINGS = {"hi", "hey", "hello", "thanks", "thank", "please"}
_CONTRACTED = {"ca": "can", "wo": "will", "sha": "shall"}  # can't, won't, shan't without their "n't"
_WORD = re.compile(r"[a-z0-9$][a-z0-9$.,'/-]*[a-z0-9]|[a-z0-9$]")


def normalize(question: str) -> str:
    """Case, width, quotes and spacing folded; end punctuation dropped.

    >>> normalize("  How LONG do I have to  return an item?? ")
    'how long do i have to return an item'
    """
    text = unicodedata.normalize("NFKC", question).casefold().replace("\u2019", "'")
    return re.sub(r"\s+", " ", text).strip(" ?!.")


def _words(question: str) -> list[str]:
    return [NUMBER_WORDS.get(w, w).rstrip(".,") for w in _WORD.findall(normalize(question))]


def guard_terms(question: str, entities: Iterable[str] = ()) -> frozenset[str]:
    """The terms two questions must share to be the same question: tokens with digits (prices,
    ids, versions), negations ("n't" counts), comparison words, and the given entity names.

    >>> sorted(guard_terms("Is shipping free over $50?"))
    ['$50', 'over']
    """
    text = normalize(question)
    words = _words(question)
    terms = {w for w in words if any(c.isdigit() for c in w)}
    terms |= {w for w in words if w in NEGATIONS or w in COMPARISONS}
    terms |= {"not" for w in words if w.endswith("n't")}
    terms |= {e.casefold() for e in entities if re.search(rf"\b{re.escape(e.casefold())}\b", text)}
    return frozenset(terms)


@functools.cache
def _stop_words() -> frozenset[str]:
    """NLTK's English stop words (LlamaIndex ships them), less the particles, plus greetings."""
    from llama_index.core.utils import globals_helper

    return frozenset(globals_helper.stopwords) - PARTICLES | GREETINGS


@functools.cache
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def content_words(question: str) -> list[str]:
    """The question's content words in order, stemmed: stop words, guard words and greetings
    dropped, possessives folded ("hub's" is "hub"), numbers kept.

    >>> content_words("Hi, how do I turn off the hub's LEDs?")
    ['turn', 'off', 'hub', 'led']
    """
    stop = _stop_words() | NEGATIONS | COMPARISONS
    words = []
    for w in _words(question):
        w = w.removesuffix("'s").removesuffix("n't")
        w = _CONTRACTED.get(w, w)
        if w and w not in stop:
            words.append(w if any(c.isdigit() for c in w) else _stemmer().stemWord(w))
    return words


def wording_conflict(stored: str, asked: str, entities: Iterable[str] = ()) -> str:
    """Why `asked` must not be served `stored`'s answer although their embeddings are close, or ""
    when nothing in the wording forbids it. Three checks, each blind spot of an embedding:

    1. the guard terms differ (a number, a negation, a comparison word, a given entity name);
    2. a content word was replaced by another ("heating" / "cooling", "pair" / "unpair"); words
       only added or only dropped on one side are left to the embedding ("hi, ...", "... thanks");
    3. the content words both share come in another order: swapped roles ("flights from Oslo to
       Rome" / "from Rome to Oslo") are the same words in a different order.

    >>> wording_conflict("Is shipping free over $50?", "Is shipping free under $50?")
    "guard terms differ: 'over' / 'under'"
    >>> wording_conflict("How do I turn on Vacation Mode?", "How do I turn off Vacation Mode?")
    "words replaced: 'on' / 'off'"
    >>> wording_conflict("Who did Ana hire after Ben?", "Who did Ben hire after Ana?")
    "same words in another order: 'ana hire ben' / 'ben hire ana'"
    >>> wording_conflict("How long do I have to return an item?", "hi, how long do I have to return an item?")
    ''
    """
    ours, theirs = guard_terms(stored, entities), guard_terms(asked, entities)
    if ours != theirs:
        return f"guard terms differ: {_show(ours - theirs)} / {_show(theirs - ours)}"
    a, b = content_words(stored), content_words(asked)
    only_a, only_b = Counter(a) - Counter(b), Counter(b) - Counter(a)
    if only_a and only_b:
        return f"words replaced: {_show(only_a)} / {_show(only_b)}"
    shared_a, shared_b = _keep(a, Counter(a) - only_a), _keep(b, Counter(b) - only_b)
    if difflib.SequenceMatcher(None, shared_a, shared_b, autojunk=False).ratio() < 1.0:
        return f"same words in another order: {_show(shared_a)} / {_show(shared_b)}"
    return ""


def _keep(words: list[str], counts: Counter) -> list[str]:
    """`words` in order, keeping at most counts[w] of each."""
    counts, kept = Counter(counts), []
    for w in words:
        if counts[w] > 0:
            kept.append(w)
            counts[w] -= 1
    return kept


def _show(words) -> str:
    words = sorted(words.elements() if isinstance(words, Counter) else words) if not isinstance(words, list) else words
    return "'" + " ".join(words) + "'" if words else "-"


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

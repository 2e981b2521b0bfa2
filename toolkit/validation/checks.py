"""Output validators: catch answers that are well formed but wrong.

A validator has a `name`, `check(output) -> Report` (passed, validator, rule, reason) and
`fix(output) -> Output | None` (a local repair, no model call). Here:

- `Output`: one reply to check (question, reply text, retrieved context, output format).
- `Schema(model)`: the reply parses into a pydantic model (strictly: the reply is the JSON).
- `Grounding`: every cited source was retrieved, every number in a claim sentence is in the
  context, and each claim's content words are in the context above a threshold.
- `Safety`: no API keys, no personal e-mail addresses, phone or card numbers (the company's
  published contacts passed as `allowed` are fine), no instruction text echoed from the context.

    >>> out = Output("What does the Hub cost?", "The Hub costs $89.", [("products/tidewell-hub.html", "Hub: $99.00")])
    >>> Grounding().check(out).rule
    'exact_terms_in_context'

Not here: what happens when a check fails (`policies.py`: Guard and its policies), the catalog and
policy rules (`business_rules.py`), measuring validators on the labeled set and the prompt-injection
probe (`evaluation/validators.py`), LLM judges (`evaluation/judge.py`) and the review queue (`review.py`).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from pydantic import BaseModel, ValidationError

from ..text import is_abstention, normalize

__all__ = [
    "Report",
    "Output",
    "Schema",
    "Grounding",
    "Safety",
    "split_sentences",
    "content_terms",
    "INSTRUCTION",
    "SECRET_PATTERNS",
]


@dataclass(frozen=True)
class Report:
    """One validator's finding on one output: `rule` and `reason` say what failed (empty on a pass)."""

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
            value = json.loads(self.text[start : end + 1]) if 0 <= start < end else None
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    @property
    def answer(self) -> str:
        """The answer text: the JSON `answer` field for JSON replies that have one, else the reply."""
        if self.output_format == "json" and self.data is not None and isinstance(self.data.get("answer"), str):
            return self.data["answer"]
        return self.text

    def with_answer(self, text: str) -> Output:
        """A copy whose answer is `text`: inside the JSON object for JSON replies, else the reply."""
        if self.output_format == "json" and self.data is not None:
            return replace(self, text=json.dumps({**self.data, "answer": text}))
        return replace(self, text=text)

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
        spec = getattr(pipeline, "spec", None)
        messages = spec.messages(answer.question, context) if spec is not None else None
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


# --- grounding -------------------------------------------------------------------------------

_TOKEN = re.compile(r"\$?\d+(?:\.\d+)?%?|[a-z][a-z'-]*")
_ADDRESS = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\b(?:https?://)?[\w-]+(?:\.[\w-]+)*\.(?:example|com|net|org|io)\b(?:/[\w/.-]*)?"
)


@functools.lru_cache(maxsize=1)
def _language():
    import Stemmer
    from llama_index.core.utils import globals_helper

    return Stemmer.Stemmer("english"), frozenset(globals_helper.stopwords)


@functools.lru_cache(maxsize=4096)
def content_terms(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """(content-word stems without stop words, exact terms: numbers, e-mail and web addresses) of
    a text, after the evaluation's normalization: what grounding compares.

    >>> [sorted(terms) for terms in content_terms("You can return it within 30 days.")]
    [['day', 'return', 'within'], ['30']]
    """
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
        words, _ = content_terms(claim)
        known = frozenset().union(*(content_terms(text)[0] for text in [question, *(t for _, t in context)]))
        return len(words & known) / len(words) if words else 1.0

    def check(self, output: Output) -> Report:
        for ref, source in output.citations():
            if source is None:
                return Report(
                    False,
                    self.name,
                    "cited_retrieved",
                    f"cites {ref}, which is not among the {len(output.context)} retrieved sources",
                )
        exact = frozenset().union(
            *(content_terms(text)[1] for text in [output.question, *(t for _, t in output.context)])
        )
        for number, claim in enumerate(split_sentences(output.answer), 1):
            if is_abstention(claim):
                continue
            missing = sorted(content_terms(claim)[1] - exact)
            if missing:
                return Report(
                    False,
                    self.name,
                    "exact_terms_in_context",
                    f"sentence {number} states {', '.join(missing)}, which the context does not",
                )
            score = self.support(claim, output.context, output.question)
            if score < self.threshold:
                return Report(
                    False,
                    self.name,
                    "claim_supported",
                    f"sentence {number}: {score:.0%} of its content words are in the context "
                    f"(threshold {self.threshold:.0%})",
                )
        return Report(True, self.name)

    def fix(self, output: Output) -> Output | None:
        """Drop the sentences that fail; None when nothing supported is left."""
        kept = [
            s
            for s in split_sentences(output.answer)
            if self.check(replace(output, text=s, output_format="text")).passed
        ]
        if not kept:
            return None
        text = " ".join(kept)
        return output.with_answer(text)


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
    r"\b(?:reply|respond|answer) (?:only )?with\b",
    re.I,
)
# Tokens an echo gives away: codes with letters and digits, e-mail addresses and web addresses.
_TELLTALE = re.compile(
    r"\b(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w-]{6,}\b|[\w.+-]+@[\w-]+(?:\.[\w-]+)+|"
    r"\b[\w-]+\.(?:example|com|net|org|io)(?:/\S*)?"
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed([int(c) for c in digits])):
        total += d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2)
    return total % 10 == 0


class Safety:
    """No secrets, no personal data, no instructions echoed from the context."""

    name = "safety"

    def __init__(self, allowed: Iterable[str] = ()):
        """`allowed`: published contacts (e-mail addresses, phone numbers) that are not personal data."""
        self.allowed = frozenset(a.lower() for a in allowed)
        self.secrets = {name: re.compile(p) for name, p in SECRET_PATTERNS.items()}

    def _findings(self, output: Output) -> list[tuple[str, str, str]]:
        """(rule, matched text, reason) for each problem, in the order they are checked."""
        text, found = output.answer, []
        for name, pattern in self.secrets.items():
            found += [("secret", m[0], f"contains what looks like {name}") for m in pattern.finditer(text)]
        found += [
            ("email", m[0], f"contains the e-mail address {m[0]}, which is not a published contact")
            for m in _EMAIL.finditer(text)
            if m[0].lower() not in self.allowed
        ]
        runs = [m.span() for m in _CARD.finditer(text)]  # long digit runs: cards, or not, never phones
        found += [
            ("card_number", m[0], "contains a payment card number")
            for m in _CARD.finditer(text)
            if _luhn(re.sub(r"\D", "", m[0]))
        ]
        found += [
            ("phone", m[0], f"contains the phone number {m[0]}, which is not a published contact")
            for m in _PHONE.finditer(text)
            if m[0] not in self.allowed and not any(start <= m.start() and m.end() <= end for start, end in runs)
        ]
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
                        return [
                            (
                                "echoed_instruction",
                                token,
                                f"repeats {token!r} from an instruction in {source}: {sentence[:80]!r}",
                            )
                        ]
                words = normalize(sentence).split()
                for i in range(len(words) - 5):  # six words in a row from the instruction
                    if f" {' '.join(words[i : i + 6])} " in plain:
                        return [
                            (
                                "echoed_instruction",
                                " ".join(words[i : i + 6]),
                                f"repeats an instruction from {source}: {sentence[:80]!r}",
                            )
                        ]
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

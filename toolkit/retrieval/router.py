"""The source router: send each question to the documents, to structured sources (a database,
a live API), or to several, by a few readable rules, and fuse what they return.

A structured source is any object with `lookup(question, entities, rules) -> list[TextNode]`;
`entities` is whatever `find_entities(question)` returned, `rules` the names of the rules that
fired. A `Rule` looks at the question and the entities and names the sources it needs;
`"vector"` names the document retriever. When no rule fires, `fallback_rule` does (the
documents, by default).

    >>> class Hours:
    ...     def lookup(self, question, entities, rules):
    ...         from llama_index.core.schema import TextNode
    ...         return [TextNode(id_="hours", text="We open at 9.")]
    >>> router = SourceRouter(sources={"hours": Hours()},
    ...                       rules=[Rule("hours", "asks when we open", ("hours",), lambda q, e: "open" in q)])
    >>> router.decide("When do you open?")[:2]
    (['hours'], ['hours'])
    >>> [h.node.node_id for h in router.route("When do you open?").nodes]
    ['hours']

`route(question)` queries the chosen sources, fuses their context (structured facts first,
then document chunks) and returns it with a `Route`: the sources, the rules that fired, each
source's seconds, and every source that failed with its error. A source that raises, or that
is given as None (not configured), is recorded as failed and the others still answer. When
every structured source fails or finds nothing, the documents are asked instead (`fallback`).
The Pipeline stores the route in its RunRecord and says in the answer which source failed.

Not here: any particular data set's rules and sources (the bundled demo's are
toolkit.demo.routing), or learned routing and routing between models.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError, ToolkitError

__all__ = ["Rule", "DOCUMENTS", "MissingSource", "Route", "Routed", "SourceRouter", "VECTOR"]

VECTOR = "vector"  # the name rules use for the document retriever


@dataclass(frozen=True)
class Rule:
    name: str
    when: str  # the condition in words, for explain()
    sources: tuple[str, ...]
    applies: Callable[[str, Any], bool]  # (question, entities) -> fires?


DOCUMENTS = Rule("documents", "no structured rule fired: the documents answer it", (VECTOR,), lambda q, e: True)


class MissingSource:
    """Stands in for a source that is not configured: every lookup fails with `reason`, which
    should say what to configure. A source given to the router as None becomes one of these."""

    def __init__(self, reason: str):
        self.reason = reason

    def lookup(self, question: str, entities: Any, rules: list[str]) -> list:
        raise ToolkitError(self.reason)

    def __repr__(self) -> str:
        return f"MissingSource({self.reason!r})"


def _no_entities(question: str) -> None:
    return None


@dataclass
class Route:
    """What the router decided for one question, and what happened."""

    sources: list[str]
    rules: list[str]
    entities: Any
    failed: dict[str, str] = field(default_factory=dict)  # source -> error
    seconds: dict[str, float] = field(default_factory=dict)
    fallback: bool = False  # the structured sources gave nothing, so the documents were asked


@dataclass
class Routed:
    nodes: list  # LlamaIndex NodeWithScore, structured facts first
    route: Route


class SourceRouter:
    """Chooses sources per question with `rules`, queries them, fuses their context.

    `vector` is any retriever with `.retrieve(question)` (a Pipeline fills in its own when left
    None). `sources` maps a name to an object with `lookup(question, entities, rules)`, or to
    None when that source is not configured (questions that need it then record it as failed).
    Structured sources are asked in the order of `sources`, the documents last.
    """

    def __init__(
        self,
        vector=None,
        sources: Mapping[str, object] | None = None,
        rules: list[Rule] = (),
        find_entities: Callable[[str], Any] = _no_entities,
        fallback_rule: Rule = DOCUMENTS,
    ):
        sources = dict(sources or {})
        if VECTOR in sources:
            raise ConfigError(f"{VECTOR!r} names the document retriever; pass it as vector=..., not in sources")
        self.vector = vector
        self.sources = {
            name: MissingSource(
                f"no {name!r} source is configured; pass sources={{{name!r}: ...}}, "
                f"an object with lookup(question, entities, rules)"
            )
            if source is None
            else source
            for name, source in sources.items()
        }
        self.rules, self.fallback_rule, self.find_entities = list(rules), fallback_rule, find_entities
        # a rule naming a source nobody gave would silently never be asked: say so now
        unknown = sorted({s for r in [*self.rules, fallback_rule] for s in r.sources} - {VECTOR, *self.sources})
        if unknown:
            raise ConfigError(
                f"the rules name sources that are not given: {', '.join(unknown)}; "
                f"add them to sources= (None for one that is not configured yet)"
            )

    def explain(self):
        """The rules as a DataFrame: name, condition, sources."""
        import pandas as pd

        return pd.DataFrame(
            [
                {"rule": r.name, "when": r.when, "sources": ", ".join(r.sources)}
                for r in [*self.rules, self.fallback_rule]
            ]
        )

    def decide(self, question: str) -> tuple[list[str], list[str], Any]:
        """(sources in order, rules that fired, entities found), without querying any source."""
        entities = self.find_entities(question)
        fired = [rule for rule in self.rules if rule.applies(question, entities)] or [self.fallback_rule]
        sources = [s for s in [*self.sources, VECTOR] if any(s in rule.sources for rule in fired)]
        return sources, [rule.name for rule in fired], entities

    def route(self, question: str) -> Routed:
        """Query the chosen sources; a source that fails is recorded and the others still answer."""
        from llama_index.core.schema import NodeWithScore

        sources, rules, entities = self.decide(question)
        route = Route(sources, rules, entities)
        structured: list = []
        for name in [s for s in sources if s != VECTOR]:
            started = time.perf_counter()
            try:
                structured += [
                    n if isinstance(n, NodeWithScore) else NodeWithScore(node=n, score=1.0)
                    for n in self.sources[name].lookup(question, entities, rules)
                ]
            except Exception as exc:  # any failure of one source must not sink the others
                route.failed[name] = f"{type(exc).__name__}: {exc}"
            route.seconds[name] = round(time.perf_counter() - started, 4)
        if VECTOR not in sources and not structured:
            route.fallback = True
            route.sources.append(VECTOR)
        hits: list = []
        if VECTOR in route.sources:
            if self.vector is None:
                raise ToolkitError("the router has no vector retriever; pass vector=... or give it to a Pipeline")
            started = time.perf_counter()
            hits = list(self.vector.retrieve(question))
            route.seconds[VECTOR] = round(time.perf_counter() - started, 4)
        seen: set[str] = set()
        fused = [h for h in structured + hits if not (h.node.node_id in seen or seen.add(h.node.node_id))]
        return Routed(fused, route)

    def retrieve(self, question: str) -> list:
        """The fused context only, as a LlamaIndex-style retriever would return it."""
        return self.route(question).nodes

"""Deterministic replay: recorded model responses stand in for the model, keyed by the full request.

A `Recording` is a JSON file of requests and the replies they got. `Replay(recording)` is a link
in the model-call chain: a request whose key is in the recording is answered from it, with the
usage it had; any other request is a miss. The key is the whole request: the call kind, the
model, its sampling parameters (temperature, seed, max tokens, ...) and every message's role and
text. A changed prompt, retrieved context or model therefore misses, and the miss says which of
them changed against the recorded request for the same question, never serving a stale reply.

    >>> recording = Recording(tmp / "replay.json")                              # doctest: +SKIP
    >>> recorder = ModelClient(llm, model, [Replay(recording, record=True)])    # doctest: +SKIP
    >>> replayer = ModelClient(llm, model, [Replay(Recording.load(tmp / "replay.json"))])  # doctest: +SKIP
    >>> replay = replay_into(pipeline, Recording.load(tmp / "replay.json"))   # doctest: +SKIP
    >>> with replayed("pipelines/02.replay.json", pipeline) as replay:         # doctest: +SKIP
    ...     results = evaluate_answers(pipeline, sample)                         # a notebook's model calls

On a miss `Replay` raises ReplayError, unless `on_miss="call"` was asked for: then the model
answers, the miss is still listed in `replay.misses`, and `record=True` stores the new reply.
Put it last in the chain, nearest the model, so retries and caches in front of it work as usual.

Not here: caching answers for users (cache.py); what counts as the same question there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import ReplayError
from ..files import read_json, write_atomic
from ..models.calls import ChatMessage, ModelCall, ModelReply
from ..models.providers import ModelRef
from ..models.usage import Usage
from ..prompting.spec import parse_rag_message
from .cache_keys import digest, model_params

__all__ = ["Recording", "Replay", "Miss", "Replayed", "replay_into", "replayed", "request_of", "request_key"]

FORMAT = "toolkit-replay/1"


def request_of(call: ModelCall) -> dict:
    """The parts of a call that decide its reply, as plain data (what the key hashes)."""
    return {
        "kind": call.kind,
        "model": str(call.model),
        "params": _params(call),
        "messages": [[getattr(m.role, "value", str(m.role)), m.content or ""] for m in call.messages],
    }


def _params(call: ModelCall) -> dict:
    """The sampling parameters; a model file by its name, not its path, so that a recording made
    in one checkout replays in another (the file's name is the model, its folder is the machine)."""
    params = {**model_params(call.llm), "max_output_tokens": call.max_output_tokens}
    if "model_path" in params:
        params["model_path"] = Path(params["model_path"]).name
    return params


def request_key(request: dict) -> str:
    """32 hex digits naming a request (see `request_of`)."""
    return digest(request)[:32]


def _question(request: dict) -> str:
    """The question a request asks: the text after the last 'Question:' of its last message."""
    last = request["messages"][-1][1] if request["messages"] else ""
    return last.rpartition("Question:")[2].strip() if "Question:" in last else last.strip()


def _words_changed(before: str, after: str, limit: int = 120) -> str:
    """The words removed from and added to a text, each run quoted (a long run is shortened).

    >>> _words_changed("Answer briefly. Cite the source.", "Answer briefly.")
    "removed 'Cite the source.'"
    """
    import difflib

    old, new = before.split(), after.split()
    removed, added = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op in ("delete", "replace"):
            removed.append(" ".join(old[i1:i2]))
        if op in ("insert", "replace"):
            added.append(" ".join(new[j1:j2]))

    def quoted(runs):
        return ", ".join(repr(r if len(r) <= limit else r[: limit - 3] + "...") for r in runs[:3])

    parts = [f"removed {quoted(removed)}" if removed else "", f"added {quoted(added)}" if added else ""]
    return "; ".join(p for p in parts if p) or "only spacing changed"


def explain(request: dict, recorded: dict | None) -> str:
    """What differs between a request and the recorded request for the same question."""
    if recorded is None:
        return (
            f"no recorded request asks {_question(request)!r}: the question is new, or the recording is another suite's"
        )
    changes = []
    for part in ("kind", "model"):
        if request[part] != recorded[part]:
            changes.append(f"{part} {recorded[part]} -> {request[part]}")
    if request["params"] != recorded["params"]:
        keys = sorted(set(request["params"]) | set(recorded["params"]))
        changed = [
            f"{k} {recorded['params'].get(k)!r} -> {request['params'].get(k)!r}"
            for k in keys
            if request["params"].get(k) != recorded["params"].get(k)
        ]
        changes.append("sampling parameters: " + ", ".join(changed))
    new, old = request["messages"], recorded["messages"]
    if len(new) != len(old):
        changes.append(f"the prompt has {len(new)} messages, the recorded one {len(old)} (examples added or removed)")
    for number, ((role, text), (old_role, old_text)) in enumerate(zip(new, old), 1):
        if (role, text) == (old_role, old_text):
            continue
        what = {"system": "the system prompt", "user": "a user message", "assistant": "an example answer"}
        if number == len(new) and "Question:" in text:
            changes.append(_context_change(old_text, text))
        else:
            changes.append(f"{what.get(role, role)} changed: {_words_changed(old_text, text)}")
    return "; ".join(changes) or "the request differs in a way the recording cannot name"


def _context_change(before: str, after: str) -> str:
    """How the retrieved context (or the question) of the last message changed."""
    (old, old_q), (new, new_q) = parse_rag_message(before), parse_rag_message(after)
    if old_q != new_q:
        return f"the question changed: {old_q!r} -> {new_q!r}"
    old_sources, new_sources = [s for s, _ in old], [s for s, _ in new]
    if old_sources != new_sources:
        return f"the retrieved context changed: sources {', '.join(old_sources) or '(none)'} -> {', '.join(new_sources) or '(none)'}"
    texts = sorted({s for (s, t), (_, u) in zip(old, new) if t != u})
    if texts:
        return (
            f"the retrieved context changed: the text shown from {', '.join(texts)} differs "
            f"(the corpus changed, or another chunk of it was retrieved)"
        )
    return f"the user message changed: {_words_changed(before, after)}"


@dataclass
class Miss:
    """A request the recording does not hold, and what changed against the recorded one."""

    question: str
    kind: str
    model: str
    changed: str

    def __str__(self) -> str:
        return f"{self.question!r} ({self.kind}, {self.model}): {self.changed}"


class Recording:
    """Requests and their replies, in one JSON file written atomically.

    `Recording(path)` starts empty (to record); `Recording.load(path)` reads a recording and
    refuses a missing or corrupt file with an error that says how to make one."""

    def __init__(self, path: str | Path, entries: dict | None = None):
        self.path = Path(path)
        self.entries: dict[str, dict] = dict(entries or {})

    @classmethod
    def load(cls, path: str | Path) -> Recording:
        path = Path(path)
        hint = "record it again with --record (or Replay(..., record=True))"
        data = read_json(path, "replay recording", ReplayError, hint)
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("entries"), dict):
            raise ReplayError(f"{path} is not a replay recording in format {FORMAT}; {hint}")
        for key, entry in data["entries"].items():
            if not isinstance(entry, dict) or request_key(entry.get("request", {})) != key or "reply" not in entry:
                raise ReplayError(f"the replay recording {path} is corrupt (entry {key[:12]} does not match); {hint}")
        return cls(path, data["entries"])

    @classmethod
    def open(cls, path: str | Path, *, record: bool | None = None) -> Recording:
        """The recording at `path`, to replay; with `record` (default: TOOLKIT_RECORD=1) an empty
        one at `path`, to fill afresh."""
        return cls(path) if _recording_wanted(record) else cls.load(path)

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, request: dict) -> dict | None:
        entry = self.entries.get(request_key(request))
        return entry["reply"] if entry else None

    def put(self, request: dict, reply: ModelReply) -> None:
        raw = reply.raw if isinstance(reply.raw, dict) else None
        try:
            json.dumps(raw)
        except (TypeError, ValueError):
            raw = None  # a provider payload that is not plain JSON is left out; the text is what counts
        self.entries[request_key(request)] = {
            "request": request,
            "reply": {
                "text": reply.text,
                "model": str(reply.model),
                "input_tokens": reply.usage.input_tokens,
                "output_tokens": reply.usage.output_tokens,
                "raw": raw,
            },
        }

    def nearest(self, request: dict) -> dict | None:
        """The recorded request for the same question and kind (the one to compare a miss with)."""
        question = _question(request)
        same = [e["request"] for e in self.entries.values() if _question(e["request"]) == question]
        return next((r for r in same if r["kind"] == request["kind"]), same[0] if same else None)

    def save(self) -> Path:
        body = {"format": FORMAT, "entries": dict(sorted(self.entries.items()))}
        return write_atomic(self.path, json.dumps(body, indent=1, ensure_ascii=False) + "\n")


class Replay:
    """Answer calls from a recording; a miss raises ReplayError unless `on_miss="call"`.

    `record=True` stores every reply the model gives (and implies calling it on a miss)."""

    def __init__(self, recording: Recording, *, record: bool = False, on_miss: Literal["raise", "call"] = "raise"):
        if on_miss not in ("raise", "call"):
            raise ValueError(f"on_miss must be 'raise' or 'call', not {on_miss!r}")
        self.recording, self.record = recording, record
        self.on_miss = "call" if record else on_miss
        self.misses: list[Miss] = []
        self.hits = 0

    def __call__(self, call: ModelCall, send) -> ModelReply:
        request = request_of(call)
        stored = self.recording.get(request)
        if stored is not None:
            self.hits += 1
            from llama_index.core.base.llms.types import ChatResponse

            response = ChatResponse(message=ChatMessage(role="assistant", content=stored["text"]), raw=stored["raw"])
            return ModelReply(
                stored["text"],
                Usage(stored["input_tokens"], stored["output_tokens"]),
                ModelRef.parse(stored["model"]),
                call.kind,
                response=response,
                parts={"replay": {"hit": True}},
            )
        miss = Miss(_question(request), call.kind, str(call.model), explain(request, self.recording.nearest(request)))
        self.misses.append(miss)
        if self.on_miss == "raise":
            raise ReplayError(
                f"the replay recording {self.recording.path.name} holds no reply for this request, so the model "
                f"was not called: {miss} (if the change is intended, record again with --record)",
                [miss],
            )
        reply = send(call)
        if self.record:
            self.recording.put(request, reply)
        reply.parts["replay"] = {"hit": False}
        return reply


def replay_into(
    pipeline, recording: Recording, *, record: bool = False, on_miss: Literal["raise", "call"] = "raise"
) -> Replay:
    """Answer `pipeline`'s model calls from `recording`: a `Replay` put last in its chain, nearest
    the model. Returns it, for its `hits` and `misses` (and, with `record`, its recording to save)."""
    replay = Replay(recording, record=record, on_miss=on_miss)
    pipeline.client.middleware = [*pipeline.client.middleware, replay]
    return replay


@dataclass
class Replayed:
    """What a `replayed` block did: the replies served from the recording and the requests asked
    of the model, and whether it recorded afresh."""

    recording: Recording
    replays: list[Replay]
    record: bool

    def link(self) -> Replay:
        """One more Replay on the block's recording, for a chain the block did not build:
        `run_experiment(..., middleware=[replay.link()])`. Put it last, nearest the model."""
        replay = Replay(self.recording, record=self.record, on_miss="call")
        self.replays.append(replay)
        return replay

    @property
    def hits(self) -> int:
        return sum(r.hits for r in self.replays)

    @property
    def misses(self) -> list[Miss]:
        return [miss for r in self.replays for miss in r.misses]

    @property
    def note(self) -> str:
        """A scoreboard note: a replayed reply takes no model time, so its latency is not the model's."""
        return "" if self.record else "model replies replayed from the recording, so the latency is not the model's"

    def __str__(self) -> str:
        return f"{self.hits} replies replayed, {len(self.misses)} asked of the model"


def _recording_wanted(record: bool | None) -> bool:
    return os.environ.get("TOOLKIT_RECORD") == "1" if record is None else record


@contextmanager
def replayed(path: str | Path | Recording, *pipelines, record: bool | None = None) -> Iterator[Replayed]:
    """Inside the block, answer the pipelines' model calls (and those of every `link()`) from the
    recording at `path`; a request it does not hold asks the model. `record` (default:
    TOOLKIT_RECORD=1) asks the model everything and saves a fresh recording when the block ends
    without an error, never a half-filled one.
    The pipelines leave the block as they came in, with no replay in their chains. Several blocks
    can share one file: pass them the same `Recording.open(path)`, and each saves what it added."""
    record = _recording_wanted(record)
    recording = path if isinstance(path, Recording) else Recording.open(path, record=record)
    replays = [replay_into(pipeline, recording, record=record, on_miss="call") for pipeline in pipelines]
    try:
        yield Replayed(recording, replays, record)
    finally:
        for pipeline, replay in zip(pipelines, replays):
            pipeline.client.middleware.remove(replay)
    if record:
        recording.save()

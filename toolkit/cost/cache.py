"""Response caching: an exact cache and a semantic cache in one SQLite file, shared by processes.

Exact: the key is a SHA-256 of the normalised question, the prompt version, the model and its
parameters, and a fingerprint of the retrieved context (source ids and chunk texts). The same
question over changed context is a different key, so a stale answer is never served.

Semantic: the nearest past question by embedding (FAISS inner product over unit vectors), among
entries with the same prompt version, model, parameters and corpus fingerprint, is a hit when
its cosine is at least `threshold` AND `cache_keys.wording_conflict` finds nothing against it:
the same guard terms (numbers and ids, negations, comparison words, named entities you pass
in), no content word replaced by another, and the shared words in the same order. Embeddings
alone call "free over $50" and "free under $50" the same question (cosine 0.95 here), and serve
one sentence's answer for its word-swapped look-alike on 87% of PAWS-Wiki's label-0 pairs at
0.9; with the wording check, 0.5% on the tuning half (benchmarks/RESULTS.md has the held-out
figure). The stored `guard` column is kept for reading; the check reads the stored question.

    >>> cache = ResponseCache(home / "cache" / "responses.sqlite", embed_model=embed)  # doctest: +SKIP
    >>> answer, kind = cache.get_or_compute(request, lambda: CachedAnswer("30 days"))    # doctest: +SKIP

Entries carry an optional TTL. When a request names a corpus the cache has not seen, it
invalidates what the change touches: entries citing a changed or removed document are deleted;
if documents were added, semantic matching of older entries stops (an added document could
hold a better answer, and only the exact key, which covers the retrieved context, can tell).
Concurrent identical misses compute once (a lock file per key stripe, across threads and
processes). A corrupt file is moved aside and rebuilt (or refused, `on_corrupt="refuse"`);
each row carries a digest, so a damaged row is dropped, never served.

Not here: the keys themselves (cache_keys.py), what a call costs (prices.py), and wiring the
cache into the pipeline's model call (pipeline_cache.py).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..errors import CacheCorruptError, ConfigError
from ..files import transaction
from ..ingestion.vectorstore import search_one
from .cache_keys import CachedAnswer, CacheRequest, guard_terms, wording_conflict

__all__ = ["ResponseCache"]

FORMAT = "toolkit-response-cache/1"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries(
    id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL, prefix TEXT NOT NULL, corpus TEXT NOT NULL,
    question TEXT NOT NULL, guard TEXT NOT NULL, payload TEXT NOT NULL, digest TEXT NOT NULL,
    sources TEXT NOT NULL, created REAL NOT NULL, expires REAL, semantic INTEGER NOT NULL, embedding BLOB);
CREATE INDEX IF NOT EXISTS entries_scope ON entries(prefix, corpus, id);
CREATE TABLE IF NOT EXISTS corpora(fp TEXT PRIMARY KEY, files TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stats(name TEXT PRIMARY KEY, value REAL NOT NULL);
"""
STATS = [
    "hits_exact",
    "hits_semantic",
    "misses",
    "coalesced",
    "tokens_saved",
    "dollars_saved",
    "expired",
    "corrupt_rows",
    "invalidated",
]


class ResponseCache:
    """Exact and (with `embed_model`) semantic response cache over one SQLite file."""

    def __init__(
        self,
        path: str | Path,
        *,
        embed_model=None,
        threshold: float = 0.9,
        ttl_s: float | None = None,
        entities: Iterable[str] = (),
        on_corrupt: str = "rebuild",
    ):
        if on_corrupt not in ("rebuild", "refuse"):
            raise ConfigError(f"on_corrupt must be 'rebuild' or 'refuse', not {on_corrupt!r}")
        self._configure(embed_model, threshold, ttl_s, entities)
        self.path = Path(path).expanduser()
        self.on_corrupt = on_corrupt
        self._local = threading.local()
        self._faiss: dict[tuple[str, str], tuple[object, int]] = {}  # scope -> (index, last id loaded)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        (self.path.parent / "locks").mkdir(exist_ok=True)
        from filelock import FileLock

        with FileLock(str(self.path) + ".open.lock"):  # one process checks or rebuilds at a time
            self._open_checked()

    def _configure(self, embed_model, threshold: float, ttl_s: float | None, entities: Iterable[str]) -> None:
        """The settings every engine shares, checked."""
        if not 0 < threshold <= 1:
            raise ConfigError(f"threshold is a cosine similarity: give a value in (0, 1], not {threshold}")
        self.embed_model, self.threshold, self.ttl_s = embed_model, threshold, ttl_s
        self.entities = tuple(entities)
        self.notes: list[str] = []
        self._lock = threading.Lock()
        self._known_corpora: set[str] = set()

    @property
    def where(self) -> str:
        """What another process opens to share this cache."""
        return str(self.path)

    # --- storage -----------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout = 60000")
        db.execute("PRAGMA journal_mode = WAL")  # readers never wait for the one writer
        db.execute("PRAGMA synchronous = NORMAL")  # WAL stays consistent; a power cut may lose the last writes
        return db

    @property
    def db(self) -> sqlite3.Connection:
        """One connection per thread (sqlite3 connections are not shared across threads)."""
        if getattr(self._local, "db", None) is None:
            self._local.db = self._connect()
        return self._local.db

    def _problem(self) -> str | None:
        """Why the file cannot be trusted, or None."""
        try:
            db = self._connect()
            try:
                check = db.execute("PRAGMA quick_check").fetchone()[0]
                if check != "ok":
                    return f"SQLite integrity check failed: {check}"
                db.executescript(SCHEMA)
                db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (FORMAT,))
                found = db.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()[0]
                return None if found == FORMAT else f"it is a {found!r} file, not {FORMAT!r}"
            finally:
                db.close()
        except sqlite3.DatabaseError as exc:
            return f"{type(exc).__name__}: {exc}"

    def _open_checked(self) -> None:
        problem = self._problem()
        if problem is None:
            return
        if self.on_corrupt == "refuse":
            raise CacheCorruptError(
                f"cache file {self.path} cannot be trusted ({problem}); delete it, "
                f"or open it with on_corrupt='rebuild' to start an empty cache"
            )
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            part = Path(str(self.path) + suffix)
            if part.exists():
                part.replace(Path(str(aside) + suffix))
        note = f"cache file {self.path} could not be trusted ({problem}); moved to {aside.name}, started empty"
        self.notes.append(note)
        warnings.warn(note, stacklevel=3)
        if (again := self._problem()) is not None:
            raise CacheCorruptError(f"cache file {self.path} cannot be created ({again}); check the folder")

    def _transaction(self):
        """One write transaction, serialised with other writers."""
        return transaction(self.db)

    def _single_flight(self, key: str):
        """A lock that identical misses, in any thread or process, take one at a time."""
        from filelock import FileLock

        # 4,096 lock files, one per key stripe: a lock file per key would pile up forever.
        return FileLock(str(self.path.parent / "locks" / f"{key[:3]}.lock"))

    def _bump(self, **amounts: float) -> None:
        pairs = [(name, amount) for name, amount in amounts.items() if amount]
        if pairs:  # one statement: one transaction, however many counters move
            self.db.execute(
                f"INSERT INTO stats VALUES {', '.join(['(?, ?)'] * len(pairs))} "
                f"ON CONFLICT(name) DO UPDATE SET value = stats.value + excluded.value",
                [v for pair in pairs for v in pair],
            )

    def stats(self) -> dict:
        """Hits (exact, semantic), misses, hit rate, tokens and dollars saved, across all processes."""
        found = dict(self.db.execute("SELECT name, value FROM stats").fetchall())
        out = {name: found.get(name, 0) for name in STATS}
        out = {k: (round(v, 10) if k == "dollars_saved" else int(v)) for k, v in out.items()}
        lookups = out["hits_exact"] + out["hits_semantic"] + out["misses"]
        out["hit_rate"] = round((lookups - out["misses"]) / lookups, 4) if lookups else 0.0
        out["entries"] = len(self)
        return out

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM entries").fetchone()[0]

    # --- corpus changes ----------------------------------------------------------------------

    def _sync_corpus(self, request: CacheRequest) -> None:
        corpus = request.corpus
        if corpus in self._known_corpora:
            return
        with self._transaction():
            known = dict(self.db.execute("SELECT fp, files FROM corpora").fetchall())
            if corpus not in known:
                self._invalidate(request.files, corpus, {fp: json.loads(f) for fp, f in known.items()})
                self.db.execute(
                    "INSERT INTO corpora VALUES (?, ?)", (corpus, json.dumps(request.files, sort_keys=True))
                )
        self._known_corpora.add(corpus)

    def _invalidate(self, files: dict, corpus: str, old: dict[str, dict]) -> None:
        """Delete entries citing changed or removed documents; carry the rest over to `corpus`,
        without semantic matching if documents were added since their corpus."""
        dropped = 0
        for fp, old_files in old.items():
            stale = {doc for doc, sha in old_files.items() if files.get(doc) != sha}
            added = bool(set(files) - set(old_files))
            for entry_id, sources in self.db.execute(
                "SELECT id, sources FROM entries WHERE corpus = ?", (fp,)
            ).fetchall():
                if stale & set(json.loads(sources)):
                    self.db.execute("DELETE FROM entries WHERE id = ?", (entry_id,))
                    dropped += 1
            self.db.execute(
                "UPDATE entries SET corpus = ?, semantic = semantic * ? WHERE corpus = ?",
                (corpus, int(not added), fp),
            )
        if dropped:
            self.notes.append(f"the corpus changed: dropped {dropped} cached answers citing changed documents")
        self._bump(invalidated=dropped)

    # --- lookup ------------------------------------------------------------------------------

    def _row_answer(self, row, score: float) -> CachedAnswer | None:
        """The stored answer if its row is intact and fresh; drops it otherwise."""
        entry_id, payload, row_digest, expires = row
        if hashlib.sha256(payload.encode("utf-8")).hexdigest() != row_digest:
            self.db.execute("DELETE FROM entries WHERE id = ?", (entry_id,))
            self._bump(corrupt_rows=1)
            warnings.warn(f"cache {self.where}: entry {entry_id} failed its digest check; dropped", stacklevel=4)
            return None
        if expires is not None and expires < time.time():
            self.db.execute("DELETE FROM entries WHERE id = ?", (entry_id,))
            self._bump(expired=1)
            return None
        answer = CachedAnswer(**json.loads(payload))
        answer.score = score
        return answer

    def _exact(self, request: CacheRequest) -> CachedAnswer | None:
        row = self.db.execute(
            "SELECT id, payload, digest, expires FROM entries WHERE key = ?", (request.key,)
        ).fetchone()
        return self._row_answer(row, 1.0) if row else None

    def embed(self, question: str) -> np.ndarray:
        vector = np.asarray(self.embed_model.get_query_embedding(question), dtype="float32")
        return vector / (np.linalg.norm(vector) + 1e-12)

    def _index(self, prefix: str, corpus: str, dim: int):
        """The FAISS index of one scope, topped up with rows other processes added since."""
        import faiss

        index, last = self._faiss.get((prefix, corpus)) or (faiss.IndexIDMap2(faiss.IndexFlatIP(dim)), 0)
        rows = self.db.execute(
            "SELECT id, embedding FROM entries WHERE prefix = ? AND corpus = ? AND id > ? AND semantic = 1 ORDER BY id",
            (prefix, corpus, last),
        ).fetchall()
        if rows:
            vectors = np.stack([np.frombuffer(blob, dtype="float32") for _, blob in rows])
            index.add_with_ids(vectors, np.asarray([i for i, _ in rows], dtype="int64"))
            last = rows[-1][0]
        self._faiss[(prefix, corpus)] = (index, last)
        return index

    def candidates(self, request: CacheRequest, vector: np.ndarray | None = None, k: int = 4):
        """The nearest eligible past questions, best first: [(answer, cosine, wording agrees)],
        where the wording agrees when `wording_conflict` finds nothing against the match."""
        if self.embed_model is None:
            return []
        vector = self.embed(request.question) if vector is None else vector
        found = []
        for row, score in self._nearest(request, vector, k):
            answer = self._row_answer(row, score)
            if answer is not None:
                # the wording check reads both questions: an order check needs the stored words
                agrees = not wording_conflict(answer.question, request.question, self.entities)
                found.append((answer, float(score), agrees))
        return found

    def _nearest(self, request: CacheRequest, vector: np.ndarray, k: int) -> list[tuple[tuple, float]]:
        """The `k` nearest semantic entries of the request's scope: [((id, payload, digest, expires), cosine)]."""
        with self._lock:
            index = self._index(request.prefix, request.corpus, len(vector))
            if index.ntotal == 0:
                return []
            scores, ids = search_one(index, vector, min(k, index.ntotal))
        found = []
        for score, entry_id in zip(scores[0], ids[0]):
            row = self.db.execute(
                "SELECT id, payload, digest, expires FROM entries WHERE id = ? "
                "AND prefix = ? AND corpus = ? AND semantic = 1",
                (int(entry_id), request.prefix, request.corpus),
            ).fetchone()
            if row is None:  # deleted or moved by another process since it was loaded
                with self._lock:
                    index.remove_ids(np.asarray([entry_id], dtype="int64"))
                continue
            found.append((row, float(score)))
        return found

    def _find(self, request: CacheRequest, vector: np.ndarray | None) -> tuple[CachedAnswer | None, str]:
        self._sync_corpus(request)
        answer = self._exact(request)
        if answer is not None:
            return answer, "exact"
        for answer, score, same_guard in self.candidates(request, vector):
            if score >= self.threshold and same_guard:
                return answer, "semantic"
        return None, ""

    def lookup(self, request: CacheRequest, vector: np.ndarray | None = None) -> tuple[CachedAnswer | None, str]:
        """(answer, "exact" | "semantic") on a hit, (None, "") on a miss; counted in stats.
        `vector` is the question's unit embedding, if the caller has it already."""
        if vector is None and self.embed_model is not None:
            vector = self.embed(request.question)
        answer, kind = self._find(request, vector)
        self._count(answer, kind)
        return answer, kind

    def _count(self, answer: CachedAnswer | None, kind: str, coalesced: bool = False) -> None:
        if answer is None:
            self._bump(misses=1)
        else:
            self._bump(
                **{f"hits_{kind}": 1},
                coalesced=int(coalesced),
                tokens_saved=answer.input_tokens + answer.output_tokens,
                dollars_saved=answer.cost_usd,
            )

    def store(
        self,
        request: CacheRequest,
        answer: CachedAnswer,
        *,
        vector: np.ndarray | None = None,
        ttl_s: float | None = None,
    ) -> None:
        """Keep an answer under the request's exact key (and its embedding, for semantic hits)."""
        self.store_many([(request, answer, vector)], ttl_s=ttl_s)

    def store_many(self, items, *, ttl_s: float | None = None) -> None:
        """Store (request, answer, vector or None) triples in one transaction (warming a cache)."""
        rows, now = [], time.time()
        ttl = ttl_s if ttl_s is not None else self.ttl_s
        for request, answer, vector in items:
            self._sync_corpus(request)
            answer.question = answer.question or request.question
            payload = json.dumps({k: v for k, v in asdict(answer).items() if k != "score"}, sort_keys=True)
            if vector is None and self.embed_model is not None:
                vector = self.embed(request.question)
            rows.append(
                (
                    request.key,
                    request.prefix,
                    request.corpus,
                    request.question,
                    json.dumps(sorted(guard_terms(request.question, self.entities))),
                    payload,
                    hashlib.sha256(payload.encode("utf-8")).hexdigest(),
                    json.dumps(sorted(request.sources)),
                    now,
                    now + ttl if ttl is not None else None,
                    int(vector is not None),
                    None if vector is None else self._vector_value(np.asarray(vector, dtype="float32")),
                )
            )
        with self._transaction():
            self._write_entries(rows)

    def _vector_value(self, vector: np.ndarray):
        return vector.tobytes()

    def _write_entries(self, rows: list[tuple]) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO entries (key, prefix, corpus, question, guard, payload, digest, sources, "
            "created, expires, semantic, embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def get_or_compute(self, request: CacheRequest, compute: Callable[[], CachedAnswer]) -> tuple[CachedAnswer, str]:
        """The cached answer, or `compute()`'s, stored. Identical concurrent misses (threads or
        processes) compute once: the others wait on the key's lock, then find the answer."""
        vector = self.embed(request.question) if self.embed_model is not None else None
        answer, kind = self._find(request, vector)
        if answer is not None:
            self._count(answer, kind)
            return answer, kind
        with self._single_flight(request.key):
            answer, kind = self._find(request, vector)
            if answer is not None:
                self._count(answer, kind, coalesced=True)
                return answer, kind
            answer = compute()
            self.store(request, answer, vector=vector)
        self._count(None, "")
        return answer, ""

    def purge_expired(self) -> int:
        """Delete expired entries now (lookups also drop them as they meet them)."""
        deleted = self.db.execute(
            "DELETE FROM entries WHERE expires IS NOT NULL AND expires < ?", (time.time(),)
        ).rowcount
        self._bump(expired=deleted)
        return deleted

    def clear(self) -> None:
        """Delete every entry and reset the statistics."""
        self.db.execute("DELETE FROM entries")
        self.db.execute("DELETE FROM stats")
        with self._lock:
            self._faiss.clear()

    def close(self) -> None:
        if getattr(self._local, "db", None) is not None:
            self._local.db.close()
            self._local.db = None

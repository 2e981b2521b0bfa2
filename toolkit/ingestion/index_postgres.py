"""An index in PostgreSQL: the chunks and vectors in a pgvector table (LlamaIndex's `PGVectorStore`),
the ingestion state in `toolkit_indexes`; `Index`'s interface, so `ingest(..., store=URL)` and the
pipeline use it as they use a FAISS folder.

    >>> where = IndexTable("postgresql:///toolkit?host=/run/postgresql", "tidewell")
    >>> where.table
    'tk_tidewell_d4f60223'
    >>> index = PostgresIndex.open(where)                                # doctest: +SKIP
    >>> index.meta["chunks"], index.store.kind                          # doctest: +SKIP
    (357, 'hnsw')

Tables, in the schema the connection's search path names first (`current_schema()`):

    data_tk_<name>_<hash>   PGVectorStore's rows: node id, text, JSONB metadata (the node, its
                            `ref_doc_id`, the loaders' `effective_date`), vector(dim); an HNSW
                            index (cosine, m 16, ef_construction 64; ef_search 40 at query time,
                            as benchmarks/bench_pgvector.py measured), B-trees on ref_doc_id and
                            (unique) node_id
    toolkit_indexes         one row per index: its meta (files' SHA-256, embedding model, chunking,
                            counts) and IngestionPipeline's docstore (document hashes), as JSONB

No half-written index: one ingest is one database transaction. The writer hands PGVectorStore an
SQLAlchemy Connection inside an open transaction instead of an engine; each of PGVectorStore's
sessions joins it, and their `commit()` does not end it (SQLAlchemy's "conservative savepoint"
joining). Every delete and insert of the run, the table's DDL, and the `toolkit_indexes` row then
commit together in `save()`, or not at all: a writer killed midway drops its connection, the
server rolls everything back, and readers (MVCC) never saw any of it, so the next run starts from
the previous complete state with nothing to repair. The price: a rebuild (another embedding model)
drops and recreates the table inside that transaction, so readers of that one index wait for it.
(The alternative, committing as PGVectorStore does and deleting a document's rows before re-adding
it on the next run, would show readers a half-changed index until then.)

One writer at a time: a session advisory lock per index (`PostgresIndex.lock`), freed by the server
when the writer's connection drops. Queries with metadata filters are exact (`PostgresVectors`).
Not here: deciding what to re-embed (incremental.py), the FAISS folder (index.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.vector_stores.types import BasePydanticVectorStore, VectorStoreQuery, VectorStoreQueryResult

from ..errors import IndexCorruptError, StoreError
from ..storage.postgres import connect, ensure_schema, redacted

__all__ = ["IndexTable", "PostgresIndex", "PostgresVectors", "SCHEMA_VERSION", "STORE", "HNSW"]

SCHEMA_VERSION = 1
STORE = "vector index"  # its name in toolkit_schema
FORMAT_VERSION = 1
STATE_TABLE = "toolkit_indexes"
_TABLES = f"""
CREATE TABLE IF NOT EXISTS {STATE_TABLE} (
    name TEXT PRIMARY KEY, vectors TEXT NOT NULL, dim INTEGER NOT NULL, meta JSONB NOT NULL,
    docstore JSONB NOT NULL, saved TIMESTAMPTZ NOT NULL);
"""
# bench_pgvector: recall@10 1.0 on clustered vectors at ef_search 40 (100,000 vectors, m 16).
HNSW = {"hnsw_m": 16, "hnsw_ef_construction": 64, "hnsw_ef_search": 40, "hnsw_dist_method": "vector_cosine_ops"}


@dataclass(frozen=True)
class IndexTable:
    """Where an index lives in a database: the URL and the index's name (a folder's name, for a
    FAISS index). The vector table's name derives from it, short enough for PostgreSQL's 63
    characters with PGVectorStore's `data_` prefix and `_embedding_idx` suffix."""

    url: str
    name: str

    @property
    def table(self) -> str:
        slug = re.sub(r"[^a-z0-9_]+", "_", self.name.lower()).strip("_")[:24]
        return f"tk_{slug}_{hashlib.sha256(self.name.encode()).hexdigest()[:8]}"

    def __str__(self) -> str:
        return f"{redacted(self.url)} (index {self.name!r})"


def _fix_hint(where: IndexTable) -> str:
    return (
        f"rebuild it with: python -m toolkit ingest SOURCE_FOLDER --index {where.name} --store '{redacted(where.url)}'"
    )


def _connection(url: str):
    """A psycopg2 connection for SQLAlchemy's sync engine: PGVectorStore 0.9.0 binds a parameter in
    `SET hnsw.ef_search = :value`, which only a client-side binding driver accepts (psycopg 3
    binds on the server and fails)."""
    import psycopg2

    try:
        return psycopg2.connect(url, connect_timeout=10)
    except psycopg2.OperationalError:
        connect(url).close()  # raises StoreError, naming the fix without the password
        raise


def _engines(url: str):
    """(engine, async engine) that connect to `url` (psycopg2, and psycopg 3 for asyncio); the URL,
    and any password in it, stays out of SQLAlchemy's and PGVectorStore's fields and reprs."""
    import psycopg
    from sqlalchemy import create_engine
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    async def connect_async():
        return await psycopg.AsyncConnection.connect(url)

    engine = create_engine("postgresql+psycopg2://", creator=lambda: _connection(url), pool_size=2)
    # No pool for asyncio: a pooled connection belongs to the event loop that opened it, and each
    # asyncio.run() is a new loop.
    return engine, create_async_engine("postgresql+psycopg://", async_creator=connect_async, poolclass=NullPool)


def _exact_order(stmt, table, **kwargs):
    """PGVectorStore's query ordered by `distance + 0`: an HNSW index serves only `embedding <=> q`
    itself, so no plan can answer this one from the index, whatever the planner's settings (with
    `enable_indexscan = off` alone, a planner that also avoids sequential scans still took HNSW)."""
    distance = stmt.selected_columns["distance"].element
    return stmt.order_by(None).order_by(distance + 0)


def _pg_store(engine, async_engine, table: str, schema: str, dim: int, *, how: str):
    from llama_index.vector_stores.postgres import PGVectorStore

    return PGVectorStore(
        engine=engine,
        async_engine=async_engine,
        table_name=table,
        schema_name=schema,
        embed_dim=dim,
        use_jsonb=True,
        hnsw_kwargs=dict(HNSW) if how != "exact" else None,  # PGVectorStore pops keys from it: a copy each
        perform_setup=how == "write",
        initialization_fail_on_error=True,  # its default only logs a failed CREATE TABLE
        customize_query_fn=_exact_order if how == "exact" else None,
    )


class PostgresVectors(BasePydanticVectorStore):
    """Chunks and vectors of one index in PostgreSQL, through three PGVectorStores on one table:

    - unfiltered queries go through the HNSW index (approximate, milliseconds at millions of rows);
    - queries with metadata filters (a document's `ref_doc_id`, an `effective_date` range) are
      exact scans of the filtered rows, ordered by an expression HNSW cannot serve: pgvector 0.6
      filters *after* the HNSW scan, so a selective filter returned fewer rows than asked on 200 of
      200 queries (bench_pgvector, llama_index#9519); the exact scan returns the true top k;
    - writes go through a PGVectorStore joined to one open transaction (`begin`, `commit`).

    `get_nodes()` with no arguments returns every chunk (PGVectorStore 0.9.0 asserts on that), for
    BM25; `documents()` and `len()` count what the writer's transaction sees while one is open.
    """

    stores_text: bool = True
    flat_metadata: bool = False
    dim: int
    kind: str = "hnsw"
    table: str  # PGVectorStore's table name, without its `data_` prefix
    schema_: str
    _url: str = PrivateAttr()
    _engines: dict = PrivateAttr(default_factory=dict)
    _stores: dict = PrivateAttr(default_factory=dict)
    _conn: Any = PrivateAttr(default=None)  # the writer's SQLAlchemy Connection, in a transaction
    _fresh: bool = PrivateAttr(default=False)  # drop an older table of this name first (a rebuild)

    def __init__(self, url: str, table: str, schema: str, dim: int, fresh: bool = False):
        super().__init__(dim=dim, table=table, schema_=schema)
        self._url, self._fresh = url, fresh

    @classmethod
    def class_name(cls) -> str:
        return "toolkit_postgres_vectors"

    @property
    def qualified(self) -> str:
        return f'"{self.schema_}"."data_{self.table}"'

    def _store(self, how: str):
        """The PGVectorStore for "hnsw" or "exact" queries, made on first use; they share an engine."""
        if how not in self._stores:
            if "read" not in self._engines:
                self._engines["read"] = _engines(self._url)
            self._stores[how] = _pg_store(*self._engines["read"], self.table, self.schema_, self.dim, how=how)
        return self._stores[how]

    @property
    def client(self) -> Any:
        return self._store("hnsw").client

    # -- writing: one transaction --------------------------------------------------------------

    def begin(self):
        """Open the writer's transaction (once) and create the table and its HNSW index in it."""
        if self._conn is None:
            from sqlalchemy import text

            if "write" not in self._engines:
                self._engines["write"] = _engines(self._url)
            engine, async_engine = self._engines["write"]
            self._conn = engine.connect()
            self._conn.begin()
            if self._fresh:
                self._conn.execute(text(f"DROP TABLE IF EXISTS {self.qualified}"))
            self._stores["write"] = _pg_store(self._conn, async_engine, self.table, self.schema_, self.dim, how="write")
            self._stores["write"]._initialize()
            # PGVectorStore indexes ref_doc_id but not node_id: a unique index makes the upsert by
            # node id (`add`) an index lookup, and one node id one row a rule of the table.
            self._conn.execute(
                text(f"CREATE UNIQUE INDEX IF NOT EXISTS {self.table}_node_id ON {self.qualified} (node_id)")
            )
        return self._conn

    def commit(self) -> None:
        if self._conn is not None:
            self._conn.commit()
            self._fresh = False
            self._end_write()

    def rollback(self) -> None:
        """Drop everything written since `begin` (the server does the same for a killed writer)."""
        if self._conn is not None:
            self._conn.rollback()
            self._end_write()

    def _end_write(self) -> None:
        self._conn.close()
        self._conn = None
        self._stores.pop("write", None)
        self._engines.pop("write")[0].dispose()  # a writer's connection is seldom needed again: free it

    def close(self) -> None:
        self.rollback()
        for engine, _ in self._engines.values():
            engine.dispose()
        self._engines.clear()
        self._stores.clear()

    def add(self, nodes, **kwargs: Any) -> list[str]:
        if not nodes:
            return []
        self.begin()
        nodes = list({n.node_id: n for n in nodes}.values())  # one node id, one row: the last wins
        self._stores["write"].delete_nodes([n.node_id for n in nodes])  # idempotent upsert by node id
        return self._stores["write"].add(nodes)

    def delete(self, ref_doc_id: str, **kwargs: Any) -> None:
        """Delete every chunk of one document."""
        self.begin()
        self._stores["write"].delete(ref_doc_id)

    def delete_nodes(self, node_ids=None, filters=None, **kwargs: Any) -> None:
        self.begin()
        self._stores["write"].delete_nodes(node_ids, filters)

    def clear(self) -> None:
        self.begin()
        self._stores["write"].clear()

    # -- reading -----------------------------------------------------------------------------

    @contextmanager
    def _reading(self):
        """The writer's connection while a transaction is open (it sees its own rows), else a
        pooled one."""
        if self._conn is not None:
            yield self._conn
        else:
            with self._store("hnsw")._engine.connect() as conn:
                yield conn

    def _rows(self, sql: str, params: dict | None = None) -> list:
        from sqlalchemy import text

        with self._reading() as conn:
            if conn.execute(text("SELECT to_regclass(:t)"), {"t": self.qualified}).scalar() is None:
                return []
            return conn.execute(text(sql.format(table=self.qualified)), params or {}).fetchall()

    def __len__(self) -> int:
        rows = self._rows("SELECT count(*) FROM {table}")
        return rows[0][0] if rows else 0

    def documents(self) -> list[str]:
        """Ids of the documents that have at least one chunk in the store."""
        return sorted(
            r[0] for r in self._rows("SELECT DISTINCT coalesce(metadata_->>'ref_doc_id', node_id) FROM {table}")
        )

    def get_nodes(self, node_ids: list[str] | None = None, filters: Any = None) -> list:
        """Chunks by id, by filter, or (neither given) all of them, without their embeddings."""
        from llama_index.core.vector_stores.utils import metadata_dict_to_node

        if node_ids is not None or filters is not None:
            nodes = self._store("exact").get_nodes(node_ids, filters)
            for node in nodes:
                node.embedding = None
            return nodes
        nodes = []
        for text, metadata in self._rows("SELECT text, metadata_ FROM {table} ORDER BY id"):
            node = metadata_dict_to_node(metadata)
            node.set_content(text)
            nodes.append(node)
        return nodes

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        if query.filters is None:
            return self._store("hnsw").query(query, **kwargs)
        return self._store("exact").query(replace(query, filters=_quoted(query.filters)), **kwargs)

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        if query.filters is None:
            return await self._store("hnsw").aquery(query, **kwargs)
        return await self._store("exact").aquery(replace(query, filters=_quoted(query.filters)), **kwargs)


def _quoted(filters):
    """`filters` with every key and text value quoted for SQL: PGVectorStore 0.9.0 pastes them into
    its SQL between single quotes, so a document id like "bob's notes.md" broke the query (and a
    crafted value could have changed it). Doubling the quote is PostgreSQL's escape."""
    from llama_index.core.vector_stores.types import MetadataFilters

    def quote(value):
        if isinstance(value, str):
            return value.replace("'", "''")
        if isinstance(value, list):
            return [quote(v) for v in value]
        return value

    parts = [
        _quoted(f)
        if isinstance(f, MetadataFilters)
        else f.model_copy(update={"key": quote(f.key), "value": quote(f.value)})
        for f in filters.filters
    ]
    return filters.model_copy(update={"filters": parts})


def _docstore_from(data: dict | None):
    from llama_index.core.storage.docstore import SimpleDocumentStore
    from llama_index.core.storage.kvstore import SimpleKVStore

    return SimpleDocumentStore(simple_kvstore=SimpleKVStore.from_dict(data or {}))


def _schema(url: str) -> str:
    """The schema new tables go to: the first of the connection's search path that exists."""
    with connect(url) as db:
        ensure_schema(db, url, STORE, SCHEMA_VERSION, _TABLES)
        return db.execute("SELECT current_schema()").fetchone()[0]


class PostgresIndex:
    """The parts of one index in a database, saved together in one transaction (module docstring)."""

    def __init__(self, store: PostgresVectors, docstore=None, meta: dict | None = None, path: IndexTable | None = None):
        self.store = store
        self.docstore = docstore if docstore is not None else _docstore_from(None)
        self.meta = dict(meta or {})
        self.path = path

    @classmethod
    def create(cls, dim: int, meta: dict, path: IndexTable) -> PostgresIndex:
        """A new, empty index at `path`; `save` replaces whatever was there (a rebuild)."""
        store = PostgresVectors(path.url, path.table, _schema(path.url), dim, fresh=True)
        return cls(store, meta=meta, path=path)

    @staticmethod
    def exists(path: IndexTable) -> bool:
        _schema(path.url)
        with connect(path.url) as db:
            return db.execute(f"SELECT 1 FROM {STATE_TABLE} WHERE name = %s", (path.name,)).fetchone() is not None

    @staticmethod
    @contextmanager
    def lock(path: IndexTable, timeout: float = 600):
        """Hold this while reading, changing and saving an index, so writers take turns: a session
        advisory lock on (schema, name), freed by the server if the holder dies."""
        import psycopg

        schema = _schema(path.url)
        with connect(path.url) as db:
            db.execute(f"SET lock_timeout = '{int(timeout * 1000)}ms'")
            try:
                db.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (f"toolkit-index:{schema}.{path.name}",))
            except psycopg.errors.LockNotAvailable:
                raise StoreError(
                    f"another ingest has been writing the index {path} for over {timeout:g} s; wait for it to "
                    f"finish, or find it in pg_stat_activity"
                ) from None
            try:
                yield
            finally:
                if not db.broken:  # a dropped connection has freed the lock already
                    db.execute("SELECT pg_advisory_unlock_all()")

    @classmethod
    def open(cls, path: IndexTable) -> PostgresIndex:
        """Load an index's state and check it against its table; IndexCorruptError names the fix."""
        schema = _schema(path.url)
        with connect(path.url) as db, db.transaction():
            # One snapshot for the state row and the count: a writer committing between the two
            # would otherwise look like a corrupt index.
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            row = db.execute(
                f"SELECT vectors, dim, meta, docstore FROM {STATE_TABLE} WHERE name = %s", (path.name,)
            ).fetchone()
            if row is None:
                raise IndexCorruptError(f"{path} holds no index; {_fix_hint(path)}")
            table, dim, meta, docstore = row
            present = db.execute("SELECT to_regclass(%s)", (f'"{schema}"."data_{table}"',)).fetchone()[0]
            count = db.execute(f'SELECT count(*) FROM "{schema}"."data_{table}"').fetchone()[0] if present else 0
        if meta.get("format") != FORMAT_VERSION:
            raise IndexCorruptError(
                f"{path} was written in index format {meta.get('format')!r}, "
                f"this toolkit reads format {FORMAT_VERSION}; {_fix_hint(path)}"
            )
        if count != meta.get("chunks"):
            raise IndexCorruptError(
                f"{path} holds {count} chunks but its state row says {meta.get('chunks')}; {_fix_hint(path)}"
            )
        return cls(PostgresVectors(path.url, table, schema, dim), _docstore_from(docstore), meta, path)

    def save(self, path: IndexTable | None = None) -> IndexTable:
        """Write the state row and commit it with every vector written since the last save."""
        from sqlalchemy import text

        path = path or self.path
        conn = self.store.begin()
        self.meta.update(
            format=FORMAT_VERSION,
            chunks=len(self.store),
            documents=len(self.store.documents()),
            saved=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        conn.execute(
            text(
                f"INSERT INTO {STATE_TABLE} (name, vectors, dim, meta, docstore, saved) "
                "VALUES (:name, :vectors, :dim, CAST(:meta AS JSONB), CAST(:docstore AS JSONB), now()) "
                "ON CONFLICT (name) DO UPDATE SET vectors = excluded.vectors, dim = excluded.dim, "
                "meta = excluded.meta, docstore = excluded.docstore, saved = excluded.saved"
            ),
            {
                "name": path.name,
                "vectors": self.store.table,
                "dim": self.store.dim,
                "meta": json.dumps(self.meta),
                "docstore": json.dumps(self.docstore._kvstore.to_dict()),
            },
        )
        self.store.commit()
        self.path = path
        return path

    def discard(self) -> None:
        """Drop unsaved changes (a failed ingest): roll back the writer's transaction."""
        self.store.rollback()

    def close(self) -> None:
        """Return the store's connections."""
        self.store.close()

    @property
    def chunks(self) -> int:
        return len(self.store)

    def retriever(self, embed_model, top_k: int = 4, filters=None):
        """A LlamaIndex retriever over this index: cosine through HNSW, or an exact scan when
        `filters` (MetadataFilters) are given."""
        from llama_index.core import VectorStoreIndex

        index = VectorStoreIndex.from_vector_store(self.store, embed_model=embed_model)
        return index.as_retriever(similarity_top_k=top_k, filters=filters)

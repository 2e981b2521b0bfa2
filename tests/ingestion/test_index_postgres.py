"""The index in PostgreSQL (ingest(..., store=URL)) against a real server with pgvector (the
`postgres_url` fixture), with the real embedding model."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import FilterOperator, MetadataFilter, MetadataFilters, VectorStoreQuery

from conftest import PROJECT, TINY_CORPUS, write_files
from toolkit.config import load_settings
from toolkit.errors import IndexCorruptError, StoreError
from toolkit.ingestion.incremental import ingest
from toolkit.ingestion.index_postgres import STATE_TABLE, IndexTable, PostgresIndex, PostgresVectors
from toolkit.storage.postgres import SCHEMA_TABLE, connect, redacted

pytestmark = pytest.mark.usefixtures("postgres_server")


def run(corpus, url, embed_model, name="tiny", **settings):
    return ingest(
        corpus, name, settings=load_settings(**settings), embed_model=embed_model, show_progress=False, store=url
    )


def rows(url, where: IndexTable) -> list[tuple[str, str, str]]:
    """(ref_doc_id, node id, text) of every stored chunk, as another client sees them."""
    with connect(url) as db:
        return sorted(db.execute(f"SELECT metadata_->>'ref_doc_id', node_id, text FROM data_{where.table}").fetchall())


def test_ingest_into_postgres_is_incremental_and_idempotent(tmp_path, postgres_url, embed_model):
    corpus = write_files(tmp_path / "corpus", TINY_CORPUS)
    where = IndexTable(postgres_url, "tiny")
    index, report = run(corpus, postgres_url, embed_model)
    assert (report.indexed, report.chunks, report.embedded) == (sorted(TINY_CORPUS), 4, 4)
    assert report.index == f"{redacted(postgres_url)} (index 'tiny')"  # the URL as messages show it
    first = rows(postgres_url, where)
    assert [r[0] for r in first] == sorted(TINY_CORPUS)  # one chunk per file
    with connect(postgres_url) as db:
        assert db.execute(f"SELECT version FROM {SCHEMA_TABLE} WHERE store = 'vector index'").fetchone() == (1,)
        meta, docstore = db.execute(f"SELECT meta, docstore FROM {STATE_TABLE} WHERE name = 'tiny'").fetchone()
        indexes = db.execute(f"SELECT indexname FROM pg_indexes WHERE tablename = 'data_{where.table}'").fetchall()
    assert (meta["chunks"], meta["documents"], meta["dim"], sorted(meta["files"])) == (4, 4, 384, sorted(TINY_CORPUS))
    assert sorted(docstore["docstore/metadata"]) == sorted(TINY_CORPUS)  # the document hashes, for upserts
    assert sorted(indexes) == sorted(  # the HNSW index, PGVectorStore's ref_doc_id B-tree, our node_id one
        [(f"data_{where.table}_pkey",), (f"data_{where.table}_embedding_idx",), (f"{where.table}_idx_1",)]
        + [(f"{where.table}_node_id",)]
    )

    # Unchanged: nothing parsed, nothing embedded, the same rows (same node ids).
    _, report = run(corpus, postgres_url, embed_model)
    assert (report.chunks, report.embedded) == (4, 0) and rows(postgres_url, where) == first

    # A changed file re-embeds its own chunk only; a removed file's chunk leaves.
    (corpus / "returns.md").write_text("# Returns\n\nReturns are accepted within 60 days.\n", encoding="utf-8")
    (corpus / "shipping.txt").unlink()
    index, report = run(corpus, postgres_url, embed_model)
    assert (report.indexed, report.chunks, report.embedded) == (
        ["products/plug.html", "returns.md", "warranty.md"],
        3,
        1,
    )
    after = rows(postgres_url, where)
    assert [r for r in after if r[0] != "returns.md"] == [
        r for r in first if r[0] not in ("returns.md", "shipping.txt")
    ]
    assert [r[2] for r in after if r[0] == "returns.md"] == ["# Returns\n\nReturns are accepted within 60 days."]
    assert PostgresIndex.open(where).meta["files"].keys() == {"products/plug.html", "returns.md", "warranty.md"}

    # The same node twice is one row (an upsert by node id), as in the FAISS store.
    node = index.store.get_nodes([after[0][1]])[0]
    node.embedding = [0.1] * 384
    index.store.add([node, node])
    assert index.store.documents() == ["products/plug.html", "returns.md", "warranty.md"] and len(index.store) == 3
    index.discard()
    assert rows(postgres_url, where) == after  # not saved: rolled back


def test_another_embedding_model_rebuilds_with_a_note(tmp_path, postgres_url, embed_model):
    from toolkit.models.providers import embedded_embed_path

    corpus = write_files(tmp_path / "corpus", TINY_CORPUS)
    run(corpus, postgres_url, embed_model)
    # The same weights under another name: the stored embed_model id differs, so every vector is stale.
    index, report = run(corpus, postgres_url, embed_model, embed=f"local:{embedded_embed_path()}")
    assert (report.chunks, report.embedded) == (4, 4)
    assert report.notes == ["rebuilt from scratch: embed_model changed"]
    assert index.meta["embed_model"].startswith("local:/") and len(rows(postgres_url, index.path)) == 4


def test_bad_stores_are_refused_before_any_work(tmp_path, postgres_url, embed_model):
    corpus = write_files(tmp_path / "corpus", TINY_CORPUS)
    with pytest.raises(StoreError, match=r"cannot reach the store postgresql://postgres:\*\*\*@/postgres.*start the"):
        run(corpus, f"postgresql://postgres:s3cret@/postgres?host={tmp_path}", embed_model)
    run(corpus, postgres_url, embed_model)
    with connect(postgres_url) as db:
        db.execute(f"UPDATE {SCHEMA_TABLE} SET version = 2 WHERE store = 'vector index'")
    with pytest.raises(StoreError, match="holds a vector index of schema 2, newer than this toolkit's 1; upgrade"):
        run(corpus, postgres_url, embed_model)


def test_a_pipeline_opens_the_index_in_the_database(tmp_path, postgres_url, embed_model):
    from toolkit.models.extractive import ExtractiveLLM
    from toolkit.pipeline import Pipeline

    run(write_files(tmp_path / "corpus", TINY_CORPUS), postgres_url, embed_model)
    pipeline = Pipeline.open("tiny", store=postgres_url, llm=ExtractiveLLM(), embed_model=embed_model)
    assert isinstance(pipeline.index, PostgresIndex) and pipeline.index.chunks == 4
    assert pipeline.retrieve("How long is the warranty?")[0].node.ref_doc_id == "warranty.md"
    with pytest.raises(IndexCorruptError, match="holds no index; rebuild it with: python -m toolkit ingest"):
        Pipeline.open("other", store=postgres_url, llm=ExtractiveLLM(), embed_model=embed_model)


def test_writers_take_turns_through_an_advisory_lock(tmp_path, postgres_url, embed_model):
    corpus = write_files(tmp_path / "corpus", TINY_CORPUS)
    run(corpus, postgres_url, embed_model)
    done = []
    with PostgresIndex.lock(IndexTable(postgres_url, "tiny")):
        with pytest.raises(StoreError, match="another ingest has been writing the index .* for over 0.5 s; wait"):
            with PostgresIndex.lock(IndexTable(postgres_url, "tiny"), timeout=0.5):
                pass
        writer = threading.Thread(target=lambda: done.append(run(corpus, postgres_url, embed_model)[1]))
        writer.start()
        time.sleep(1.0)
        assert done == []  # waiting for the lock
    writer.join(timeout=60)
    assert done[0].embedded == 0 and done[0].chunks == 4


# An ingest that is killed after two batches of chunks went into the database. Its embedding model
# is the real one, one text per batch (so 8 chunks per store write), pausing at the 20th text.
KILLED = textwrap.dedent("""
    import sys, time
    from typing import Any
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.bridge.pydantic import PrivateAttr
    from toolkit.config import load_settings
    from toolkit.ingestion.incremental import ingest
    from toolkit.models.providers import make_embed_model

    class Pausing(BaseEmbedding):
        _inner: Any = PrivateAttr()
        _texts: int = PrivateAttr(default=0)

        def __init__(self, inner):
            super().__init__(model_name=inner.model_name, embed_batch_size=1)
            self._inner = inner

        def _get_text_embeddings(self, texts):
            self._texts += len(texts)
            if self._texts >= 20:
                print("midway", flush=True)
                time.sleep(600)
            return self._inner._get_text_embeddings(texts)

        def _get_text_embedding(self, text):
            return self._get_text_embeddings([text])[0]

        def _get_query_embedding(self, query):
            return self._inner._get_query_embedding(query)

        async def _aget_query_embedding(self, query):
            return self._get_query_embedding(query)

    settings = load_settings()
    ingest(sys.argv[1], "tiny", settings=settings, embed_model=Pausing(make_embed_model(settings)),
           show_progress=False, store=sys.argv[2])
""")


def test_a_killed_ingest_leaves_readers_the_previous_complete_index(tmp_path, postgres_url, embed_model):
    corpus = write_files(tmp_path / "corpus", TINY_CORPUS)
    where = IndexTable(postgres_url, "tiny")
    run(corpus, postgres_url, embed_model)
    before, state = rows(postgres_url, where), PostgresIndex.open(where).meta

    # The next run changes one file, removes one, adds 30: 31 chunks to embed, 4 store writes.
    (corpus / "returns.md").write_text("# Returns\n\nReturns are accepted within 60 days.\n", encoding="utf-8")
    (corpus / "shipping.txt").unlink()
    write_files(
        corpus,
        {f"notes/n{i:02d}.txt": f"Note {i}: the store on street {i} opens at {i % 12 + 1}.\n" for i in range(30)},
    )
    env = {"PYTHONPATH": str(PROJECT), "PATH": "/usr/bin:/bin", "TOOLKIT_HOME": str(tmp_path / "home")}
    child = subprocess.Popen([sys.executable, "-c", KILLED, str(corpus), postgres_url], stdout=subprocess.PIPE, env=env)
    try:
        assert child.stdout.readline() == b"midway\n"
        # While it waits, with rows written in its open transaction, readers see the previous index.
        assert rows(postgres_url, where) == before and PostgresIndex.open(where).meta == state
        with connect(postgres_url) as db:
            assert (
                db.execute("SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'").fetchone()[0]
                >= 1
            )
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        child.kill()

    # Readers see the previous index, whole: its rows (the old returns.md, shipping.txt) and state.
    assert rows(postgres_url, where) == before
    assert PostgresIndex.open(where).meta == state

    # The next run does the whole change once: nothing lost, nothing twice.
    index, report = run(corpus, postgres_url, embed_model)
    assert (report.chunks, report.embedded) == (33, 31)
    after = rows(postgres_url, where)
    assert sorted(r[0] for r in after) == sorted(report.indexed) and len({r[1] for r in after}) == 33
    assert [r for r in after if r[0] in ("products/plug.html", "warranty.md")] == [
        r for r in before if r[0] in ("products/plug.html", "warranty.md")
    ]


def node(i: int, doc: str, vector, date: str) -> TextNode:
    n = TextNode(
        id_=f"n{i:05d}", text=f"chunk {i}", embedding=list(map(float, vector)), metadata={"effective_date": date}
    )
    n.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=doc)
    return n


def test_filtered_queries_are_exact_where_hnsw_misses(postgres_url):
    """3,000 vectors near the query outside the filter, 40 farther inside it (a date window, and a
    document): HNSW's ef_search 40 candidates are all outside, so PGVectorStore's date-filtered
    query through HNSW returns no row, while the store's filtered query returns the brute-force top 10.

    At 3,040 rows the planner prefers a sequential scan; at 100,000 it takes the HNSW index
    (bench_pgvector). The test gives the planner that preference with `enable_seqscan = off`, so
    the HNSW plan is what runs, and checks that the exact path holds even then."""
    rng = np.random.default_rng(7)
    dim, query = 16, np.eye(16)[0]
    near = query + 0.3 * rng.standard_normal((3000, dim))  # cosine about 0.6 to 0.9 to the query
    far = rng.standard_normal((40, dim))  # about 0 to the query
    vectors = np.vstack([near, far])
    nodes = [node(i, "old.md", v, "2021-03-01") for i, v in enumerate(near)]
    nodes += [node(3000 + i, "new.md", v, "2024-06-01") for i, v in enumerate(far)]
    nodes += [node(9000, "bob's notes.md", -query, "2024-06-01")]  # a quote in a filter's value
    where = IndexTable(postgres_url, "filters")
    index = PostgresIndex.create(dim, {}, where)
    index.store.add(nodes)
    index.save()
    with connect(postgres_url) as db:
        db.execute(f"ANALYZE data_{where.table}")
    index = PostgresIndex.open(where)
    # The same table, on connections whose planner avoids sequential scans, as on a large table.
    large = PostgresVectors(postgres_url + "%20-c%20enable_seqscan%3Doff", where.table, index.store.schema_, dim)

    assert index.store.query(
        VectorStoreQuery(
            query_embedding=query.tolist(),
            similarity_top_k=10,
            filters=MetadataFilters(filters=[MetadataFilter(key="ref_doc_id", value="bob's notes.md")]),
        )
    ).ids == ["n09000"]
    vectors = vectors[:3040]
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    inside = np.arange(3000, 3040)
    truth = [f"n{i:05d}" for i in inside[np.argsort(-(unit[inside] @ query))][:10]]
    since = MetadataFilter(key="effective_date", value="2024-01-01", operator=FilterOperator.GTE)
    document = MetadataFilter(key="ref_doc_id", value="new.md")
    for filters in (MetadataFilters(filters=[since]), MetadataFilters(filters=[document])):
        asked = VectorStoreQuery(query_embedding=query.tolist(), similarity_top_k=10, filters=filters)
        hnsw = large._store("hnsw").query(asked)  # PGVectorStore's own filtered query
        if filters.filters[0] is since:  # through HNSW: it filters the 40 candidates, all outside
            assert hnsw.ids == []
        else:  # PGVectorStore puts a B-tree on ref_doc_id, and the planner takes it: exact already
            assert hnsw.ids == truth
        for exact in (index.store.query(asked), large.query(asked), asyncio.run(index.store.aquery(asked))):
            assert exact.ids == truth
            assert np.allclose(exact.similarities, np.sort(unit[inside] @ query)[::-1][:10], atol=1e-6)
    # Unfiltered, the HNSW path answers (and here finds the true top 10 of the near vectors).
    plain = index.store.query(VectorStoreQuery(query_embedding=query.tolist(), similarity_top_k=10))
    assert plain.ids == [f"n{i:05d}" for i in np.argsort(-(unit @ query))[:10]]
    index.close()
    large.close()


def test_the_bundled_pipeline_on_postgres_retrieves_as_faiss_flat(postgres_url):
    """Pipeline.from_config with `store: postgresql://...` puts the index in the database; its dense
    retriever (HNSW) returns the same top 3 chunks (settings.top_k) as FAISS flat over the same vectors, with scores
    equal to 1e-5, for every question of the bundled evaluation set; hybrid works on it too."""
    from llama_index.core.schema import QueryBundle

    from toolkit.ingestion.vectorstore import FaissStore
    from toolkit.pipeline import Pipeline
    from toolkit.pipeline_config import PipelineConfig
    from toolkit.retrieval import make_retriever

    config = PipelineConfig.model_validate({"name": "pg", "corpus": "bundled", "store": postgres_url})
    pipeline = Pipeline.from_config(config)
    index = pipeline.index
    assert isinstance(index, PostgresIndex) and index.chunks == 357
    questions = [json.loads(line)["question"] for line in (PROJECT / "datasets/tidewell/eval/questions.jsonl").open()]

    with connect(postgres_url) as db:
        stored = db.execute(f"SELECT node_id, embedding::text FROM data_{index.store.table}").fetchall()
    nodes = {n.node_id: n for n in index.store.get_nodes()}
    flat = FaissStore.create(384)
    flat.add([nodes[i].model_copy(update={"embedding": json.loads(v)}) for i, v in stored])
    assert len(questions) == 106 and (k := pipeline.settings.top_k) == 3
    # Embedded once, in one batch (MiniLM embeds a query as it embeds a text), for both sides.
    embeddings = pipeline.embed_model.get_text_embedding_batch(questions)
    assert np.allclose(embeddings[0], pipeline.embed_model.get_query_embedding(questions[0]), atol=1e-6)
    for question, embedding in zip(questions, embeddings):
        want = flat.query(VectorStoreQuery(query_embedding=embedding, similarity_top_k=k))
        got = pipeline.retriever.retrieve(QueryBundle(question, embedding=embedding))
        assert [h.node.node_id for h in got] == want.ids, question
        assert np.allclose([h.score for h in got], want.similarities, atol=1e-5), question

    hybrid = make_retriever("hybrid", index, pipeline.embed_model, top_k=4)
    hits = hybrid.retrieve("How long do I have to return an item?")
    assert len(hits) == 4 and "policies/returns.md" in [h.node.ref_doc_id for h in hits]


def test_the_command_line_ingests_into_postgres_and_shows_no_password(tmp_path, postgres_url):
    """`ingest --store URL`: the index lands in the database, and a password in the URL (the test
    server trusts its socket, so it is accepted and ignored) appears in no output or log line."""
    url = postgres_url.replace("postgresql://postgres:@", "postgresql://postgres:s3cret@", 1)
    corpus = write_files(tmp_path / "corpus", TINY_CORPUS)
    env = {k: v for k, v in os.environ.items() if k not in ("TOOLKIT_HOME",)} | {"TOOLKIT_HOME": str(tmp_path / "h")}
    done = subprocess.run(
        [sys.executable, "-m", "toolkit", "ingest", str(corpus), "--index", "cli", "--store", url, "--json"],
        cwd=PROJECT,
        env=env | {"PYTHONPATH": str(PROJECT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["chunks"], report["embedded"], report["index"]) == (4, 4, f"{redacted(url)} (index 'cli')")
    assert "s3cret" not in done.stdout + done.stderr and ":***@" in report["index"]
    index = PostgresIndex.open(IndexTable(url, "cli"))
    assert "s3cret" not in repr(index.store) + str(index.path) + repr(index.store._store("hnsw"))
    assert len(rows(postgres_url, index.path)) == 4
    index.close()

"""Ingestion on a real local Ray cluster (two workers) against the single process: the same chunk
ids, texts, FAISS ids and report, vectors equal to 8 float32 ulps; incremental on Ray too; and a
worker process that dies mid-batch loses no chunk and doubles none.

Why not bit for bit: each worker runs torch with one thread (2 cores / 2 workers), the single
process with two, and MKL's sgemm splits the reduction of a small product (a batch of 4 short
chunks here) between threads, so sums are added in another order: measured max |difference|
1.29e-7 on these vectors. With MKL_CBWR=AVX2,STRICT (MKL's reproducible mode) it is 0.0, and at
the default batch of 64 texts it was 0.0 too (benchmarks/bench_ray_ingest.py checks the bundled
corpus). The bound: a component of a unit vector is at most 1, where one float32 ulp is 2**-23; a
reordered sum moves the result by a few ulps, so 8 ulps of 1.0, 2**-20 (9.5e-7), is allowed."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import write_files
from toolkit.config import load_settings
from toolkit.ingestion.incremental import ingest
from toolkit.ingestion.ray_ingest import CRASH_ONCE
from toolkit.pipeline_config import RayConfig

# Eleven one-chunk notes and a handbook of three sections of four rules, two chunks each at 64 tokens:
# 17 chunks, which the model embeds in batches of 4 (set below): 5 batches over 2 workers.
FILES = {f"note{i:02d}.txt": f"Note number {i} is about topic {i * 7}, filed on day {i + 1}.\n" for i in range(11)}
FILES["handbook.md"] = "\n\n".join(
    f"# Part {p}\n\n" + " ".join(f"Rule {p}.{r} says that item {r} ships within {r + p} days." for r in range(4))
    for p in range(3)
)
CHUNKS = 17


@pytest.fixture
def small_batches(embed_model, monkeypatch):
    monkeypatch.setattr(embed_model, "embed_batch_size", 4)  # the workers build theirs with the same size
    return embed_model


def run(corpus, index_dir, embed_model, ray=None):
    settings = load_settings(chunk_size=64)
    return ingest(corpus, index_dir, settings=settings, embed_model=embed_model, show_progress=False, ray=ray)


def contents(index) -> tuple:
    """Everything the store holds, in FAISS id order: ids, chunk ids and texts, vectors."""
    faiss_ids, vectors = index.store._stored_vectors()
    nodes = [index.store._nodes[i] for i in faiss_ids.tolist()]
    return faiss_ids.tolist(), [(n.node_id, n.ref_doc_id, n.text) for n in nodes], vectors


def assert_same(a, b) -> None:
    ids_a, nodes_a, vectors_a = contents(a)
    ids_b, nodes_b, vectors_b = contents(b)
    assert (ids_a, nodes_a) == (ids_b, nodes_b)
    assert vectors_a.dtype == vectors_b.dtype == np.float32 and vectors_a.shape == vectors_b.shape
    difference = float(np.abs(vectors_a - vectors_b).max())
    assert difference <= 2**-20, difference  # see the module docstring


def same_report(a, b) -> dict:
    strip = lambda r: {k: v for k, v in r.to_dict().items() if k not in ("seconds", "index")}  # noqa: E731
    assert strip(a) == strip(b)
    return strip(a)


def test_ray_ingest_gives_the_single_process_index_and_report_and_is_incremental(ray_cluster, tmp_path, small_batches):
    corpus = write_files(tmp_path / "corpus", FILES)
    local, local_report = run(corpus, tmp_path / "local", small_batches)
    on_ray, ray_report = run(corpus, tmp_path / "ray", small_batches, ray=RayConfig(workers=2))
    assert_same(local, on_ray)
    report = same_report(local_report, ray_report)
    assert (report["chunks"], report["embedded"], len(report["indexed"])) == (CHUNKS, CHUNKS, 12)
    assert contents(on_ray)[0] == list(range(CHUNKS))

    _, again = run(corpus, tmp_path / "ray", small_batches, ray=2)
    assert (again.chunks, again.embedded) == (CHUNKS, 0)

    (corpus / "note03.txt").write_text("Note number 3 moved to topic 99.\n")
    before = {n.ref_doc_id: n.node_id for n in on_ray.store.get_nodes()}
    local, local_report = run(corpus, tmp_path / "local", small_batches)
    on_ray, ray_report = run(corpus, tmp_path / "ray", small_batches, ray=2)
    assert (ray_report.chunks, ray_report.embedded) == (CHUNKS, 1)  # only the changed note
    same_report(local_report, ray_report)
    assert_same(local, on_ray)
    after = {n.ref_doc_id: n.node_id for n in on_ray.store.get_nodes()}
    assert {doc for doc in after if after[doc] != before[doc]} == {"note03.txt"}


def test_a_worker_that_dies_mid_batch_loses_nothing(ray_cluster, tmp_path, small_batches, monkeypatch):
    corpus = write_files(tmp_path / "corpus", FILES)
    local, local_report = run(corpus, tmp_path / "local", small_batches)
    marker = tmp_path / "crashed"
    monkeypatch.setenv(CRASH_ONCE, f"{marker}:8")  # the worker given chunks 8-11 exits on its first try
    on_ray, ray_report = run(corpus, tmp_path / "ray", small_batches, ray=2)
    assert marker.exists()  # the process did exit (os._exit right after creating the marker)
    assert_same(local, on_ray)  # the batch was embedded again, once: 17 chunks, ids 0..16
    same_report(local_report, ray_report)

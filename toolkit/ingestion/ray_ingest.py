"""Embedding the chunks of new and changed documents on Ray Data: N workers, one index, the same one.

`ingest(..., ray=RayConfig(workers=2))` (or `ray: {workers: 2}` in a pipeline configuration)
keeps everything else of incremental.py where it is: files are hashed and parsed on the driver
under the parse budget, LlamaIndex's docstore decides which documents changed and drops their
old chunks, and chunking runs there too. Only embedding, nearly all of the time, goes to Ray:

    >>> index, report = ingest("datasets/tidewell/corpus", "/tmp/i", ray=2)   # doctest: +SKIP

- The chunks go out as the embedding model's own batches, one dataset row each, to an actor
  pool (`map_batches`): every actor loads the model once, with cores / workers torch threads.
  The model sees exactly the batches the single process gives it, so the vectors are the same
  bits (a batch cut elsewhere pads differently and moves vectors by up to 1.4e-7 here), and
  chunking stays on the driver for that reason: per-document batches on the workers would cut
  the model's batches at document boundaries (chunking the bundled corpus takes 0.09 s of about
  9 s of ingestion: 1%, benchmarks/bench_ray_ingest.py).
- Results stream back in order (`iter_batches`, order preserved) and the driver adds each
  batch to the store and drops its vectors: peak memory stays bounded as in the single process,
  and the store's FAISS ids come out the same.
- A worker that dies mid-batch is restarted and its batch run again (`max_restarts`,
  `max_task_retries`); the batch's vectors arrive once, so nothing is lost or doubled.

Not `llama-index-ingestion-ray`: it turns the transformation cache off and collects every
node of the run on the driver, and its pipeline knows nothing of the docstore upserts, file
hashes and per-file report that make ingestion incremental here.

Test hook: with TOOLKIT_RAY_CRASH_ONCE=<marker file>:<first chunk of a batch> in the driver's
environment, the worker that gets that batch first creates the marker file and exits its
process; its retry finds the marker and embeds the batch (tests/ingestion/test_ray_ingest.py).

Not here: which documents to embed (incremental.py) or the cluster itself (toolkit/ray_cluster.py).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

from ..config import Settings

__all__ = ["embed_on_ray", "CRASH_ONCE"]

CRASH_ONCE = "TOOLKIT_RAY_CRASH_ONCE"
# A worker that keeps dying on one batch is a bug to report, not to retry forever (Ray Data's
# default); a few restarts ride out a killed process or a lost node.
RETRIES = 3


class _Embedder:
    """One Ray worker: the embedding model loaded once, then one model batch per call."""

    def __init__(self, settings: dict, threads: int, batch_size: int, crash_once: str | None = None):
        import torch

        from ..models.providers import make_embed_model

        torch.set_num_threads(threads)
        self.model = make_embed_model(Settings(**settings), batch_size=batch_size)
        self.crash_once = crash_once

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        vectors = []
        for start, texts in zip(batch["start"], batch["texts"]):
            self._maybe_crash(int(start))
            embeddings = self.model.get_text_embedding_batch([str(t) for t in texts])
            vectors.append(np.asarray(embeddings, dtype="float32").tobytes())
        return {"start": np.asarray(batch["start"]), "vectors": np.asarray(vectors, dtype=object)}

    def _maybe_crash(self, start: int) -> None:
        if self.crash_once:
            marker, at = self.crash_once.rsplit(":", 1)
            if start == int(at) and not Path(marker).exists():
                Path(marker).touch()
                os._exit(1)  # the process dies as a killed worker does: no exception, no cleanup


def embed_on_ray(store, nodes: list, settings: Settings, ray_config, batch_size: int, show_progress: bool) -> None:
    """Embed `nodes` on Ray in the model's batches of `batch_size` and add them to `store` in order."""
    import numpy as np
    from llama_index.core.schema import MetadataMode

    from ..ray_cluster import connect, cpus_per_worker

    if not nodes:
        return
    connect(ray_config)  # imports ray, or says how to install it
    import ray
    import ray.data

    # Ray Data's INFO lines per run name its session folder under /tmp; they stay in Ray's logs
    # (set here: importing ray.data configures its logger afresh).
    logging.getLogger("ray.data").setLevel(logging.ERROR)

    texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]  # what embed_model(nodes) embeds
    rows = [{"start": s, "texts": texts[s : s + batch_size]} for s in range(0, len(texts), batch_size)]
    workers = min(ray_config.workers, len(rows))  # no idle worker
    threads = cpus_per_worker(ray, workers)
    context = ray.data.DataContext.get_current()
    saved = (context.execution_options.preserve_order, context.enable_progress_bars)
    context.execution_options.preserve_order = True  # the store's ids follow the chunks' order
    context.enable_progress_bars = show_progress
    try:
        with warnings.catch_warnings():
            # Ray 2.60 deprecates passing actor options (max_restarts, ...) as keywords and names no
            # replacement; without them a batch that kills its worker every time is retried forever.
            warnings.filterwarnings("ignore", "`ray_remote_args` is deprecated", DeprecationWarning)
            embedded = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
                _Embedder,
                fn_constructor_kwargs={
                    "settings": settings.model_dump(),
                    "threads": threads,
                    "batch_size": batch_size,
                    "crash_once": os.environ.get(CRASH_ONCE),
                },
                batch_size=1,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=workers),
                num_cpus=threads,
                max_restarts=RETRIES,
                max_task_retries=RETRIES,
            )
        expected = 0
        for batch in embedded.iter_batches(batch_size=None, batch_format="numpy"):
            for start, raw in zip(batch["start"], batch["vectors"]):
                if int(start) != expected:  # a reordered or repeated batch would make another index
                    raise RuntimeError(f"Ray returned the batch at chunk {int(start)}, expected {expected}")
                chunk = nodes[expected : expected + batch_size]
                vectors = np.frombuffer(raw, dtype="float32").reshape(len(chunk), -1)
                for node, vector in zip(chunk, vectors):
                    node.embedding = vector.tolist()  # as embed_model(nodes) sets it
                store.add(chunk)
                for node in chunk:
                    node.embedding = None
                expected += len(chunk)
    finally:
        context.execution_options.preserve_order, context.enable_progress_bars = saved
    if expected != len(nodes):
        raise RuntimeError(f"Ray returned {expected} of {len(nodes)} chunks")

"""Ingest a folder: load, clean, chunk, embed, and write a FAISS index, incrementally.

Two layers decide what to redo. The index keeps a SHA-256 of every file's bytes, so an unchanged
file is not even parsed. LlamaIndex's IngestionPipeline, with a docstore of document hashes
(upsert strategy), replaces the chunks of a changed document. Re-ingesting an unchanged folder
embeds nothing; a changed file re-embeds only its own chunks; a removed file's chunks leave the
index. (IngestionPipeline's transformation cache is off: it is keyed on a whole batch of nodes,
so it never hit on a changed corpus, while it held three quarters of the index's bytes.)

Each new or changed file is parsed in a worker process under the `ingest_file_timeout_s` and
`ingest_file_memory_mib` budgets (loaders.parse_in): a file over one is skipped, named in the
report with the budget and the setting that raises it, and not recorded as done, so the next run
tries it again. The index is written once, after every file was read, or not at all.

Chunks are embedded and stored a batch at a time (EMBED_BATCHES of the model's own batches), and
each batch's embeddings are dropped once the store holds them: peak memory grows with the
corpus's text, not with its embeddings (benchmarks/bench_ingest_memory.py measures it). With
`ray=` (a RayConfig or a number of workers) the embedding runs on Ray workers instead
(ray_ingest.py), and the index comes out the same.

    >>> index, report = ingest("datasets/tidewell/corpus", "/tmp/tidewell-index")   # doctest: +SKIP
    >>> report.chunks, len(report.skipped)                                          # doctest: +SKIP
    (357, 0)

With `store="postgresql://..."` the index goes to that database instead (index_postgres.py): the
index's name is the folder's name, the vectors a pgvector table, one transaction per run, and the
checks of `storage.check_store` (reachable, pgvector, no newer schema) before any file is read.

    >>> index, report = ingest("corpus", "tidewell", store="postgresql:///toolkit")  # doctest: +SKIP

Not here: loaders for each format (loaders.py) and the layouts (index.py, index_postgres.py).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..config import Settings, load_settings
from ..errors import IndexCorruptError, IngestError
from ..models.providers import embed_model_id, make_embed_model
from .chunking import make_chunker
from .index import Index
from .index_postgres import IndexTable
from .loaders import PARSER_VERSION, SkipFile, Skipped, parse_in, parser_worker, read_file, scan_folder
from .persist import VersionedFolder

__all__ = ["IngestReport", "ingest", "default_index_dir"]

# How many of the embedding model's batches are embedded and stored at a time: a whole multiple,
# so the model sees exactly the batches it would see embedding everything at once.
EMBED_BATCHES = 8
# Index parameters that indexes written before the parameter existed were built with.
LEGACY_PARAMS = {"chunking": "sentence", "parser": 1}


@dataclass
class IngestReport:
    """What one ingestion run did, file by file."""

    source: str
    index: str = ""
    indexed: list[str] = field(default_factory=list)  # doc ids (relative paths) now in the index
    skipped: list[Skipped] = field(default_factory=list)
    decoded: dict[str, str] = field(
        default_factory=dict
    )  # doc id -> encoding, for text read this run that was not UTF-8
    chunks: int = 0  # chunks in the index after the run
    embedded: int = 0  # chunks of new or changed files this run (0 when nothing changed)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # e.g. why the index was rebuilt

    def to_dict(self) -> dict:
        return {
            "indexed": self.indexed,
            "skipped": [asdict(s) for s in self.skipped],
            "decoded": self.decoded,
            "chunks": self.chunks,
            "embedded": self.embedded,
            "seconds": self.seconds,
            "source": self.source,
            "index": self.index,
            "notes": self.notes,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def frame(self):
        """One row per file: path, status (indexed or skipped) and reason (for an indexed file,
        the encoding it was decoded from when that was not UTF-8)."""
        import pandas as pd

        rows = [{"path": p, "status": "indexed", "reason": _decoded_as(self.decoded.get(p))} for p in self.indexed]
        rows += [{"path": s.path, "status": "skipped", "reason": s.reason} for s in self.skipped]
        return pd.DataFrame(rows, columns=["path", "status", "reason"]).sort_values("path", ignore_index=True)

    def __str__(self) -> str:
        files = "file" if len(self.indexed) == 1 else "files"
        lines = [
            f"indexed {len(self.indexed)} {files} into {self.chunks} chunks "
            f"({self.embedded} embedded this run) in {self.seconds:.1f} s"
        ]
        lines += [f"  read {path}: {_decoded_as(encoding)}" for path, encoding in sorted(self.decoded.items())]
        lines += [f"  skipped {s.path}: {s.reason}" for s in self.skipped]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def _decoded_as(encoding: str | None) -> str:
    return f"decoded as {encoding} (not UTF-8)" if encoding else ""


def default_index_dir(settings: Settings, source: str | Path) -> Path:
    """Where an index of `source` lives unless told otherwise: `<home>/indexes/<name>-<hash>`,
    the hash of the full path keeping two folders of the same name apart."""
    resolved = Path(source).expanduser().resolve()
    digest = hashlib.sha256(str(resolved).encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return settings.index_root / f"{resolved.name or 'root'}-{digest}"


def _open_compatible(kind, path, params: dict, notes: list[str]):
    """The index (of class `kind`) at `path` if it exists, is intact, and used the same embedding
    and chunking."""
    if not kind.exists(path):
        return None
    try:
        index = kind.open(path)
    except IndexCorruptError as exc:  # ingesting again is the documented fix: rebuild
        notes.append(f"rebuilt from scratch: the previous index was unreadable ({exc})")
        return None
    changed = [k for k, v in params.items() if index.meta.get(k, LEGACY_PARAMS.get(k)) != v]
    if changed:  # another embedding model, chunking or parser makes every stored chunk stale
        notes.append(f"rebuilt from scratch: {', '.join(changed)} changed")
        return None
    return index


def ingest(
    source: str | Path,
    index_dir: str | Path | None = None,
    *,
    settings: Settings | None = None,
    embed_model=None,
    show_progress: bool = True,
    store: str | None = None,
    ray=None,
) -> tuple[Index, IngestReport]:
    """Index the documents under `source` into `index_dir` and report what happened per file.

    Only new and changed files are parsed and embedded: a file is unchanged when the SHA-256 of
    its bytes matches the one stored with the index. Raises IngestError (with `.report`
    attached) when no file could be indexed; the index on disk is then left as it was.
    `store`, a `postgresql://` URL, puts the index in that database under `index_dir`'s name
    (a PostgresIndex); the default keeps it in the folder `index_dir`.
    `ray`: a RayConfig or a number of workers to embed on Ray (their workers build the model
    `settings.embed` names; `embed_model` then only measures the dimension of a new index).
    """
    from ..ray_cluster import ray_config

    started = time.perf_counter()
    settings = settings or load_settings()
    source = Path(source).expanduser()
    index_dir = Path(index_dir).expanduser() if index_dir else default_index_dir(settings, source)
    kind, where, exclude = Index, index_dir, [index_dir, VersionedFolder(index_dir).lock_path]
    if store is not None:
        kind, where, exclude = _database(store), IndexTable(str(store), index_dir.name), []
    report = IngestReport(source=str(source), index=str(where))
    params = {
        "embed_model": embed_model_id(settings),
        "chunk_size": settings.chunk_size,
        "chunk_overlap": settings.chunk_overlap,
        "chunking": settings.chunking,
        "parser": PARSER_VERSION,
    }

    candidates, report.skipped = scan_folder(source, exclude=exclude)
    try:
        with kind.lock(where):  # one writer at a time: read, change and save as one step
            index = _ingest_locked(
                kind, source, where, candidates, params, report, settings, embed_model, show_progress, ray_config(ray)
            )
    finally:
        report.seconds = round(time.perf_counter() - started, 3)
    report.chunks = index.chunks
    return index, report


def _database(url: str):
    """PostgresIndex, once the database passed the checks that come before any work."""
    from ..errors import ConfigError
    from ..storage import check_store, is_database_url
    from .index_postgres import SCHEMA_VERSION, STORE, PostgresIndex

    if not is_database_url(url):
        raise ConfigError(f"store must be a postgresql:// URL (got {url!r}); leave it out for an index folder")
    check_store(url, known={STORE: SCHEMA_VERSION})
    return PostgresIndex


def _ingest_locked(
    kind,
    source: Path,
    index_dir,
    candidates,
    params: dict,
    report: IngestReport,
    settings: Settings,
    embed_model,
    show_progress: bool,
    ray,
) -> Index:
    from tqdm.auto import tqdm

    index = _open_compatible(kind, index_dir, params, report.notes)
    known = index.meta.get("files", {}) if index else {}
    stored = set(index.store.documents()) if index else set()
    fingerprints: dict[str, str] = {}  # doc id -> SHA-256 of the file's bytes
    changed = []  # Documents of new or changed files
    max_bytes = int(settings.max_file_mb * 1_000_000)
    # The worker starts on the first file that needs parsing: an unchanged folder starts none.
    with parser_worker(settings.ingest_file_timeout_s, settings.ingest_file_memory_mib) as worker:
        for path, doc_id in tqdm(candidates, desc="Reading files", unit="file", disable=not show_progress):
            try:
                data = read_file(path, max_bytes)
                digest = hashlib.sha256(data).hexdigest()
                if known.get(doc_id) != digest or doc_id not in stored:
                    document = parse_in(worker, data, path.suffix, doc_id)
                    changed.append(document)
                    if "encoding" in document.metadata:
                        report.decoded[doc_id] = document.metadata["encoding"]
                # Recorded only once read: a skipped file is not done, and the next run tries it.
                fingerprints[doc_id] = digest
            except SkipFile as skip:
                report.skipped.append(Skipped(doc_id, str(skip)))
    report.skipped.sort(key=lambda s: s.path)
    report.indexed = sorted(fingerprints)

    if not fingerprints:
        error = IngestError(
            f"no file in {source} could be indexed ({len(report.skipped)} skipped; "
            f"supported: .md .txt .html .pdf); the index was not changed"
        )
        error.report = report
        raise error

    removed = stored - set(fingerprints)  # deleted files, and files that are now skipped
    if index is None or changed or removed:
        embed_model = embed_model or make_embed_model(settings)
        if index is None:
            dim = len(embed_model.get_text_embedding("dimension probe"))
            index = kind.create(dim, meta=params, path=index_dir)
        try:
            for doc_id in sorted(removed):
                index.store.delete(doc_id)
                index.docstore.delete_document(doc_id, raise_error=False)
            report.embedded = len(_run_pipeline(index, changed, embed_model, settings, show_progress, ray))
            index.meta.update(params, dim=index.store.dim, files=fingerprints, source=str(source.resolve()))
            index.save(index_dir)
        except BaseException:
            index.discard()  # a database index rolls its transaction back now, not when collected
            raise
    return index


def _run_pipeline(
    index: Index, documents: list, embed_model, settings: Settings, show_progress: bool, ray=None
) -> list:
    """Chunk and embed `documents` into the index; LlamaIndex's docstore skips unchanged texts
    and replaces the chunks of changed ones. Returns the new chunks, without their embeddings.
    With `ray` (a RayConfig) the chunks are embedded on Ray, in the same batches."""
    if not documents:
        return []
    from llama_index.core.ingestion import DocstoreStrategy, IngestionPipeline
    from tqdm.auto import tqdm

    # The pipeline chunks, and (with the store) deletes the old chunks of changed documents; it
    # embeds nothing, because it would hold every embedding of the run as Python lists at once.
    pipeline = IngestionPipeline(
        transformations=make_chunker(settings.chunking, settings.chunk_size, settings.chunk_overlap),
        docstore=index.docstore,
        vector_store=index.store,
        docstore_strategy=DocstoreStrategy.UPSERTS,
        disable_cache=True,
    )
    nodes = pipeline.run(documents=documents, show_progress=show_progress, store_doc_text=False)
    model_batch = max(1, int(getattr(embed_model, "embed_batch_size", 10)))
    if ray is not None:
        from .ray_ingest import embed_on_ray

        embed_on_ray(index.store, nodes, settings, ray, model_batch, show_progress)
        return nodes
    step = model_batch * EMBED_BATCHES
    for start in tqdm(range(0, len(nodes), step), desc="Embedding", unit="batch", disable=not show_progress):
        batch = nodes[start : start + step]
        embed_model(batch)  # sets each node's .embedding
        index.store.add(batch)  # the store keeps normalized float32 vectors, not the lists
        for node in batch:
            node.embedding = None
    return nodes

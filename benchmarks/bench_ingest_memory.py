"""Peak memory of ingestion at two corpus sizes: the bundled corpus and four copies of it.
Target: peak traced memory grows by less than one embedding-as-a-Python-list (about 12.3 KB, the
way LlamaIndex nodes carry embeddings) per extra chunk. Holding every embedding of a run at once
would by itself grow it by at least that much per chunk; what does grow is the chunks' text.

    python benchmarks/bench_ingest_memory.py [--copies 4] [--baseline GIT_REV]

`--baseline` measures the toolkit of an earlier commit the same way, side by side (its
`toolkit/` is taken with `git archive` into a temporary folder and put first on PYTHONPATH).

Each size runs in a fresh subprocess: load and warm the embedding model, then ingest into an
empty temporary index with `tracemalloc` on (it traces every Python allocation, which is where
embedding lists live; torch's own buffers are not traced). Peak RSS (ru_maxrss) is reported too,
but it is dominated by the model and torch. An embedding as a Python list of 384 floats takes
384 * (24 + 8) bytes + the list header: about 12.4 KB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

from _common import record

LIST_BYTES = sys.getsizeof([0.0] * 384) + 384 * sys.getsizeof(1.5)  # one embedding as a Python list


def measure(copies: int) -> dict:
    """Run in the child: ingest `copies` copies of the bundled corpus; report peak memory."""
    import toolkit
    from toolkit.demo.datasets import tidewell_corpus
    from toolkit.ingestion.incremental import ingest
    from toolkit.models.providers import make_embed_model

    settings = toolkit.setup_notebook()
    embed_model = make_embed_model(settings)
    embed_model.get_text_embedding("warm up")
    work = Path(tempfile.mkdtemp(prefix="ingest-memory-"))
    try:
        for c in range(copies):
            shutil.copytree(tidewell_corpus(), work / "corpus" / f"copy{c}")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        index, report = ingest(
            work / "corpus", work / "index", settings=settings, embed_model=embed_model, show_progress=False
        )
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        import toolkit.ingestion.incremental

        return {
            "copies": copies,
            "chunks": report.chunks,
            "seconds": report.seconds,
            "batched_embedding": hasattr(toolkit.ingestion.incremental, "EMBED_BATCHES"),  # which toolkit ran
            "traced_peak_mb": round(peak / 1e6, 2),
            "rss_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3, 1),
            "rss_growth_during_ingest_mb": round(
                (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1e3, 1
            ),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--baseline", help="a git revision whose toolkit/ to measure side by side")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        if os.environ.get("BASELINE_TOOLKIT"):
            # The editable install's finder would import the working tree's toolkit ahead of PYTHONPATH.
            sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
        print(json.dumps(measure(args.child)))
        return
    results = {"embedding_list_kb": round(LIST_BYTES / 1e3, 2), "copies": [1, args.copies]}
    results["toolkit"] = growth(args.copies, None)
    if args.baseline:
        with tempfile.TemporaryDirectory(prefix="toolkit-baseline-") as folder:
            archive = subprocess.run(
                ["git", "archive", args.baseline, "toolkit"],
                check=True,
                capture_output=True,
                cwd=Path(__file__).resolve().parents[1],
            ).stdout
            subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
            results["baseline"] = {"revision": args.baseline, **growth(args.copies, folder)}
    results["target"] = "toolkit growth_per_extra_chunk_kb < embedding_list_kb"
    results["met"] = results["toolkit"]["growth_per_extra_chunk_kb"] < results["embedding_list_kb"]
    record("ingest_memory", results)


def growth(copies: int, pythonpath: str | None) -> dict:
    """Measure 1 and `copies` copies, each in a fresh process; the growth per extra chunk."""
    env = os.environ | {"TOKENIZERS_PARALLELISM": "false"}
    if pythonpath:  # an archived toolkit finds the bundled data through TOOLKIT_DATASETS
        env |= {
            "PYTHONPATH": pythonpath,
            "BASELINE_TOOLKIT": "1",
            "TOOLKIT_DATASETS": str(Path(__file__).resolve().parents[1] / "datasets"),
        }
    runs = []
    for n in (1, copies):
        out = subprocess.run([sys.executable, __file__, "--child", str(n)], capture_output=True, text=True, env=env)
        if out.returncode:
            raise SystemExit(f"measuring {n} copies failed:\n{out.stderr[-3000:]}")
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    small, large = runs
    extra = large["chunks"] - small["chunks"]
    grown = large["traced_peak_mb"] - small["traced_peak_mb"]
    return {
        "runs": runs,
        "extra_chunks": extra,
        "traced_peak_growth_mb": round(grown, 2),
        "growth_per_extra_chunk_kb": round(grown * 1e3 / extra, 2),
    }


if __name__ == "__main__":
    main()

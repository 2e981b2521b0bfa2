"""`import toolkit` must take under 2 s: heavy imports (torch, llama_cpp) wait until a model is used.

    python benchmarks/bench_import.py [--runs 7]

Each run is a fresh interpreter. For scale, it also times importing llama_index.core and
sentence_transformers, which `import toolkit` must not pay for.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from _common import median, record


def cold_import(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    cold_import("toolkit")  # warm the file cache and .pyc files once
    results = {}
    for module in ["toolkit", "llama_index.core", "sentence_transformers"]:
        seconds = [cold_import(module) for _ in range(args.runs)]
        results[module] = {"median_s": round(median(seconds), 4), "max_s": round(max(seconds), 4)}
    heavy = [
        m
        for m in ("torch", "llama_cpp", "llama_index.core", "sentence_transformers")
        if subprocess.run([sys.executable, "-c", f"import sys, toolkit; sys.exit({m!r} in sys.modules)"]).returncode
    ]
    results["heavy_modules_loaded_by_import_toolkit"] = heavy
    results["target"] = "toolkit median under 2 s, no heavy module loaded"
    results["met"] = results["toolkit"]["median_s"] < 2 and not heavy
    record("import", results)


if __name__ == "__main__":
    main()

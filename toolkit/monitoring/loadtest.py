"""A bounded load test of the served pipeline: 1, 2, 4 and 8 concurrent clients (httpx, one
thread each) send a fixed number of `/ask` requests per level; per level, throughput, error
rate and latency percentiles as the clients saw them.

    >>> curve = load_test(url, questions, clients=(1, 2, 4, 8), requests=16)  # doctest: +SKIP
    >>> saturation(curve)                                                      # doctest: +SKIP
    2

Each level sends the same questions in the same order, so the levels differ only in
concurrency. The machine may be shared with other work: quote the curve with that said.

Not here: the server (server.py).
"""

from __future__ import annotations

import queue
import threading
import time

__all__ = ["load_test", "saturation"]


def _level(url: str, questions: list, clients: int, requests: int, headers: dict, timeout_s: float) -> dict:
    """One concurrency level: `clients` threads share `requests` questions; what they saw."""
    import httpx
    import numpy as np

    work: queue.Queue = queue.Queue()
    for i in range(requests):
        work.put(questions[i % len(questions)])
    latencies, errors, lock = [], [0], threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=url, timeout=timeout_s, headers=headers) as http:
            while True:
                try:
                    question = work.get_nowait()
                except queue.Empty:
                    return
                started = time.perf_counter()
                try:
                    ok = http.post("/ask", json={"question": question}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    latencies.append(time.perf_counter() - started)
                    errors[0] += not ok

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    values = np.asarray(latencies)
    return {
        "clients": clients,
        "requests": requests,
        "errors": errors[0],
        "seconds": wall,
        "throughput_rps": requests / wall,
        "p50_s": float(np.percentile(values, 50)),
        "p95_s": float(np.percentile(values, 95)),
        "p99_s": float(np.percentile(values, 99)),
    }


def load_test(
    url: str,
    questions,
    clients=(1, 2, 4, 8),
    requests: int = 16,
    *,
    token: str | None = None,
    timeout_s: float = 120.0,
    before_level=None,
):
    """The curve as a DataFrame, one row per concurrency level (index `clients`).
    `before_level()` runs before each level (to empty a response cache, say, so that every
    level measures the whole pipeline rather than the cache)."""
    import pandas as pd

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    rows = []
    for level in clients:
        if before_level is not None:
            before_level()
        rows.append(_level(url, list(questions), level, requests, headers, timeout_s))
    return pd.DataFrame(rows).set_index("clients")


def saturation(curve, gain: float = 0.10) -> int:
    """The concurrency level past which throughput grows by less than `gain` (10%) per step.

    >>> import pandas as pd
    >>> saturation(pd.DataFrame({"throughput_rps": [1.0, 1.8, 1.9, 1.9]}, index=[1, 2, 4, 8]))
    2
    """
    levels, rates = list(curve.index), list(curve["throughput_rps"])
    for i in range(1, len(levels)):
        if rates[i] < rates[i - 1] * (1 + gain):
            return int(levels[i - 1])
    return int(levels[-1])

"""The review queue under load: 8 writer processes and 2 reviewers on one SQLite file, 10,000 items.

    python benchmarks/bench_review_queue.py [--items 10000] [--writers 8] [--reviewers 2]

Writers submit every item one call at a time (`submit`, as escalation does), and each also
re-submits every tenth item of its neighbour, as a retried run would: those must not become
duplicates. Reviewers start at the same time and race: both read the first page of pending items
and decide each (approve, edit or reject, fixed by the item's number), so the same item is often
tried by both; the loser's decision must be refused. At the end every item must be in the queue
once, decided exactly once, its state matching its one history row, and its evaluation case in
cases.jsonl exactly once. Reported: the median (and p90) time of one enqueue and of one decision
that won, measured inside each process, and the wall time.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import median, record

from toolkit.errors import ReviewQueueError
from toolkit.validation.review import ReviewItem, SqliteReviewQueue, load_cases

PROJECT = Path(__file__).resolve().parents[1]
DECISIONS = ("approved", "edited", "rejected")


def make_item(n: int) -> ReviewItem:
    return ReviewItem.new(
        f"Question number {n}: how long do I have to return an item?",
        f"Draft answer {n}: you have 30 days.",
        run_id=f"run-{n:05d}",
        pipeline_version="bench",
        context=[{"source": "policies/returns.md", "text": "You can return an item within 30 days of delivery."}],
        signals={"top_score": 0.5 + (n % 50) / 100, "confidence": (n % 97) / 97},
        reasons=[f"confidence {(n % 97) / 97:.2f} below 0.80"],
        priority=(n % 97) / 97,
    )


def writer(path: str, worker: int, workers: int, items: int, out: str) -> None:
    queue = SqliteReviewQueue(path)
    own = list(range(worker, items, workers))
    neighbour = [n for n in range((worker + 1) % workers, items, workers)][::10]
    times = []
    for n in own + neighbour:
        item = make_item(n)
        started = time.perf_counter()
        queue.submit(item)
        times.append(time.perf_counter() - started)
    Path(out).write_text(json.dumps({"enqueue_s": times, "submitted": len(own) + len(neighbour)}), encoding="utf-8")


def reviewer(path: str, name: str, done, out: str) -> None:
    queue = SqliteReviewQueue(path)
    won, refused, times = [], 0, []
    while True:
        writers_done = done.is_set()  # read before the page, so an empty page after it means the end
        page = queue.pending(limit=20)
        if not page:
            if writers_done:
                break
            time.sleep(0.01)
            continue
        for item in page:
            n = int(item.run_id.split("-")[1])
            decision = DECISIONS[n % 3]
            started = time.perf_counter()
            try:
                queue.decide(item.id, decision, reviewer=name, answer="30 days" if decision == "edited" else None)
            except ReviewQueueError:
                refused += 1  # the other reviewer was first
                continue
            times.append(time.perf_counter() - started)
            won.append(item.id)
    Path(out).write_text(json.dumps({"decide_s": times, "won": won, "refused": refused}), encoding="utf-8")


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--reviewers", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-review-"))
    path = str(work / "queue.sqlite")
    SqliteReviewQueue(path)
    context = multiprocessing.get_context("spawn")
    done = context.Event()
    writers = [
        context.Process(target=writer, args=(path, w, args.writers, args.items, str(work / f"w{w}.json")))
        for w in range(args.writers)
    ]
    reviewers = [
        context.Process(target=reviewer, args=(path, f"reviewer-{r}", done, str(work / f"r{r}.json")))
        for r in range(args.reviewers)
    ]
    started = time.perf_counter()
    for p in writers + reviewers:
        p.start()
    for p in writers:
        p.join()
    writers_s = time.perf_counter() - started
    done.set()
    for p in reviewers:
        p.join()
    wall_s = time.perf_counter() - started
    assert all(p.exitcode == 0 for p in writers + reviewers), [p.exitcode for p in writers + reviewers]

    w = [json.loads((work / f"w{i}.json").read_text()) for i in range(args.writers)]
    r = [json.loads((work / f"r{i}.json").read_text()) for i in range(args.reviewers)]
    enqueue = [t for x in w for t in x["enqueue_s"]]
    decide = [t for x in r for t in x["decide_s"]]
    won = [i for x in r for i in x["won"]]

    queue = SqliteReviewQueue(path)
    frame = queue.frame()
    history = queue.history()
    expected = {f"run-{n:05d}" for n in range(args.items)}
    per_item = collections.Counter(h["item_id"] for h in history)
    by_id = frame.set_index("id")
    cases = [json.loads(line) for line in queue.cases_path.read_text(encoding="utf-8").splitlines()]
    checks = {
        "items_in_queue": len(frame),
        "distinct_run_ids": frame.run_id.nunique(),
        "run_ids_as_expected": set(frame.run_id) == expected,
        "pending_left": queue.count(),
        "history_rows": len(history),
        "items_decided_more_than_once": sum(1 for c in per_item.values() if c > 1),
        "decisions_won_by_reviewers": len(won),
        "won_distinct": len(set(won)),
        "state_matches_history": all(
            by_id.at[h["item_id"], "state"] == h["decision"] and by_id.at[h["item_id"], "reviewer"] == h["reviewer"]
            for h in history
        ),
        "case_lines": len(cases),
        "case_ids_distinct": len({c["id"] for c in cases}),
        "cases_loaded": len(load_cases(queue.cases_path)),
    }
    ok = (
        checks["items_in_queue"] == checks["distinct_run_ids"] == args.items
        and checks["run_ids_as_expected"]
        and checks["pending_left"] == 0
        and checks["history_rows"] == checks["won_distinct"] == checks["decisions_won_by_reviewers"] == args.items
        and checks["items_decided_more_than_once"] == 0
        and checks["state_matches_history"]
        and checks["case_lines"] == checks["case_ids_distinct"] == checks["cases_loaded"] == args.items
    )
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=PROJECT).stdout.strip()
    record(
        "review_queue",
        {
            "commit": commit,
            "items": args.items,
            "writers": args.writers,
            "reviewers": args.reviewers,
            "submit_calls": len(enqueue),
            "duplicate_submissions": len(enqueue) - args.items,
            "enqueue_ms": {"median": round(median(enqueue) * 1000, 2), "p90": round(p90(enqueue) * 1000, 2)},
            "decide_ms": {"median": round(median(decide) * 1000, 2), "p90": round(p90(decide) * 1000, 2)},
            "decisions_refused_to_the_slower_reviewer": sum(x["refused"] for x in r),
            "decisions_per_reviewer": [len(x["won"]) for x in r],
            "writers_done_s": round(writers_s, 1),
            "wall_s": round(wall_s, 1),
            "queue_mb": round(Path(path).stat().st_size / 1e6, 1),
            "checks": checks,
            "nothing_lost_nothing_duplicated": ok,
        },
    )
    if not ok:
        sys.exit("FAILED: the queue lost or duplicated something (see checks)")


if __name__ == "__main__":
    main()

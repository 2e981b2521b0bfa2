"""Designing for failure, measured: 30% injected faults, a batch killed and resumed, 8 workers on one ledger.

    python benchmarks/bench_reliability.py [--queries 300] [--rate 0.3] [--kills 3] [--workers 8]

1. Faults. `--queries` questions from the evaluation set (cycled) go through the bundled
   pipeline with the extractive answerer, wrapped by a seeded FaultInjector (`--rate` spread over
   timeouts, 429s, 5xx, truncated and malformed outputs) and retried by a RetryPolicy. Each
   answered question then runs the example side effects (open a ticket, write a CRM note, send
   a notification) through a FaultProxy in front of a loopback EffectService, with the same
   fault rate on the wire. Every attempt goes to the side-effect ledger. Then the naive version
   (the same retries, no idempotency key, no ledger) opens the same tickets behind the same faults.
2. Kill and resume. A subprocess runs a batch of side effects; it is SIGKILLed `--kills` times at
   seeded moments and resumed each time, then run to the end.
3. Concurrency. `--workers` processes each run every item of one batch over one ledger, racing.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from _common import median, record

import toolkit
from toolkit.models.extractive import ExtractiveLLM
from toolkit.reliability.effects import EffectService, SideEffectLedger, idempotency_key, post_effect, support_steps
from toolkit.reliability.faults import FAILURES, FaultInjector, FaultProxy
from toolkit.reliability.middleware import Retry
from toolkit.reliability.retry import RetryPolicy

PROJECT = Path(__file__).resolve().parents[1]


def policy(on_attempt) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=8,
        initial_backoff_s=0.01,
        max_backoff_s=0.5,
        jitter_s=0.01,
        timeout_s=5,
        deadline_s=30,
        on_attempt=on_attempt,
    )


def faults(args, work: Path) -> dict:
    settings = toolkit.setup_notebook()
    embed = toolkit.make_embed_model(settings)
    llm_faults = FaultInjector.transient(args.rate, seed=0, retry_after_s=0.02)
    ledger = SideEffectLedger(work / "ledger.db")
    pipeline = toolkit.Pipeline.bundled(
        settings=settings,
        embed_model=embed,
        model="extractive:quote",
        llm=llm_faults.wrap_llm(ExtractiveLLM.from_embed_model(embed)),
        middleware=[Retry(policy(lambda a: ledger.log_attempt(a, "llm")))],
    )
    questions = list(toolkit.load_questions().question)
    requests = [{"request_id": f"q-{i:03d}", "question": questions[i % len(questions)]} for i in range(args.queries)]
    wire_faults = FaultInjector.transient(args.rate, seed=1, retry_after_s=0.02)
    effects_retry = policy(lambda a: ledger.log_attempt(a, "effects"))
    started = time.perf_counter()
    with EffectService(work / "service.db") as service, FaultProxy(service.url, wire_faults) as proxy:
        for request in requests:
            answer = pipeline.ask(request["question"], raise_errors=False)
            if not answer.record.error:
                support_steps(ledger, proxy.url, request, retry=effects_retry)
        seconds = time.perf_counter() - started
        by_kind = {
            kind: collections.Counter(r["request_id"] for r in service.records(kind))
            for kind in ("tickets", "notifications")
        }
        by_kind["crm_notes"] = collections.Counter(
            row[0] for row in ledger.query("SELECT json_extract(payload, '$.request_id') FROM records")
        )
    runs = pipeline.runs()
    attempts = dict(ledger.query("SELECT scope, COUNT(*) FROM attempts WHERE tier != 'write_crm_note' GROUP BY scope"))
    failed = dict(ledger.query("SELECT scope, COUNT(*) FROM attempts WHERE outcome != 'ok' GROUP BY scope"))
    ids = [r["request_id"] for r in requests]

    # The naive version: the same retry policy and the same faults, but no key and no ledger.
    naive_faults = FaultInjector.transient(args.rate, seed=1, retry_after_s=0.02)
    naive_retry = policy(None)
    with EffectService(work / "naive.db") as service, FaultProxy(service.url, naive_faults) as proxy:
        for request in requests:
            naive_retry.call(post_effect, proxy.url, "tickets", request)
        naive = collections.Counter(r["request_id"] for r in service.records("tickets"))
    return {
        "queries": len(requests),
        "fault_rate": args.rate,
        "fault_kinds": list(FAILURES),
        "completed": int((runs.error == "").sum()),
        "errors": int((runs.error != "").sum()),
        "answers_from_fallback": int((runs.model != "extractive:quote").sum()),
        "llm_attempts": {
            "ledger": attempts.get("llm", 0),
            "injector_calls": llm_faults.counts["calls"],
            "ledger_failed": failed.get("llm", 0),
            "injector_injected": llm_faults.injected,
            "max_per_query": int(runs["retry.attempts"].max()),
            "by_kind": llm_faults.summary(),
        },
        "effect_attempts": {
            "ledger": attempts.get("effects", 0),
            "injector_calls": wire_faults.counts["calls"],
            "ledger_failed": failed.get("effects", 0),
            "injector_injected": wire_faults.injected,
            "by_kind": wire_faults.summary(),
        },
        "side_effects": {
            kind: {
                "missing": sum(1 for i in ids if counts[i] == 0),
                "duplicated": sum(1 for i in ids if counts[i] > 1),
                "total": sum(counts.values()),
            }
            for kind, counts in by_kind.items()
        },
        "naive_tickets": {
            "total": sum(naive.values()),
            "duplicated_requests": sum(1 for i in ids if naive[i] > 1),
            "extra_tickets": sum(naive.values()) - len(ids),
            "injected": naive_faults.summary(),
        },
        "seconds": round(seconds, 2),
    }


BATCH = textwrap.dedent("""
    import sys, time
    from toolkit.reliability.effects import SideEffectLedger, post_effect, support_steps

    ledger = SideEffectLedger(sys.argv[1])
    for i in range(int(sys.argv[3])):
        time.sleep(0.002)   # a little work per request, so a kill lands mid-batch
        support_steps(ledger, sys.argv[2], {"request_id": f"r-{i:04d}"})
""")


def kill_and_resume(args, work: Path) -> dict:
    script = work / "batch.py"
    script.write_text(BATCH)
    ledger = SideEffectLedger(work / "resume.db")
    rng = random.Random(0)
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    killed_at, pending_at_kill = [], []
    with EffectService(work / "resume-service.db") as service:
        command = [sys.executable, str(script), str(ledger.path), service.url, str(args.batch)]
        for _ in range(args.kills):
            child = subprocess.Popen(command, env=env)
            time.sleep(rng.uniform(1.0, 2.0))  # python start-up takes ~0.3 s of it
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            stats = ledger.stats()
            killed_at.append(stats["done"])
            pending_at_kill.append(stats["pending"])
        subprocess.run(command, env=env, check=True)
        ids = [f"r-{i:04d}" for i in range(args.batch)]
        counts = {
            kind: collections.Counter(r["request_id"] for r in service.records(kind))
            for kind in ("tickets", "notifications")
        }
    counts["crm_notes"] = collections.Counter(
        row[0] for row in ledger.query("SELECT json_extract(payload, '$.request_id') FROM records")
    )
    ((taken_over,),) = ledger.query("SELECT COUNT(*) FROM effects WHERE runs > 1")
    return {
        "batch": args.batch,
        "steps_per_item": 3,
        "kills": args.kills,
        "effects_done_when_killed": killed_at,
        "claims_pending_when_killed": pending_at_kill,
        "claims_taken_over_on_resume": taken_over,
        "final": {
            kind: {"missing": sum(1 for i in ids if c[i] == 0), "duplicated": sum(1 for i in ids if c[i] > 1)}
            for kind, c in counts.items()
        },
        "ledger": ledger.stats(),
    }


def _worker(path: str, url: str, items: int, seed: int, out) -> None:
    ledger = SideEffectLedger(path)
    order = list(range(items))
    random.Random(seed).shuffle(order)
    started = time.perf_counter()
    for i in order:
        request = {"request_id": f"r-{i:04d}"}
        # No Idempotency-Key: only the ledger stands between eight workers and eight tickets.
        ledger.once(
            idempotency_key(request, "open_ticket"), lambda k, request=request: post_effect(url, "tickets", request)
        )
        ledger.record(idempotency_key(request, "write_crm_note"), "crm_notes", request)
    out.put(time.perf_counter() - started)


def concurrency(args, work: Path) -> dict:
    ledger = SideEffectLedger(work / "shared.db")
    context = multiprocessing.get_context("spawn")  # fork would copy a threaded parent mid-lock
    out = context.Queue()
    with EffectService(work / "shared-service.db") as service:
        started = time.perf_counter()
        workers = [
            context.Process(target=_worker, args=(str(ledger.path), service.url, args.items, seed, out))
            for seed in range(args.workers)
        ]
        for w in workers:
            w.start()
        seconds = [out.get(timeout=600) for _ in workers]
        for w in workers:
            w.join()
        wall = time.perf_counter() - started
        tickets = collections.Counter(r["request_id"] for r in service.records("tickets"))
    notes = collections.Counter(
        row[0] for row in ledger.query("SELECT json_extract(payload, '$.request_id') FROM records")
    )
    ids = [f"r-{i:04d}" for i in range(args.items)]
    return {
        "workers": args.workers,
        "items": args.items,
        "calls_per_worker": 2 * args.items,
        "exit_codes": [w.exitcode for w in workers],
        "tickets": {
            "missing": sum(1 for i in ids if tickets[i] == 0),
            "duplicated": sum(1 for i in ids if tickets[i] > 1),
        },
        "crm_notes": {
            "missing": sum(1 for i in ids if notes[i] == 0),
            "duplicated": sum(1 for i in ids if notes[i] > 1),
        },
        "ledger": ledger.stats(),
        "wall_s_with_process_start": round(wall, 2),
        "median_worker_s": round(median(seconds), 2),
        "slowest_worker_s": round(max(seconds), 2),
        "ledger_calls_per_s": round(args.workers * 2 * args.items / max(seconds), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rate", type=float, default=0.3)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--batch", type=int, default=400)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--items", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-reliability-") as folder:
        work = Path(folder)
        results = {
            "faults": faults(args, work),
            "kill_and_resume": kill_and_resume(args, work),
            "concurrency": concurrency(args, work),
        }
    f, k, c = results["faults"], results["kill_and_resume"], results["concurrency"]
    results["targets"] = {
        "all_queries_completed": f["completed"] == f["queries"],
        "zero_duplicate_side_effects": all(
            v["duplicated"] == 0 and v["missing"] == 0 for v in f["side_effects"].values()
        ),
        "ledger_attempts_equal_injector_calls": f["llm_attempts"]["ledger"] == f["llm_attempts"]["injector_calls"]
        and f["effect_attempts"]["ledger"] == f["effect_attempts"]["injector_calls"]
        and f["llm_attempts"]["ledger_failed"] == f["llm_attempts"]["injector_injected"]
        and f["effect_attempts"]["ledger_failed"] == f["effect_attempts"]["injector_injected"],
        "kill_resume_nothing_lost_or_duplicated": all(
            v == {"missing": 0, "duplicated": 0} for v in k["final"].values()
        ),
        "workers_nothing_lost_or_duplicated": c["tickets"] == c["crm_notes"] == {"missing": 0, "duplicated": 0},
    }
    results["met"] = all(results["targets"].values())
    record("reliability", results)


if __name__ == "__main__":
    main()

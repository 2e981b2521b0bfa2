"""Designing for failure, measured: 30% injected faults, a batch killed and resumed, 8 workers on one ledger.

    python benchmarks/bench_reliability.py [--queries 300] [--rate 0.3] [--kills 3] [--workers 8]
    python benchmarks/bench_reliability.py --quick     # 40 queries, 1 kill, 2 workers: a minute; recorded apart

1. Faults. `--queries` questions from the evaluation set (cycled) go through the bundled
   pipeline with the extractive answerer, replying in the CitedAnswer JSON schema, wrapped by a
   seeded FaultInjector (`--rate` spread evenly over every failure kind: timeouts, 429s, 5xx,
   outputs cut with and without a finish_reason, JSON off its schema, hangs, trickles and
   resets; none carries a marker) and retried by a RetryPolicy whose only checks are the
   output's own: complete, whole JSON, valid against the schema, in time. Each answered
   question then runs the example side effects (open a ticket, write a CRM note, send a
   notification) through a FaultProxy in front of a loopback EffectService, with the same fault
   rate on the wire (hangs and trickles are real sleeps; resets are TCP RSTs). Every attempt goes
   to the side-effect ledger, in order, so each attempt is paired with the fault drawn for it:
   a fault whose attempt did not fail went undetected. Each policy's deadline is its own worst
   case (every attempt timing out, every backoff at its cap), so no deadline ends a call that
   still has attempts to spend. Then the naive version (the same retries, no idempotency key,
   no ledger) opens the same tickets behind the same faults.
2. Kill and resume. A subprocess runs a batch of side effects; it is SIGKILLed `--kills` times at
   seeded moments and resumed each time, then run to the end.
3. Concurrency. `--workers` processes each run every item of one batch over one ledger, racing.
"""

from __future__ import annotations

import argparse
import collections
import functools
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
from toolkit.demo import load_questions
from toolkit.models import make_embed_model
from toolkit.models.extractive import ExtractiveLLM
from toolkit.prompting.spec import CitedAnswer
from toolkit.reliability.effects import EffectService, SideEffectLedger, idempotency_key, post_effect, support_steps
from toolkit.reliability.faults import FAILURES, FaultInjector, FaultProxy
from toolkit.reliability.middleware import Retry
from toolkit.reliability.retry import RetryPolicy, check_schema

PROJECT = Path(__file__).resolve().parents[1]
# Small absolute times, so a run is quick. The model's per-attempt timeout is set from the
# answerer's own measured time (4 x its slowest clean call, at least 0.5 s), so a loaded machine
# does not turn clean calls into timeouts; a model hang or trickle lasts twice that timeout.
# On the wire: a whole-call deadline of 0.3 s on each side-effect POST (a loopback POST takes a
# few ms) against hangs and trickles of 1 s.
MIN_MODEL_TIMEOUT_S = 0.5
WIRE_HANG_S = 1.0
POST_DEADLINE_S = 0.3
EFFECT_ATTEMPT_TIMEOUT_S = 2.0  # around the ledger and the POST: the POST's own deadline always fires first


def policy(on_attempt, timeout_s: float) -> RetryPolicy:
    retry = RetryPolicy(
        max_attempts=8,
        initial_backoff_s=0.01,
        max_backoff_s=0.5,
        jitter_s=0.01,
        timeout_s=timeout_s,
        on_attempt=on_attempt,
    )
    retry.deadline_s = retry.worst_case_s  # a deadline that never cuts the attempts short
    return retry


def paired(outcomes: list[str], log: list[str]) -> dict:
    """Each attempt's outcome beside the fault drawn for it (both in call order): per kind, how
    many were injected and how many of those the attempt saw fail; and clean calls that failed."""
    if len(outcomes) != len(log):
        raise RuntimeError(f"{len(outcomes)} attempts against {len(log)} draws: attempts and draws must pair")
    by_kind = {}
    for kind in FAILURES:
        seen = [outcome for outcome, drawn in zip(outcomes, log) if drawn == kind]
        by_kind[kind] = {"injected": len(seen), "detected": sum(o != "ok" for o in seen)}
    return {
        "by_kind": by_kind,
        "injected": sum(v["injected"] for v in by_kind.values()),
        "undetected": sum(v["injected"] - v["detected"] for v in by_kind.values()),
        "clean_calls_failed": sum(o != "ok" for o, drawn in zip(outcomes, log) if drawn in ("ok", "latency")),
    }


def faults(args, work: Path) -> dict:
    settings = toolkit.setup_notebook()
    embed = make_embed_model(settings)
    answerer = ExtractiveLLM.from_embed_model(embed, reply_format="json")  # CitedAnswer JSON
    questions = list(load_questions().question)
    requests = [{"request_id": f"q-{i:03d}", "question": questions[i % len(questions)]} for i in range(args.queries)]
    # A fault-free run first: the answers to compare against, and how long a clean model call takes.
    clean_times: list[float] = []
    clean = toolkit.Pipeline.bundled(
        settings=settings,
        embed_model=embed,
        model="extractive:quote",
        llm=answerer,
        middleware=[
            Retry(
                RetryPolicy(
                    max_attempts=1,
                    timeout_s=None,
                    deadline_s=None,
                    on_attempt=lambda a: clean_times.append(a.elapsed_s),
                )
            )
        ],
    )
    expected = {q: clean.ask(q).text for q in dict.fromkeys(r["question"] for r in requests)}
    model_timeout_s = round(max(MIN_MODEL_TIMEOUT_S, 4 * max(clean_times)), 2)
    kwargs = {"retry_after_s": 0.02, "hang_s": 2 * model_timeout_s, "trickle_s": 2 * model_timeout_s}
    llm_faults = FaultInjector.transient(args.rate, seed=0, **kwargs)
    ledger = SideEffectLedger(work / "ledger.db")
    llm_retry = policy(lambda a: ledger.log_attempt(a, "llm"), model_timeout_s)
    llm_retry.validate = check_schema(CitedAnswer)  # judged from the output alone: whole JSON, the schema's shape
    pipeline = toolkit.Pipeline.bundled(
        settings=settings,
        embed_model=embed,
        model="extractive:quote",
        llm=llm_faults.wrap_llm(answerer),
        middleware=[Retry(llm_retry)],
    )
    kwargs = {"retry_after_s": 0.02, "hang_s": WIRE_HANG_S, "trickle_s": WIRE_HANG_S}
    wire_faults = FaultInjector.transient(args.rate, seed=1, **kwargs)
    effects_retry = policy(lambda a: ledger.log_attempt(a, "effects"), EFFECT_ATTEMPT_TIMEOUT_S)
    post = functools.partial(post_effect, deadline_s=POST_DEADLINE_S)
    started = time.perf_counter()
    answered = []
    with EffectService(work / "service.db") as service, FaultProxy(service.url, wire_faults) as proxy:
        for request in requests:
            answer = pipeline.ask(request["question"], raise_errors=False)
            if not answer.record.error:
                answered.append((request, answer.text))
                support_steps(ledger, proxy.url, request, post=post, retry=effects_retry)
        seconds = time.perf_counter() - started
        by_kind = {
            kind: collections.Counter(r["request_id"] for r in service.records(kind))
            for kind in ("tickets", "notifications")
        }
        by_kind["crm_notes"] = collections.Counter(
            row[0] for row in ledger.query("SELECT json_extract(payload, '$.request_id') FROM records")
        )
    runs = pipeline.runs()

    def outcomes(scope: str) -> list[str]:
        sql = "SELECT outcome FROM attempts WHERE scope = ? AND tier != 'write_crm_note' ORDER BY id"
        return [row[0] for row in ledger.query(sql, (scope,))]

    ids = [r["request_id"] for r in requests]
    answered_ids = [r["request_id"] for r, _ in answered]

    # The naive version: the same retry policy, the same faults and deadline, but no key and no ledger.
    naive_faults = FaultInjector.transient(args.rate, seed=1, **kwargs)
    naive_retry = policy(None, EFFECT_ATTEMPT_TIMEOUT_S)
    with EffectService(work / "naive.db") as service, FaultProxy(service.url, naive_faults) as proxy:
        for request in requests:
            naive_retry.call(post, proxy.url, "tickets", request)
        naive = collections.Counter(r["request_id"] for r in service.records("tickets"))
    llm_pairs, effect_pairs = paired(outcomes("llm"), llm_faults.log), paired(outcomes("effects"), wire_faults.log)
    return {
        "queries": len(requests),
        "fault_rate": args.rate,
        "fault_kinds": list(FAILURES),
        "times_s": {
            "slowest_clean_query": round(max(clean_times), 3),
            "median_clean_query": round(median(clean_times), 3),
            "model_hang_and_trickle": llm_faults.hang_s,
            "wire_hang_and_trickle": WIRE_HANG_S,
            "model_attempt_timeout": model_timeout_s,
            "model_deadline": llm_retry.deadline_s,
            "post_deadline": POST_DEADLINE_S,
            "effect_attempt_timeout": EFFECT_ATTEMPT_TIMEOUT_S,
            "effect_deadline": effects_retry.deadline_s,
        },
        "completed": int((runs.error == "").sum()),
        "errors": int((runs.error != "").sum()),
        "answers_from_fallback": int((runs.model != "extractive:quote").sum()),
        "answers_unlike_the_fault_free_run": sum(text != expected[r["question"]] for r, text in answered),
        "llm_attempts": {
            "ledger": len(outcomes("llm")),
            "injector_calls": llm_faults.counts["calls"],
            "ledger_failed": sum(o != "ok" for o in outcomes("llm")),
            "injector_injected": llm_faults.injected,
            "max_per_query": int(runs["retry.attempts"].max()),
            "slowest_query_s": round(float(runs["latency_s"].max()), 2) if "latency_s" in runs else None,
            **llm_pairs,
        },
        "effect_attempts": {
            "ledger": len(outcomes("effects")),
            "injector_calls": wire_faults.counts["calls"],
            "ledger_failed": sum(o != "ok" for o in outcomes("effects")),
            "injector_injected": wire_faults.injected,
            **effect_pairs,
        },
        "side_effects": {
            kind: {
                "missing_for_answered_queries": sum(1 for i in answered_ids if counts[i] == 0),
                "duplicated": sum(1 for i in ids if counts[i] > 1),
                "for_unanswered_queries": sum(1 for i in ids if i not in answered_ids and counts[i] > 0),
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
    parser.add_argument(
        "--quick", action="store_true", help="40 queries, 1 kill of 100, 2 workers of 50; recorded apart"
    )
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rate", type=float, default=0.3)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--batch", type=int, default=400)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--items", type=int, default=300)
    args = parser.parse_args()
    if args.quick:
        args.queries, args.kills, args.batch, args.workers, args.items = 40, 1, 100, 2, 50
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
        "zero_duplicate_side_effects": all(v["duplicated"] == 0 for v in f["side_effects"].values()),
        "zero_missing_side_effects": all(
            v["missing_for_answered_queries"] == 0 and v["total"] == f["completed"] for v in f["side_effects"].values()
        ),
        "zero_undetected_faults": f["llm_attempts"]["undetected"] == 0
        and f["effect_attempts"]["undetected"] == 0
        and f["answers_unlike_the_fault_free_run"] == 0,
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
    record("reliability_quick" if args.quick else "reliability", results)


if __name__ == "__main__":
    main()

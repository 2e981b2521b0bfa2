"""The bundled traffic trace and cache probe set: shape, reproducibility, and the properties the
caching notebook relies on (a heavy head, one-offs, paraphrases, near misses, one intent per text)."""

from __future__ import annotations

import collections
import datetime as dt
import importlib.util
import json
import subprocess
import sys

import pytest

from conftest import BUNDLED_QUESTIONS, PROJECT

TIDEWELL = PROJECT / "datasets" / "tidewell"
GENERATOR = TIDEWELL / "build" / "make_traffic.py"


def _lines(path):
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


@pytest.fixture(scope="module")
def trace():
    return _lines(TIDEWELL / "traffic" / "trace.jsonl")


@pytest.fixture(scope="module")
def probes():
    return _lines(TIDEWELL / "eval" / "cache_probes.jsonl")


@pytest.fixture(scope="module")
def generator():
    spec = importlib.util.spec_from_file_location("make_traffic", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_trace_has_2400_timestamped_questions_in_order(trace):
    assert len(trace) == 2400
    assert all(set(r) == {"ts", "question", "intent", "kind"} for r in trace)
    stamps = [dt.datetime.fromisoformat(r["ts"].replace("Z", "+00:00")) for r in trace]
    assert stamps == sorted(stamps)
    assert stamps[0] >= dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    assert stamps[-1] < dt.datetime(2026, 11, 9, tzinfo=dt.UTC)


def test_trace_is_what_the_generator_makes(trace, generator):
    questions = _lines(BUNDLED_QUESTIONS)
    assert generator.make_trace(questions) == trace
    assert generator.make_trace(questions, seed=1) != trace  # the seed matters


def test_generator_check_mode_agrees_with_the_files():
    done = subprocess.run([sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_text_means_one_intent_and_intents_are_real(trace):
    owners = collections.defaultdict(set)
    for r in trace:
        owners[r["question"]].add(r["intent"])
    assert all(len(v) == 1 for v in owners.values())
    eval_ids = {q["id"] for q in _lines(BUNDLED_QUESTIONS)}
    near_miss_ids = {f"n{i:02d}" for i in range(1, 15)}  # make_traffic.NEAR_MISSES: n01 to n14
    for r in trace:
        if r["kind"] == "one_off":  # one order by its id: "order:TW-" and seven digits
            assert r["intent"].startswith("order:TW-") and len(r["intent"]) == 16 and r["intent"][9:].isdigit(), r
        else:
            assert r["intent"] in eval_ids | near_miss_ids, r


def test_mix_of_kinds(trace):
    assert collections.Counter(r["kind"] for r in trace) == {
        "canonical": 1167,
        "surface": 440,
        "one_off": 276,
        "chatty": 264,
        "paraphrase": 215,
        "near_miss": 38,
    }
    one_offs = [r for r in trace if r["kind"] == "one_off"]
    assert len({r["intent"] for r in one_offs}) == len(one_offs)  # never repeated


def test_heavy_head_and_long_tail(trace):
    counts = collections.Counter(r["intent"] for r in trace if r["kind"] != "one_off")
    ranked = [n for _, n in counts.most_common()]
    repeated = sum(ranked)
    assert ranked[0] / repeated > 0.2  # the top intent alone
    assert sum(ranked[:10]) / repeated > 0.5  # the top ten: more than half
    assert sum(1 for n in ranked if n <= 3) == 40  # and a long tail: 40 intents asked 3 times or fewer


def test_near_miss_intents_appear_beside_the_questions_they_resemble(trace, generator):
    intents = {r["intent"] for r in trace}
    near = [nid for nid, (twin, _) in generator.NEAR_MISSES.items() if nid in intents and twin in intents]
    assert len(near) == 14  # all of them


def test_probe_set(probes):
    assert len(probes) == 91
    assert len({p["id"] for p in probes}) == 91
    assert collections.Counter((p["same"], p["kind"]) for p in probes) == {
        (False, "threshold"): 8,
        (False, "negation"): 8,
        (False, "order_id"): 7,
        (False, "version"): 7,
        (False, "product"): 7,
        (False, "time"): 6,
        (False, "action"): 8,
        (True, "paraphrase"): 40,
    }
    assert all(p["a"] != p["b"] for p in probes)

"""Validators on the pipeline's own answers: how many wrong answers they catch, how many right
ones they flag, per answerer and per question set, with 95% intervals.

    python benchmarks/bench_validators_real.py              # score the labeled answers (seconds)
    python benchmarks/bench_validators_real.py --label      # re-apply the metric and the hand checks
    python benchmarks/bench_validators_real.py --collect    # answer again (SmolLM2 replayed where recorded)
    python benchmarks/bench_validators_real.py --collect --generate   # and ask SmolLM2 what is not recorded

The answers are datasets/tidewell/pipeline_answers/answers.jsonl (its README says how they were
made and labeled): SmolLM2's and the extractive answerer's (the quote's) drafts, before any
validation, for the 106 bundled questions and the 240 customer-style ones, with the context the
pipeline showed. Notebook 06's configuration answered them (hybrid retrieval, current versions
first, the few-shot spec); SmolLM2's replies come from notebook 06's replay recording, and from the
model itself for questions that recording does not hold.

A right answer is right by the string metric (toolkit.evaluation.answer_correct) unless a hand
check in hand_checks.jsonl overrides it. Each validator (the Tidewell business rules, grounding,
safety) and two unions (the checks the carried pipeline runs, and `default_validators()`) are
scored on every answer: catch rate = flagged wrong answers / wrong answers, false-alarm rate =
flagged right answers / right answers, each with a Wilson 95% interval.

One threshold is chosen here on data: the grounding threshold that maximizes catch rate minus
false-alarm rate on the customer questions' dev half (both answerers' answers together), reported
on the test half beside the shipped default of 0.5. The shipped default is not changed.

The hand-written labeled outputs (eval/validation_outputs.jsonl, bench_validators.py,
tests/evaluation/test_validators.py) demonstrate what each rule catches; these figures are the
ones to quote for the validators' quality.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from _common import record

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "datasets" / "tidewell" / "pipeline_answers"
ANSWERS, CHECKS = DATA / "answers.jsonl", DATA / "hand_checks.jsonl"
PIPELINES = ROOT / "notebooks" / "pipelines"
CONFIG = PIPELINES / "06_confidence_and_escalation.yaml"
RECORDING = PIPELINES / "06_confidence_and_escalation.replay.json"
EXTRA = DATA / "smollm2.replay.json"  # SmolLM2's replies to the questions notebook 06 did not record
TODAY = dt.date(2026, 11, 27)  # the business rules' "not in the future", as in notebook 04 and the tests
ANSWERERS = ("smollm2", "quote")
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


# -- collecting the answers --------------------------------------------------------------------


def collect(generate: bool) -> list[dict]:
    """Every question through notebook 06's pipeline up to its two drafts: SmolLM2's reply
    (replayed; asked of the model only with `generate`) and the quote. No validation runs."""
    import toolkit
    from toolkit.cost import Recording, replay_into
    from toolkit.demo import load_questions, tidewell_customer_questions
    from toolkit.steps import Extract, Generate

    settings = toolkit.setup_notebook()
    base = toolkit.PipelineConfig.load(CONFIG)
    # the drafts only: no guard, no retry tiers, no confidence or escalation after them
    config = base.with_changes(validation=None, retry=None, confidence=None, escalation=None)
    pipeline = toolkit.Pipeline.from_config(config, settings=settings, base=PIPELINES)
    quote = Extract(base.confidence.type_bonus, base.confidence.min_similarity)
    # before Generate, so a question the recording does not hold still gets its quote
    pipeline.steps.insert(next(i for i, s in enumerate(pipeline.steps) if isinstance(s, Generate)), quote)
    recording = Recording.load(RECORDING)
    recorded = set(recording.entries)
    if EXTRA.exists():
        recording.entries.update(Recording.load(EXTRA).entries)
    replay = replay_into(pipeline, recording, record=generate, on_miss="call" if generate else "raise")
    sets = [("bundled", load_questions()), ("customer", load_questions(tidewell_customer_questions()))]
    rows = []
    for name, questions in sets:
        for q in questions.itertuples():
            hits = replay.hits
            answer = pipeline.ask(q.question, raise_errors=False)
            r = answer.record
            replied = not r.error
            origin = ("recorded" if replay.hits > hits else "generated") if replied else "not recorded"
            common = {
                "question_id": q.id,
                "set": name,
                "split": getattr(q, "split", "") or "",
                "style": getattr(q, "style", "") or "",
                "category": q.category,
                "answerable": bool(q.answerable),
                "question": q.question,
                "gold": q.answer,
                "aliases": list(q.aliases),
                "context": [list(pair) for pair in answer.context],
            }
            rows.append({**common, "answerer": "quote", "answer": r.get("extractive.answer"), "origin": "computed"})
            if replied:
                rows.append({**common, "answerer": "smollm2", "answer": answer.text, "origin": origin})
            print(f"{q.id}: {origin}", file=sys.stderr)
    print(f"replayed {replay.hits}, missed {len(replay.misses)}", file=sys.stderr)
    if generate:  # keep the new replies, so the next run replays them
        Recording(EXTRA, {k: v for k, v in recording.entries.items() if k not in recorded}).save()
    return rows


# -- labels ------------------------------------------------------------------------------------


def unsure(row: dict, correct: bool) -> str:
    """Why the string metric may be wrong about this answer ("" when it is not in doubt).

    - right by match, but the gold answer is one short token (it may occur with another meaning)
      or the answer runs long (a list of candidates matches if any one does);
    - wrong by match, but the answer shares words with the gold answer (a paraphrase?);
    - an unanswerable question answered with a negation (an abstention in other words?)."""
    from toolkit.evaluation import token_f1
    from toolkit.text import normalize

    text = normalize(row["answer"] or "")
    if not row["answerable"]:
        negation = any(f" {w} " in f" {text} " for w in ("not", "no", "cannot", "doesnt", "isnt", "unknown", "none"))
        return "" if correct or not negation else "unanswerable: a negation, not a recognized abstention"
    if correct:
        if len(normalize(row["gold"]).split()) == 1 and not any(c.isdigit() for c in row["gold"][1:]):
            return "right by match on a one-word gold answer"
        if len(text.split()) > 30:
            return "right by match inside a long answer"
        return ""
    if token_f1(row["answer"] or "", row["gold"], row["aliases"], True) > 0:
        return "wrong by match, but it shares words with the gold answer"
    return ""


def label(rows: list[dict], checks: dict[str, dict]) -> list[dict]:
    """The string metric on every answer, the doubtful ones named, the hand checks applied."""
    from toolkit.evaluation import answer_correct

    for row in rows:
        correct = bool(answer_correct(row["answer"] or "", row["gold"], row["aliases"], row["answerable"]))
        key = f"{row['question_id']}/{row['answerer']}"
        check = checks.get(key)
        if check is not None and check["answer"] != row["answer"]:
            check = None  # the check was of another answer text: check again
        row.update(
            metric="right" if correct else "wrong",
            unsure=unsure(row, correct),
            label=check["label"] if check else ("right" if correct else "wrong"),
            checked=check is not None,
            note=check["note"] if check else "",
        )
    return rows


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    from toolkit.files import write_atomic

    write_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


# -- scoring -----------------------------------------------------------------------------------


def rate(flags) -> dict:
    """How many of `flags` are set, as a rate with its Wilson 95% interval (None for no rows)."""
    from toolkit.evaluation import wilson

    k, n = int(sum(flags)), len(flags)
    ci95 = [round(x, 3) for x in wilson(k, n)] if n else None
    return {"flagged": k, "of": n, "rate": round(k / n, 3) if n else None, "ci95": ci95}


def flags_of(rows: list[dict], validators) -> tuple[dict[str, list[bool]], list[str]]:
    """(validator name -> per-row flagged, plus 'any' over all of them; per row the first
    failing `validator:rule`, "" when every validator passed)."""
    from toolkit.validation import Output

    out: dict[str, list[bool]] = {v.name: [] for v in validators}
    first: list[str] = []
    for row in rows:
        output = Output(row["question"], row["answer"] or "", [tuple(c) for c in row["context"]])
        reports = [v.check(output) for v in validators]
        for v, report in zip(validators, reports):
            out[v.name].append(not report.passed)
        first.append(next((f"{r.validator}:{r.rule}" for r in reports if not r.passed), ""))
    out["any"] = [any(f) for f in zip(*(out[v.name] for v in validators))] if rows else []
    return out, first


def score(rows: list[dict]) -> dict:
    from collections import Counter

    from toolkit.demo import validators as tidewell_validators
    from toolkit.text import is_abstention
    from toolkit.validation import Grounding, default_validators

    carried = tidewell_validators(None, today=TODAY)  # what the pipeline runs: business rules, grounding, safety
    plain = default_validators()  # grounding and safety, no corpus knowledge
    groups = {
        "bundled": lambda r: r["set"] == "bundled",
        "customer dev": lambda r: r["set"] == "customer" and r["split"] == "dev",
        "customer test": lambda r: r["set"] == "customer" and r["split"] == "test",
    }
    table = {}
    for answerer in ANSWERERS:
        for group, member in groups.items():
            rows_ = [r for r in rows if r["answerer"] == answerer and member(r)]
            flags, first = flags_of(rows_, carried)
            flags["any of default_validators()"] = [g or s for g, s in zip(flags["grounding"], flags["safety"])]
            flags["any of the pipeline's checks"] = flags.pop("any")
            wrong = [r["label"] == "wrong" for r in rows_]
            # an abstention on an answerable question is wrong, but a validator has nothing to catch in it
            stated = [w and not is_abstention(r["answer"] or "") for r, w in zip(rows_, wrong)]
            entry = {
                "answers": len(rows_),
                "wrong": sum(wrong),
                "wrong_abstentions": sum(wrong) - sum(stated),
                "right": len(rows_) - sum(wrong),
                "first_failure_on_wrong": dict(Counter(f for f, w in zip(first, wrong) if w and f)),
                "first_failure_on_right": dict(Counter(f for f, w in zip(first, wrong) if not w and f)),
            }
            for name, flagged in flags.items():
                entry[name] = {
                    "catch": rate([f for f, w in zip(flagged, wrong) if w]),
                    "catch_excluding_abstentions": rate([f for f, w in zip(flagged, stated) if w]),
                    "false_alarm": rate([f for f, w in zip(flagged, wrong) if not w]),
                }
            table.setdefault(answerer, {})[group] = entry
    assert [v.name for v in plain] == ["grounding", "safety"]  # the union above is default_validators()

    # the grounding threshold chosen on the customer dev half, reported on test
    def grounding_at(threshold, member):
        rows_ = [r for r in rows if member(r)]
        flagged = flags_of(rows_, [Grounding(threshold)])[0]["grounding"]
        wrong = [r["label"] == "wrong" for r in rows_]
        return rate([f for f, w in zip(flagged, wrong) if w]), rate([f for f, w in zip(flagged, wrong) if not w])

    sweep = {}
    for t in THRESHOLDS:
        catch, alarm = grounding_at(t, groups["customer dev"])
        sweep[t] = {"catch": catch, "false_alarm": alarm, "j": round(catch["rate"] - alarm["rate"], 3)}
    best = max(sweep, key=lambda t: (sweep[t]["j"], -abs(t - 0.5)))  # ties: nearest the shipped default
    chosen = {}
    for t in sorted({best, 0.5}):
        catch, alarm = grounding_at(t, groups["customer test"])
        chosen[str(t)] = {"catch": catch, "false_alarm": alarm}
    return {
        "per_answerer": table,
        "grounding_threshold": {
            "chosen_on": "customer dev, both answerers, max catch minus false alarm",
            "dev_sweep": {str(t): v for t, v in sweep.items()},
            "chosen": best,
            "test": chosen,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--collect", action="store_true", help="answer every question again")
    parser.add_argument("--generate", action="store_true", help="with --collect: ask SmolLM2 what is not recorded")
    parser.add_argument("--label", action="store_true", help="re-apply the metric and the hand checks")
    args = parser.parse_args()
    checks = {f"{c['question_id']}/{c['answerer']}": c for c in read_jsonl(CHECKS)} if CHECKS.exists() else {}
    if args.collect or args.label:
        rows = collect(args.generate) if args.collect else read_jsonl(ANSWERS)
        rows = label(rows, checks)
        write_jsonl(ANSWERS, rows)
        doubtful = [r for r in rows if r["unsure"]]
        print(
            f"{len(rows)} answers, {len(doubtful)} the metric is unsure of, {sum(r['checked'] for r in rows)} checked"
        )
        return
    rows = read_jsonl(ANSWERS)
    counts = {
        a: {s: sum(r["answerer"] == a and r["set"] == s for r in rows) for s in ("bundled", "customer")}
        for a in ANSWERERS
    }
    results = {
        "data": "datasets/tidewell/pipeline_answers/answers.jsonl",
        "answers": counts,
        "labels": {
            "unsure": sum(bool(r["unsure"]) for r in rows),
            "checked_by_hand": sum(r["checked"] for r in rows),
            "changed_by_hand": sum(r["label"] != r["metric"] for r in rows),
        },
        "today": TODAY.isoformat(),
        **score(rows),
    }
    record("validators_real", results)


if __name__ == "__main__":
    main()

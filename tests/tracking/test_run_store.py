"""The run store: what a run leaves behind, outcomes joined by run id, the schema's versions,
unreadable rows, and eight processes writing at once. The tests of the interface run over both
engines (the `where` fixture: a SQLite file, then a real PostgreSQL)."""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest

from toolkit.steps import RunRecord
from toolkit.tracking import SCHEMA_VERSION, RunStore, RunStoreError, status_of
from toolkit.tracking.run_store import _SCHEMA_V1
from toolkit.tracking.run_store_postgres import run_store


def record(run_id: str = "r1", **changes) -> RunRecord:
    r = RunRecord(run_id, "2026-12-01T10:00:00+00:00", "How long do I have to return an item?", answer="30 days.")
    r.model, r.total_s, r.retrieve_s, r.generate_s = "extractive:quote", 1.5, 0.25, 1.0
    r.input_tokens, r.output_tokens, r.cost_usd, r.sources = 120, 8, 0.0002, ["returns.md"]
    r.calls = [{"kind": "llm", "model": "extractive:quote", "input_tokens": 120, "output_tokens": 8,
                "attempts": 2, "cache_hit": "", "seconds": 0.9}]  # fmt: skip
    r.part("validate").update(action="pass", failed=[])
    for name, value in changes.items():
        setattr(r, name, value)
    return r


def write(store, sql: str) -> None:
    """Change the store's rows behind its back, as another program could."""
    if store.path is None:
        store._connect().execute(sql)
    else:
        with sqlite3.connect(store.path) as db:
            db.execute(sql)


def test_a_run_lands_whole_and_any_step_part_lands_without_code_changes(where):
    store = run_store(where)
    r = record()
    r.part("confidence")["score"] = 0.83  # a step this store has never heard of
    r.part("decide")["decision"] = "answer"
    store.record(r, version="abc123", label="A", origin="cli")
    runs = store.runs()
    assert len(runs) == 1 and store.skipped == 0
    row = runs.iloc[0]
    assert (row.run_id, row.version, row.label, row.origin, row.status) == ("r1", "abc123", "A", "cli", "answered")
    assert (row.total_s, row.retrieve_s, row.input_tokens, row.sources) == (1.5, 0.25, 120, ["returns.md"])
    assert (row["confidence.score"], row["decide.decision"], row["validate.failed"]) == (0.83, "answer", [])
    calls = store.calls()
    assert calls[["kind", "input_tokens", "attempts", "seconds"]].to_dict("records") == [
        {"kind": "llm", "input_tokens": 120, "attempts": 2, "seconds": 0.9}
    ]
    store.record(record(answer="31 days."), version="abc123")  # the same run id again replaces it
    assert store.count() == 1 and store.runs().iloc[0].answer == "31 days."
    assert len(store.calls()) == 1


def test_the_status_says_what_became_of_the_run():
    assert status_of(record()) == "answered"
    assert status_of(record(error="RuntimeError: down")) == "error"
    assert status_of(record(answer="I don't know.")) == "refused"
    escalated = record()
    escalated.part("validate")["action"] = "escalated"
    assert status_of(escalated) == "escalated"
    decided = record()
    decided.part("decide")["decision"] = "escalate"
    assert status_of(decided) == "escalated"


def test_outcomes_join_by_run_id_and_an_unknown_run_is_refused(where):
    store = run_store(where)
    store.record(record())
    assert store.add_feedback("r1", up=True, comment="thanks") == 1
    store.add_review("r1", approved=False)
    store.add_effect("r1", ok=False, comment="refund over the limit")
    table = store.outcomes()
    assert table[["run_id", "kind", "value", "comment"]].values.tolist() == [
        ["r1", "feedback", "up", "thanks"],
        ["r1", "review", "rejected", ""],
        ["r1", "effect", "wrong", "refund over the limit"],
    ]
    with pytest.raises(RunStoreError, match="no run with id 'nope' in the run store; use the run_id"):
        store.add_feedback("nope", up=True)
    with pytest.raises(RunStoreError, match="at most 2,000 characters"):
        store.add_feedback("r1", up=True, comment="x" * 2001)
    assert len(store.outcomes()) == 3  # nothing half-written by the refusals


def test_a_newer_store_is_refused_and_left_as_it_was(tmp_path):
    path = tmp_path / "runs.sqlite"
    RunStore(path).record(record())
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    before = path.read_bytes()
    with pytest.raises(RunStoreError, match=f"schema version 99, newer than this toolkit's {SCHEMA_VERSION}; upgrade"):
        RunStore(path)
    assert path.read_bytes() == before


def test_a_version_1_store_is_migrated_forward_with_its_rows(tmp_path):
    path = tmp_path / "runs.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(_SCHEMA_V1)
        db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        db.execute(
            "INSERT INTO runs VALUES ('old', '2026-01-01T00:00:00+00:00', 'v0', 'q', 'a', 'm', '', 'answered',"
            " 2.0, 0.5, 1.5, 10, 2, 0.0, 0.0, '[]')"
        )
        db.execute("""INSERT INTO fields VALUES ('old', 'validate.action', '"pass"')""")
    store = RunStore(path)
    assert store.schema_version == 2
    runs = store.runs()
    assert runs[["run_id", "version", "origin", "label", "total_s", "validate.action"]].values.tolist() == [
        ["old", "v0", "", "", 2.0, "pass"]
    ]
    indexes = {row[0] for row in store.query("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"fields_name", "runs_timestamp"} <= indexes


def test_an_sqlite_file_of_something_else_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(RunStoreError, match="is an SQLite file but not a run store"):
        RunStore(path)


def test_unreadable_rows_are_skipped_and_counted(where):
    store = run_store(where)
    for run_id in ("good", "bad-number", "bad-json"):
        store.record(record(run_id))
    if store.path is not None:  # PostgreSQL's typed columns refuse a word in a number column
        write(store, "UPDATE runs SET total_s='fast' WHERE run_id='bad-number'")
    else:
        write(store, "UPDATE runs SET total_s='NaN' WHERE run_id='bad-number'")
    write(store, "UPDATE fields SET value='{not json' WHERE run_id='bad-json'")
    runs = store.runs()
    assert runs.run_id.tolist() == ["good"]
    assert store.skipped == 2 and runs.attrs["skipped"] == 2


def _write_runs(where: str, worker: int, count: int) -> None:
    store = run_store(where)
    for i in range(count):
        store.record(record(f"w{worker}-{i}"), version="v", origin=f"worker {worker}")
        store.add_feedback(f"w{worker}-{i}", up=i % 2 == 0)


def test_eight_processes_writing_at_once_lose_nothing(where):
    run_store(where)
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_write_runs, args=(where, w, 25)) for w in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0] * 8
    store = run_store(where)
    assert store.count() == 200
    assert len(store.outcomes()) == 200
    assert sorted(store.runs().run_id) == sorted(f"w{w}-{i}" for w in range(8) for i in range(25))
    assert len(store.calls()) == 200


def test_a_pipeline_with_a_store_records_every_run_errors_included(tiny_index, embed_model, where):
    from toolkit import Pipeline, load_settings
    from toolkit.models.extractive import ExtractiveLLM

    pipeline = Pipeline(
        tiny_index,
        settings=load_settings(llm="extractive"),
        embed_model=embed_model,
        llm=ExtractiveLLM.from_embed_model(embed_model),
    )
    pipeline.store, pipeline.label = run_store(where), "A"
    answer = pipeline.ask("How long do I have to return an item?")
    pipeline.ask("   ", raise_errors=False)
    runs = pipeline.store.runs()
    assert runs.run_id.tolist() == [answer.record.run_id, pipeline.records[-1].run_id]
    assert runs.status.tolist() == ["answered", "error"]
    assert runs.error.tolist()[1] == "ToolkitError: the question is empty; ask something about the indexed documents"
    assert runs.label.tolist() == ["A", "A"] and runs.origin.tolist() == ["python", "python"]
    assert runs.answer.iloc[0] == answer.text


def test_a_backup_is_a_whole_store(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    store.record(record())
    copy = RunStore(store.backup(tmp_path / "copy.sqlite"))
    assert copy.runs().run_id.tolist() == ["r1"] and copy.schema_version == SCHEMA_VERSION

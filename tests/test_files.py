"""Atomic writes: all or nothing, with ordinary permissions."""

import os

import pytest

from toolkit.files import current_umask, write_atomic


def test_a_write_replaces_the_file_whole_and_leaves_no_temporary(tmp_path):
    path = write_atomic(tmp_path / "deep" / "a.yaml", "one\n")
    write_atomic(path, "two\n")
    assert path.read_text(encoding="utf-8") == "two\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.yaml"]
    assert path.stat().st_mode & 0o777 == 0o666 & ~current_umask()


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = write_atomic(tmp_path / "a.csv", "old\n")

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, "new\n")
    assert path.read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


def test_a_write_transaction_commits_whole_or_rolls_back_and_closes(tmp_path):
    import sqlite3

    from toolkit.files import write_transaction

    def connect():
        return sqlite3.connect(tmp_path / "t.db", isolation_level=None)

    with write_transaction(connect()) as db:
        db.execute("CREATE TABLE t (x)")
        db.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(ZeroDivisionError), write_transaction(connect()) as db:
        db.execute("INSERT INTO t VALUES (2)")
        raise ZeroDivisionError("a failure inside the transaction")
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        db.execute("SELECT 1")
    assert connect().execute("SELECT x FROM t").fetchall() == [(1,)]

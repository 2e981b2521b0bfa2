"""LocalPostgres: a throwaway server with pgvector, reached through PGHOST, deleted when stopped."""

from toolkit.storage import LocalPostgres
from toolkit.storage.postgres import connect


def test_a_local_server_is_reached_through_pghost_and_deleted_when_stopped(tmp_path, monkeypatch):
    """The URL a committed configuration holds names no machine's folder: PGHOST says where."""
    with LocalPostgres(tmp_path) as server:
        monkeypatch.setenv("PGHOST", server.socket_dir)
        assert server.socket_dir.startswith(str(server.data))
        with connect("postgresql://postgres@/postgres") as db:
            assert db.execute("SELECT extname FROM pg_extension WHERE extname = 'vector'").fetchone() == ("vector",)
    assert not server.data.exists() and tmp_path.exists()  # its own data folder only

"""A throwaway PostgreSQL with pgvector on a Unix socket: for the tests, notebook 11 and a laptop.

The `pgserver` package (the `postgres` extra) ships PostgreSQL 16 and pgvector as a wheel, so no
system install and no download: the server listens on a socket in its folder, not on the
network, and is stopped and deleted by `stop()`, at the end of a `with` block, or at exit.

    >>> with LocalPostgres() as server:                                # doctest: +SKIP
    ...     Pipeline.from_config(config.with_changes(store=server.url))

A shared deployment points `store:` at its own server instead (docs/scaling.md).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import uuid
import warnings
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from ..errors import StoreError

__all__ = ["LocalPostgres"]


class LocalPostgres:
    """PostgreSQL with the vector extension created, in a new data folder under `folder`.

    `durable=False` (the default: a throwaway server) turns off fsync and synchronous commit, so
    commits do not wait for the disk. A killed client loses nothing committed either way; only a
    crash of the machine would.
    """

    def __init__(self, folder: str | Path | None = None, *, durable: bool = False):
        self._own_parent = folder is None
        self.parent = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="toolkit-pg-"))
        self.data = self.parent / uuid.uuid4().hex[:8]  # a new data folder each time: never another server's
        self.durable = durable
        self.url: str | None = None
        self._server = None

    def start(self) -> LocalPostgres:
        try:
            with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root)
                warnings.simplefilter("ignore")
                import pgserver
            import psycopg
        except ImportError as exc:
            raise StoreError(
                f"a local PostgreSQL needs {exc.name}: pip install -e '.[postgres]' (it brings pgserver and psycopg)"
            ) from exc
        self.parent.mkdir(parents=True, exist_ok=True)
        # As root, pgserver runs the server as a system user of its own and opens the folder to it.
        self._server = pgserver.get_server(self.data, cleanup_mode="delete")
        atexit.register(self.stop)
        self.url = self._server.get_uri()
        with psycopg.connect(self.url, autocommit=True) as db:
            db.execute("CREATE EXTENSION IF NOT EXISTS vector")
            if not self.durable:
                db.execute("ALTER SYSTEM SET synchronous_commit = off")
                db.execute("ALTER SYSTEM SET fsync = off")
                db.execute("SELECT pg_reload_conf()")
        return self

    @property
    def socket_dir(self) -> str:
        """The folder of the server's Unix socket: what libpq's PGHOST names, so a configuration can
        say `postgresql:///postgres` and run against whichever server PGHOST points at."""
        return parse_qs(urlsplit(self.url).query)["host"][0]

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
        shutil.rmtree(self.parent if self._own_parent else self.data, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

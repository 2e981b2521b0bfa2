"""Call a function in a worker process under a time and a memory budget, so that no input can
stall the caller.

One worker serves the calls one after another: it is started once (on the first call), not per
call. A call that runs past `timeout_s`, or needs more than `memory_mib` MiB of address space on
top of what the worker held when it was ready, raises OverBudget; the worker is killed, and a
fresh one serves the next call. The caller only ever receives whole results.

    >>> with BudgetedWorker(timeout_s=60, memory_mib=256) as worker:
    ...     worker.call(len, b"four")
    4

Why a process: a thread cannot be stopped in the middle of Python code, and a parser that loops
for minutes holds the interpreter. Why not concurrent.futures.ProcessPoolExecutor: before Python
3.14 it cannot stop one running task, so a stalled call would keep its worker busy to the end.
Why a plain subprocess rather than a multiprocessing "spawn" Process: spawn runs the caller's
main script again in the child, so a script that calls `ingest` without an
`if __name__ == "__main__":` guard would fail; a subprocess that runs only this module cannot.
Never "fork": the caller may hold threads (tokenizers, tqdm, file locks) that a forked child
would copy mid-lock. The two sides speak over two pipes with multiprocessing's Connection
(pickled messages), on file descriptors of their own, so nothing a parser prints gets in.

The memory cap is RLIMIT_AS (address space), which Linux enforces; elsewhere (macOS does not
enforce it) only the time budget applies. On Windows (no pipes to pass by number) calls run in
the calling process, without a budget.

Not here: what is called (loaders.parse_fields) or what a caller does with a budget's refusal.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Literal

from ..errors import IngestError

__all__ = ["BudgetedWorker", "OverBudget"]

# Seconds a fresh worker may take to import its modules; not part of any call's budget.
STARTUP_S = 120.0


class OverBudget(Exception):
    """A call ran out of time, out of memory, or killed its worker (`kind`: time, memory, crash)."""

    def __init__(self, kind: Literal["time", "memory", "crash"], detail: str = ""):
        super().__init__(kind if not detail else f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class BudgetedWorker:
    """A reusable worker process whose every call has `timeout_s` seconds and `memory_mib` MiB.

    `preload` names modules the worker imports before its memory is capped, so that importing
    them is neither slow nor costly for the first call.
    """

    def __init__(self, timeout_s: float, memory_mib: int, preload: Sequence[str] = ()):
        self.timeout_s = timeout_s
        self.memory_mib = memory_mib
        self.preload = tuple(preload)
        self._process = None
        self._conn = None  # our end of the pipe to the worker

    def __enter__(self) -> BudgetedWorker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def call(self, function: Callable, *args):
        """`function(*args)` in the worker. The function must be importable by name (a module's
        top-level function); an exception it raises is raised here. Raises OverBudget."""
        if os.name == "nt":  # see the module's docstring
            return function(*args)
        conn = self._ready()
        try:
            conn.send((function, args))
        except OSError:  # the worker left while taking the request: a request too large for its memory?
            raise OverBudget("memory" if self._said_memory() else "crash", self._stop()) from None
        if not conn.poll(self.timeout_s):
            self._stop()
            raise OverBudget("time")
        try:
            kind, value = conn.recv()
        except (EOFError, OSError):
            raise OverBudget("crash", self._stop()) from None
        if kind == "memory":
            self._stop()  # a fresh worker for the next call: a failed allocation may leave debris
            raise OverBudget("memory")
        if kind == "raised":
            raise value
        return value

    def _said_memory(self) -> bool:
        try:
            return self._conn.poll(1) and self._conn.recv() == ("memory", None)
        except (EOFError, OSError):
            return False

    def close(self) -> None:
        """Stop the worker (a closed worker starts again on the next call)."""
        if self._conn is not None:
            try:
                self._conn.send(None)  # ask it to leave
            except OSError:
                pass
        if self._process is not None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass  # _stop kills it
        self._stop()

    def _ready(self):
        if self._conn is not None:
            return self._conn
        from_parent, to_child = os.pipe()  # (read end, write end)
        from_child, to_parent = os.pipe()
        process = subprocess.Popen(
            [sys.executable, "-c", _BOOTSTRAP, json.dumps(sys.path), str(from_parent), str(to_parent)],
            pass_fds=(from_parent, to_parent),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        os.close(from_parent)  # only the worker holds its ends, so its death reads as end-of-file here
        os.close(to_parent)
        self._process = process
        self._conn = _Duplex(Connection(from_child, writable=False), Connection(to_child, readable=False))
        self._conn.send((self.memory_mib, self.preload))
        ready = self._conn.poll(STARTUP_S)
        try:
            message = self._conn.recv() if ready else None
        except (EOFError, OSError):
            message = None
        if message != "ready":
            how = self._stop() if ready else f"no answer in {STARTUP_S:g} s; " + self._stop()
            raise IngestError(
                f"the file parser process did not start ({how}); check that the toolkit imports "
                "in a fresh Python: python -c 'import toolkit.ingestion.loaders'"
            )
        return self._conn

    def _stop(self) -> str:
        """Kill the worker if it runs; say how it ended (for a crash report)."""
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            conn.close()
        if process is None:
            return ""
        if process.poll() is None:
            process.kill()
        code = process.wait()
        if code is not None and code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit code {code}"


class _Duplex:
    """One reading and one writing Connection, used as one."""

    def __init__(self, reader: Connection, writer: Connection):
        self.reader, self.writer = reader, writer

    def send(self, message) -> None:
        self.writer.send(message)

    def recv(self):
        return self.reader.recv()

    def poll(self, timeout: float) -> bool:
        return self.reader.poll(timeout)

    def close(self) -> None:
        self.reader.close()
        self.writer.close()


# What the worker runs: the caller's import path (so it imports the same toolkit), then _serve.
_BOOTSTRAP = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
    "from toolkit.ingestion.budget import _serve; _serve(int(sys.argv[2]), int(sys.argv[3]))"
)


def _serve(read_fd: int, write_fd: int) -> None:
    """The worker's loop: (function, args) in, ("ok" | "raised" | "memory", value) out."""
    conn = _Duplex(Connection(read_fd, writable=False), Connection(write_fd, readable=False))
    memory_mib, preload = conn.recv()
    for name in preload:
        importlib.import_module(name)
    _cap_memory(memory_mib)
    conn.send("ready")
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        except MemoryError:  # the request alone (a file's bytes) is over the budget
            conn.send(("memory", None))
            return
        if request is None:
            return
        answer = _run(*request)
        try:
            conn.send(answer)
        except Exception as exc:  # an exception or result that cannot be pickled: say what it was
            conn.send(("raised", RuntimeError(f"{answer[1]!r} cannot be sent back ({type(exc).__name__}: {exc})")))


def _run(function: Callable, args: tuple) -> tuple[str, object]:
    # Returning (not sending from inside `except`) frees the failed call's frames, and with them
    # its memory, before the answer is pickled.
    try:
        return "ok", function(*args)
    except MemoryError:
        return "memory", None
    except Exception as exc:  # the caller decides what an exception means; it is raised there
        return "raised", exc


def _cap_memory(memory_mib: int) -> None:
    try:
        import resource

        with open("/proc/self/statm") as statm:  # address space in pages, first field
            held = int(statm.read().split()[0]) * resource.getpagesize()
        limit = held + memory_mib * 1024 * 1024
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, OSError, ValueError):  # no resource module, no /proc: the time budget alone
        return

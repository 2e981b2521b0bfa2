"""Retries that retry only what is worth retrying: backoff with jitter, timeouts, a deadline, fallback tiers.

A RetryPolicy runs a call under tenacity. Between attempts it backs off exponentially with
jitter; each attempt has its own timeout and the whole call an overall deadline. It retries
transient failures only: timeouts, connection errors, HTTP 408 and 429 (waiting as long as
Retry-After asks) and 5xx. An authentication (401, 403) or validation (400, 404, 422) failure
is raised at once: the same request would fail the same way. When one tier's attempts are
spent, the call moves to the next tier (a fallback model). `on_attempt` sees every attempt, so a
cost or side-effect ledger can count each one.

    >>> policy = RetryPolicy(max_attempts=3, initial_backoff_s=0.01)
    >>> policy.call(lambda: "ok")
    'ok'
    >>> is_transient(TimeoutError()), is_transient(PermissionError())
    (True, False)

Failures are recognised by status code and by the exception types of httpx, openai, anthropic,
requests and urllib, without importing any of them.

Not here: keeping side effects to once (effects.py), injecting faults (faults.py), and
choosing a tier by cost or difficulty (routing).
"""

from __future__ import annotations

import contextvars
import email.utils
import http.client
import json
import re
import sys
import threading
import time
import urllib.error
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tenacity import Retrying, retry_if_exception, wait_exponential, wait_random

from ..errors import CallTimeoutError, ConfigError, MalformedOutputError, RetryExhaustedError

__all__ = [
    "RetryPolicy",
    "Attempt",
    "CallResult",
    "is_transient",
    "status_code",
    "retry_after",
    "call_with_timeout",
    "check_complete",
    "check_schema",
    "describe",
]

# 5xx is retried, except these two: the server says it will never do this, so a retry cannot help.
_PERMANENT_5XX = frozenset({501, 505})
_TRANSIENT_4XX = frozenset({408, 425, 429})  # request timeout, too early, too many requests
# A key-like token in an error message (providers echo part of a bad key back): never logged.
_SECRET = re.compile(r"\b(?:sk|pk|rk|key|token)[-_][A-Za-z0-9_\-*]{6,}|\bBearer\s+[A-Za-z0-9._\-*]{8,}", re.IGNORECASE)


def status_code(exc: BaseException) -> int | None:
    """The HTTP status an exception carries: openai/anthropic (`status_code`), httpx and
    requests (`response.status_code`), urllib (`code`), aiohttp (`status`).

    >>> import urllib.error
    >>> status_code(urllib.error.HTTPError("http://127.0.0.1/", 503, "Busy", {}, None))
    503
    """
    for owner in (exc, getattr(exc, "response", None)):
        for name in ("status_code", "code", "status"):
            value = getattr(owner, name, None)
            if isinstance(value, int) and not isinstance(value, bool) and 100 <= value < 600:
                return value
    return None


def _headers(exc: BaseException):
    headers = getattr(getattr(exc, "response", None), "headers", None)
    return headers if headers is not None else getattr(exc, "headers", None)


def retry_after(exc: BaseException | None) -> float | None:
    """Seconds a failure asks us to wait: `retry-after-ms` (OpenAI's) first, then `Retry-After`
    as seconds or as an HTTP date. None when it asks nothing.

    >>> import httpx
    >>> r = httpx.Response(429, headers={"Retry-After": "2"}, request=httpx.Request("GET", "http://127.0.0.1/"))
    >>> retry_after(httpx.HTTPStatusError("slow down", request=r.request, response=r))
    2.0
    """
    headers = _headers(exc) if exc is not None else None
    if headers is None or not hasattr(headers, "get"):
        return None
    if isinstance(headers, dict):  # a plain dict is case-sensitive; HTTP header names are not
        headers = {str(k).lower(): v for k, v in headers.items()}
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None  # unparseable: fall back to our own backoff rather than guess
        return max(0.0, when.timestamp() - time.time())


def _library_transient(exc: BaseException) -> bool:
    """Connection and timeout errors of client libraries, checked only if already imported."""
    kinds: list[type] = []
    if "httpx" in sys.modules:
        httpx = sys.modules["httpx"]
        kinds += [httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError]
    for name in ("openai", "anthropic"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "APIConnectionError"):
            kinds.append(module.APIConnectionError)  # its subclass APITimeoutError too
    if "requests" in sys.modules:
        exceptions = sys.modules["requests"].exceptions
        kinds += [exceptions.ConnectionError, exceptions.Timeout, exceptions.ChunkedEncodingError]
    return isinstance(exc, tuple(kinds))


def _classify(exc: BaseException) -> bool | None:
    """True transient, False permanent, None: this exception alone does not say."""
    flag = getattr(exc, "transient", None)
    if isinstance(flag, bool):
        return flag
    status = status_code(exc)
    if status is not None and status >= 400:
        return status in _TRANSIENT_4XX or (500 <= status < 600 and status not in _PERMANENT_5XX)
    # A body that is not JSON, or cut short, is a server or proxy hiccup; the next reply may be whole.
    if isinstance(exc, (TimeoutError, ConnectionError, http.client.IncompleteRead, json.JSONDecodeError)):
        return True
    if isinstance(exc, urllib.error.URLError):  # no status: refused, reset, timed out, or a bad URL
        return isinstance(exc.reason, OSError)
    if _library_transient(exc):
        return True
    return None


def is_transient(exc: BaseException) -> bool:
    """Whether a retry may succeed. Undecided exceptions defer to their cause; anything
    unrecognised is permanent, because retrying what we do not understand only delays the error.

    >>> import urllib.error
    >>> [is_transient(urllib.error.HTTPError("http://127.0.0.1/", c, "", {}, None)) for c in (429, 503, 401, 422)]
    [True, True, False, False]
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        verdict = _classify(exc)
        if verdict is not None:
            return verdict
        exc = exc.__cause__ or exc.__context__
    return False


def describe(exc: BaseException) -> str:
    """`Type: message`, short, with anything key-like redacted (providers echo bad keys back)."""
    text = _SECRET.sub("[redacted]", f"{type(exc).__name__}: {exc}")
    return text if len(text) <= 200 else text[:197] + "..."


def call_with_timeout(fn: Callable, timeout_s: float, *args, **kwargs):
    """Run `fn(*args, **kwargs)`; raise CallTimeoutError if it has not returned in `timeout_s`.

    >>> call_with_timeout(sum, 1.0, [1, 2])
    3

    Python cannot stop a thread, so a call that overruns goes on in the background and its
    result is dropped; anything it does (a ticket it opens) still happens. That is exactly why
    side effects need idempotency keys. Written by hand because tenacity times whole retry
    loops, not single attempts, and a thread pool would keep the interpreter waiting at exit.
    """
    box: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the caller, whatever it is
            box["error"] = exc
        finally:
            done.set()

    context = contextvars.copy_context()  # LlamaIndex's instrumentation spans live in contextvars
    threading.Thread(target=context.run, args=(target,), daemon=True, name="toolkit-call").start()
    if not done.wait(timeout_s):
        raise CallTimeoutError(
            f"the call did not return within its {timeout_s:.3g} s timeout and was abandoned "
            f"(it may still finish in the background); raise timeout_s if the service is just slow"
        )
    if "error" in box:
        raise box["error"]
    return box["value"]


def _finish_reason(raw: Any) -> str | None:
    if raw is None:
        return None

    def get(o, k):
        return o.get(k) if isinstance(o, dict) else getattr(o, k, None)

    choices = get(raw, "choices")
    if choices:
        return get(choices[0], "finish_reason")
    return get(raw, "stop_reason")  # Anthropic


def _text(output: Any) -> Any:
    message = getattr(output, "message", None)
    return getattr(message, "content", None) if message is not None else getattr(output, "text", output)


def check_complete(output: Any) -> None:
    """Raise MalformedOutputError when the provider says a model's output was cut short, or it is empty.

    >>> check_complete("Returns are accepted within 30 days.")
    >>> check_complete("   ")
    Traceback (most recent call last):
    ...
    toolkit.errors.MalformedOutputError: the model returned no text; retrying

    Cut short means the provider said so (`finish_reason` "length", Anthropic's "max_tokens").
    A cut it does not report cannot be seen in plain text: "Returns are accepted within 30"
    reads as a (wrong) answer. Ask for structured output and check it with `check_schema`, or
    let content validators judge the answer. A deterministic model that always runs out of
    tokens will fail every retry and fall back.
    """
    if _finish_reason(getattr(output, "raw", None)) in ("length", "max_tokens"):
        raise MalformedOutputError(
            "the model's output was cut off at its token limit (finish_reason=length); "
            "retrying; raise max_output_tokens if it happens every time"
        )
    text = _text(output)
    if not isinstance(text, str) or not text.strip():
        raise MalformedOutputError("the model returned no text; retrying")


def check_schema(model) -> Callable[[Any], None]:
    """A `validate` for RetryPolicy: the output must be complete (check_complete) and be exactly
    one JSON object that validates against the pydantic `model`. Judged from the output alone.

    >>> from pydantic import BaseModel
    >>> class Answer(BaseModel):
    ...     answer: str
    >>> check = check_schema(Answer)
    >>> check('{"answer": "30 days"}')
    >>> check('{"answer": "30 da')
    Traceback (most recent call last):
    ...
    toolkit.errors.MalformedOutputError: the model's output is not whole JSON (cut short or malformed: Invalid JSON: EOF while parsing a string at line 1 column 17); retrying
    >>> check('{"answer": 7}')
    Traceback (most recent call last):
    ...
    toolkit.errors.MalformedOutputError: the model's output breaks the Answer schema (answer: Input should be a valid string); retrying

    A prefix of a JSON object never parses, so any cut of such a reply is seen here, reported
    or not. What passes is JSON of the right shape; whether its content is right is for the
    content validators.
    """
    from pydantic import ValidationError

    def check(output: Any) -> None:
        check_complete(output)
        try:
            model.model_validate_json(_text(output).strip())
        except ValidationError as exc:
            problem = exc.errors()[0]
            if problem["type"] == "json_invalid":
                raise MalformedOutputError(
                    f"the model's output is not whole JSON (cut short or malformed: {problem['msg']}); retrying"
                ) from None
            where = ".".join(str(p) for p in problem["loc"]) or "reply"
            raise MalformedOutputError(
                f"the model's output breaks the {model.__name__} schema ({where}: {problem['msg']}); retrying"
            ) from None

    return check


@dataclass
class Attempt:
    """One attempt: which tier, its number within the tier, how it ended, and when."""

    tier: str
    number: int
    outcome: str = "ok"  # "ok" | "transient" | "permanent"
    error: str = ""
    started_s: float = 0.0  # since the call began
    elapsed_s: float = 0.0
    wait_s: float = 0.0  # backoff slept after this attempt (filled in when the sleep starts)


@dataclass
class CallResult:
    """What a call returned, from which tier (`tier_index` 0 is the primary), after which attempts."""

    value: Any
    tier: str
    tier_index: int
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def fell_back(self) -> bool:
        return self.tier_index > 0


@dataclass
class RetryPolicy:
    """Retry transient failures with exponential backoff and jitter, then fall back a tier.

    >>> policy = RetryPolicy(max_attempts=4, initial_backoff_s=0.5, timeout_s=30, deadline_s=120)  # doctest: +SKIP
    >>> result = policy.chat("local:SmolLM2", llm, messages)          # doctest: +SKIP
    >>> result.tier, len(result.attempts)                              # doctest: +SKIP
    ('local:SmolLM2', 2)

    Attempt n (from 1) that fails waits `initial_backoff_s * 2**(n-1)`, capped at
    `max_backoff_s`, plus up to `jitter_s` of random jitter, unless the failure carries
    Retry-After, which wins. A wait that would end past `deadline_s` (or exceeds `max_retry_after_s`) ends the call.
    `fallbacks` are `(model name, LLM)` tiers `chat` tries, in order, after the primary.

    A timed-out attempt is abandoned, not stopped (see call_with_timeout), so its retry may run
    beside it: give an in-process model that is not thread-safe (llama.cpp) a timeout it never
    reaches, or `timeout_s=None`.

    The deadline and the attempts should agree: a deadline shorter than `worst_case_s` (every
    attempt timing out, every backoff at its longest) ends a call while it still has attempts
    to spend, and whatever was to follow the call (its side effects) never happens.
    """

    max_attempts: int = 4  # per tier
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    jitter_s: float = 0.5
    timeout_s: float | None = 30.0  # per attempt
    deadline_s: float | None = 120.0  # whole call, all tiers
    max_retry_after_s: float = 60.0
    fallbacks: Sequence[tuple[str, Any]] = ()
    validate: Callable[[Any], None] | None = None  # raise MalformedOutputError to reject a value
    on_attempt: Callable[[Attempt], None] | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic  # what the deadline is measured by (tests fake both)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be at least 1, not {self.max_attempts}")
        for name in ("initial_backoff_s", "max_backoff_s", "jitter_s", "max_retry_after_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative, not {getattr(self, name)}")
        for name in ("timeout_s", "deadline_s"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name} must be positive (or None for no limit), not {value}")

    @property
    def worst_case_s(self) -> float | None:
        """The longest one tier can take by its own settings: every attempt runs to `timeout_s`
        and every backoff to its cap plus full jitter. None without a per-attempt timeout.
        (A Retry-After longer than the backoff cap can still exceed it, up to `max_retry_after_s`.)

        >>> RetryPolicy(max_attempts=3, timeout_s=0.2, initial_backoff_s=0.01, max_backoff_s=0.5, jitter_s=0.01).worst_case_s
        0.65
        """
        if self.timeout_s is None:
            return None
        waits = [min(self.initial_backoff_s * 2 ** (n - 1), self.max_backoff_s) for n in range(1, self.max_attempts)]
        return round(self.max_attempts * self.timeout_s + sum(waits) + (self.max_attempts - 1) * self.jitter_s, 6)

    def call(self, fn: Callable, *args, **kwargs):
        """`fn(*args, **kwargs)` under this policy, on one tier; returns its value.

        >>> RetryPolicy().call(max, 3, 4)
        4
        """
        return self.run([(getattr(fn, "__name__", "call"), fn)], args, kwargs).value

    def chat(self, model: str, llm, messages, **kwargs) -> CallResult:
        """`llm.chat(messages)`, then the `fallbacks` tiers; output checked by `validate`, or by
        `check_complete` when the policy has none."""
        tiers = [(model, llm.chat)] + [(name, fallback.chat) for name, fallback in self.fallbacks]
        return self.run(tiers, (messages,), kwargs, validate=self.validate or check_complete)

    def run(
        self,
        tiers: Sequence[tuple[str, Callable]],
        args: tuple = (),
        kwargs: dict | None = None,
        *,
        validate: Callable[[Any], None] | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
    ) -> CallResult:
        """Call each tier's function with `args` until one succeeds. A permanent failure is raised
        at once (no retry, no fallback); spent tiers raise RetryExhaustedError from the last error."""
        if not tiers:
            raise ConfigError("run() needs at least one (name, function) tier")
        validate = validate or self.validate
        started = self.clock()
        attempts: list[Attempt] = []
        last: BaseException | None = None
        for index, (tier, fn) in enumerate(tiers):
            if self.deadline_s is not None and self.clock() - started >= self.deadline_s:
                break
            retrying = Retrying(
                stop=self._stop(started),
                wait=self._wait,
                retry=retry_if_exception(is_transient),
                before_sleep=lambda state: setattr(attempts[-1], "wait_s", state.upcoming_sleep),
                sleep=self.sleep,
                reraise=True,
            )
            try:
                value = retrying(self._attempt, tier, fn, args, kwargs or {}, started, attempts, validate, on_attempt)
                return CallResult(value, tier, index, attempts)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                last = exc
        spent = self.clock() - started
        raise RetryExhaustedError(
            f"{len(attempts)} attempts over {len(tiers)} tier(s) failed in {spent:.2f} s; last: "
            f"{describe(last) if last else 'deadline reached before the first attempt'}; raise max_attempts or "
            f"deadline_s, add a fallback tier, or check the service"
        ) from last

    def _attempt(self, tier, fn, args, kwargs, started, attempts, validate, on_attempt):
        attempt = Attempt(tier, 1 + sum(a.tier == tier for a in attempts), started_s=self.clock() - started)
        began = self.clock()
        try:
            timeout = self._time_left(started)
            value = call_with_timeout(fn, timeout, *args, **kwargs) if timeout is not None else fn(*args, **kwargs)
            if validate is not None:
                validate(value)
            return value
        except Exception as exc:
            attempt.outcome, attempt.error = ("transient" if is_transient(exc) else "permanent"), describe(exc)
            raise
        finally:
            attempt.elapsed_s = self.clock() - began
            attempts.append(attempt)
            for callback in (self.on_attempt, on_attempt):
                if callback is not None:
                    callback(attempt)

    def _time_left(self, started: float) -> float | None:
        """This attempt's timeout: the per-call timeout, cut short by the overall deadline."""
        limits = [self.timeout_s] if self.timeout_s is not None else []
        if self.deadline_s is not None:
            limits.append(max(self.deadline_s - (self.clock() - started), 0.001))
        return min(limits) if limits else None

    def _wait(self, state) -> float:
        asked = retry_after(state.outcome.exception())
        if asked is not None:
            return asked
        return (
            wait_exponential(multiplier=self.initial_backoff_s, max=self.max_backoff_s) + wait_random(0, self.jitter_s)
        )(state)

    def _stop(self, started: float) -> Callable:
        def stop(state) -> bool:
            if state.attempt_number >= self.max_attempts or state.upcoming_sleep > self.max_retry_after_s:
                return True
            return self.deadline_s is not None and self.clock() - started + state.upcoming_sleep >= self.deadline_s

        return stop

"""Shared HTTP behaviour for every connector, built on tenacity and httpx.

- 429: wait what ``Retry-After`` says (capped), then retry;
- 5xx and connection errors: bounded exponential backoff with jitter;
- 401/403: :class:`AuthenticationError`; other 4xx: :class:`SourceRequestError` with the API's
  own message; retries exhausted: :class:`SourceUnavailableError`;
- a per-connector request-rate limit (token bucket) shared by all of its streams.

Connectors whose official client is not httpx-based (HubSpot's urllib3 client) use
:func:`call_with_retry` with their own classifier so the policy stays in one place.
"""

from __future__ import annotations

import logging
import multiprocessing
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
import orjson
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from .errors import AuthenticationError, SourceRequestError, SourceUnavailableError

__all__ = [
    "HttpClient",
    "RateLimiter",
    "RetryPolicy",
    "TransientError",
    "api_error_message",
    "call_with_retry",
    "parse_retry_after",
]

T = TypeVar("T")
log = logging.getLogger("vitalsign.http")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a transient failure."""

    attempts: int = 6
    backoff: float = 0.5  # first wait in seconds, doubled each time
    max_backoff: float = 30.0
    max_retry_after: float = 120.0
    sleep: Callable[[float], None] = time.sleep

    def backoff_for(self, attempt: int) -> float:
        base = min(self.max_backoff, self.backoff * (2 ** max(0, attempt - 1)))
        return base * (0.5 + random.random() / 2)


class TransientError(Exception):
    """Raised inside a retried call for a failure worth retrying."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status_code = status_code


class RateLimiter:
    """A token bucket: at most ``rate`` acquisitions per second on average, bursts of ``burst``.

    The bucket lives in shared memory, so a reader process the engine forks
    (``Stream.read_in_process``) draws from the same bucket as the engine and as the readers of
    the connector's other streams: one limit per connector, whichever process sends."""

    def __init__(
        self,
        rate: float | None,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate or 1.0)
        self._clock = clock
        self._sleep = sleep
        self._state, self._lock = _shared_state([self.capacity, clock()])
        """``[tokens, updated]``"""

    def acquire(self) -> None:
        """Take one token, sleeping first when the bucket is in debt."""
        if not self.rate:
            return
        state = self._state
        with self._lock:
            now = self._clock()
            state[0] = min(self.capacity, state[0] + (now - state[1]) * self.rate)
            state[1] = now
            state[0] -= 1  # reserve now; waiters queue up as debt
            wait = -state[0] / self.rate if state[0] < 0 else 0.0
        if wait > 0:
            self._sleep(wait)


def _shared_state(values: list[float]) -> tuple[Any, Any]:
    """Doubles and a lock that forked processes share; a plain list and a thread lock where the
    platform has no shared semaphores (the bucket is then per process)."""
    try:
        context = multiprocessing.get_context("fork")
        return context.RawArray("d", values), context.Lock()
    except (ValueError, OSError, ImportError):
        return list(values), threading.Lock()


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def call_with_retry(fn: Callable[[], T], *, policy: RetryPolicy, what: str) -> T:
    """Run ``fn``, retrying while it raises :class:`TransientError`, per ``policy``."""

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            return min(exc.retry_after, policy.max_retry_after)
        return policy.backoff_for(state.attempt_number)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("%s: %s; retry %d of %d", what, exc, state.attempt_number, policy.attempts - 1)

    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait,
        retry=retry_if_exception(lambda exc: isinstance(exc, TransientError)),
        sleep=policy.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retrying(fn)
    except TransientError as exc:
        raise SourceUnavailableError(f"{what}: gave up after {policy.attempts} attempts: {exc}") from exc


def api_error_message(response: httpx.Response) -> str:
    """The API's own error message from a response body, else its status line."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        text = response.text.strip()
        return text[:300] if text else f"HTTP {response.status_code} {response.reason_phrase}"
    if isinstance(body, dict):
        for key in ("message", "error_description", "error", "detail", "description"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message") or value.get("title")
            if isinstance(value, str) and value:
                return value
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            first = errors[0]
            if isinstance(first, dict):
                return str(first.get("message") or first.get("title") or first)
            return str(first)
    return f"HTTP {response.status_code} {response.reason_phrase}"


class HttpClient:
    """An httpx client with the shared retry, error and rate-limit behaviour.

    ``transport`` lets tests hand in a fake (respx also intercepts the default transport).
    """

    def __init__(
        self,
        *,
        base_url: str,
        source: str,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        rate_limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.source = source
        self.retry = retry or RetryPolicy()
        self.rate_limiter = rate_limiter or RateLimiter(None)
        self._client = httpx.Client(
            base_url=base_url,
            headers=dict(headers or {}),
            auth=auth,
            timeout=timeout,
            transport=transport,
            follow_redirects=True,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, url: str, *, ok: tuple[int, ...] = (), **kwargs: Any) -> httpx.Response:
        """Send with retries; return the response or raise the translated error.

        Statuses in ``ok`` are returned as they are (e.g. Amplitude's 404 = no data).
        """

        def attempt() -> httpx.Response:
            self.rate_limiter.acquire()
            try:
                response = self._client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                raise TransientError(f"{type(exc).__name__}: {exc}") from exc
            self._raise_for_status(response, ok)
            return response

        return call_with_retry(attempt, policy=self.retry, what=f"{self.source} {method} {url}")

    def get_json(self, url: str, **kwargs: Any) -> Any:
        response = self.request("GET", url, **kwargs)
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise SourceRequestError(f"{self.source}: {url} did not return JSON") from exc

    @contextmanager
    def stream(
        self, method: str, url: str, *, ok: tuple[int, ...] = (), **kwargs: Any
    ) -> Iterator[httpx.Response]:
        """A streamed response whose status was checked (and retried) before the body is read."""

        def attempt() -> httpx.Response:
            self.rate_limiter.acquire()
            try:
                request = self._client.build_request(method, url, **kwargs)
                response = self._client.send(request, stream=True)
            except httpx.TransportError as exc:
                raise TransientError(f"{type(exc).__name__}: {exc}") from exc
            if response.status_code >= 400 and response.status_code not in ok:
                response.read()
                response.close()
                self._raise_for_status(response, ok)
            return response

        response = call_with_retry(attempt, policy=self.retry, what=f"{self.source} {method} {url}")
        try:
            yield response
        finally:
            response.close()

    def _raise_for_status(self, response: httpx.Response, ok: tuple[int, ...]) -> None:
        status = response.status_code
        if status < 400 or status in ok:
            return
        if status == 429:
            raise TransientError(
                "rate limited (429)",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                status_code=429,
            )
        if status >= 500:
            raise TransientError(f"server error {status}: {api_error_message(response)}", status_code=status)
        message = api_error_message(response)
        if status in (401, 403):
            raise AuthenticationError(f"{self.source}: credentials rejected ({status}): {message}")
        raise SourceRequestError(f"{self.source}: {message} (HTTP {status})", status_code=status)

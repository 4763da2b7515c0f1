"""The Stripe API through the official ``stripe`` package, with vitalsign's retry policy.

``stripe.StripeClient`` sends through ``stripe.HTTPXClient`` (so respx can intercept it in tests)
to the configured ``base_url`` with the API version pinned to :data:`API_VERSION`. Stripe's own
retries are off (``max_network_retries=0``): every request goes through
:func:`vitalsign.core.http.call_with_retry` and the connector's shared :class:`RateLimiter`, and
stripe's exceptions are translated at this boundary.

Responses are read raw, never turned into ``StripeObject`` trees: the typed objects would cost
more than the rest of the sync per object. The client's requestor still builds every request
(auth, API version, parameter encoding, telemetry) and its own error interpretation raises the
stripe exceptions; only a successful body is parsed here, with orjson, instead of by
``StripeClient.raw_request`` whose ``json.loads(object_pairs_hook=OrderedDict)`` costs ~8x more
(profiled: it was the largest client-side cost of the benchmark), and stripe's per-response
debug line is skipped unless stripe logging is on (see :func:`_send`). If a future stripe
release moves those requestor methods, the public ``raw_request`` is used instead.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
import stripe
from vitalsign.core.errors import AuthenticationError, SourceRequestError
from vitalsign.core.http import RateLimiter, RetryPolicy, TransientError, call_with_retry, parse_retry_after

from .settings import StripeSettings

API_VERSION = "2026-10-28.endive"
"""The Stripe API version every request pins (the one stripe-python 16.x is generated for).
Since 2025-03-31.basil billing periods live on subscription items and invoice lines name their
subscription item under ``parent``; the stream mappings rely on those shapes."""

_KEY_PATTERN = re.compile(r"\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9*]+")


def redact(message: str | None) -> str:
    """Stripe echoes a masked key in some errors; never let any part of a key through."""
    return _KEY_PATTERN.sub("[redacted key]", message or "")


class StripeApi:
    """GET requests to Stripe with retries, rate limit and error translation."""

    def __init__(
        self,
        settings: StripeSettings,
        *,
        source: str,
        rate_limiter: RateLimiter,
        retry: RetryPolicy,
    ) -> None:
        self.source = source
        self.base_url = settings.base_url
        self.page_size = settings.page_size
        self.rate_limiter = rate_limiter
        self.retry = retry
        self._http = stripe.HTTPXClient(timeout=settings.timeout, allow_sync_methods=True)
        self._client = stripe.StripeClient(
            settings.api_key.get_secret_value(),
            base_addresses={"api": settings.base_url},
            stripe_version=API_VERSION,
            max_network_retries=0,
            http_client=self._http,
        )
        self.requests = 0

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One GET, retried on 429 (honouring ``Retry-After``), 5xx and connection errors."""
        query = {k: v for k, v in (params or {}).items() if v is not None}

        def attempt() -> dict[str, Any]:
            self.rate_limiter.acquire()
            self.requests += 1
            try:
                data = self._request(path, query)
            except stripe.RateLimitError as exc:
                raise TransientError(
                    f"rate limited (429): {redact(exc.user_message)}",
                    retry_after=parse_retry_after(_header(exc, "retry-after")),
                    status_code=429,
                ) from exc
            except stripe.APIConnectionError as exc:
                raise TransientError(f"connection failed: {redact(exc.user_message)}") from exc
            except stripe.AuthenticationError as exc:
                raise AuthenticationError(
                    f"{self.source}: Stripe rejected the API key (connectors.{self.source}.api_key): "
                    f"{redact(exc.user_message)}"
                ) from exc
            except stripe.PermissionError as exc:
                raise AuthenticationError(
                    f"{self.source}: the API key may not read {path} "
                    f"(connectors.{self.source}.api_key): {redact(exc.user_message)}"
                ) from exc
            except stripe.StripeError as exc:
                status = exc.http_status
                if status is None or status >= 500:
                    raise TransientError(
                        f"server error {status}: {redact(exc.user_message)}",
                        retry_after=parse_retry_after(_header(exc, "retry-after")),
                        status_code=status,
                    ) from exc
                raise SourceRequestError(
                    f"{self.source}: Stripe refused GET {path}: {redact(exc.user_message)} (HTTP {status})",
                    status_code=status,
                ) from exc
            if not isinstance(data, dict):
                raise SourceRequestError(f"{self.source}: GET {path} did not return a JSON object")
            return data

        return call_with_retry(attempt, policy=self.retry, what=f"{self.source} GET {path}")

    def _request(self, path: str, query: dict[str, Any]) -> Any:
        requestor = getattr(self._client, "_requestor", None)
        if requestor is None or not hasattr(requestor, "_interpret_response"):
            return self._client.raw_request("get", path, **query).data
        body, status, headers = _send(requestor, path, query)
        if not 200 <= status < 300:
            requestor._interpret_response(body, status, headers, "V1")
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise TransientError(f"GET {path}: the response was not JSON (HTTP {status})") from exc

    def pages(
        self, path: str, params: Mapping[str, Any] | None = None, *, starting_after: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every page of a list endpoint (``limit``/``starting_after``/``has_more``), in order."""
        while True:
            page = self.get(
                path, {**(params or {}), "limit": self.page_size, "starting_after": starting_after}
            )
            yield page
            data = page.get("data") or []
            if not page.get("has_more") or not data:
                return
            starting_after = data[-1]["id"]


def _send(requestor: Any, path: str, query: dict[str, Any]) -> tuple[Any, int, Mapping[str, str]]:
    """One GET through the requestor: its request arguments (auth, pinned version, encoding,
    telemetry) and its HTTP client. ``request_raw`` does exactly this plus stripe's logging,
    which formats every response body into a log line (decode, whitespace regex) whether or not
    anyone listens: ~1.3 ms of CPU per 100-invoice page, 10-15 % of the client's reading. So
    unless stripe's logging is on (``stripe.log``, ``STRIPE_LOG`` or the ``stripe`` logger at
    INFO), the two steps are called directly."""
    build = getattr(requestor, "_args_for_request_with_retries", None)
    options = {"base_address": "api", "api_mode": "V1", "usage": ["raw_request"]}
    if build is None or _stripe_logging():
        result: tuple[Any, int, Mapping[str, str]] = requestor.request_raw(
            "get", path, params=query, **options
        )
        return result
    method, url, headers, post_data, max_retries, usage, *_ = build("get", path, query, None, **options)
    return requestor._get_http_client().request_with_retries(
        method, url, headers, post_data, max_network_retries=max_retries, _usage=usage
    )


def _stripe_logging() -> bool:
    console = getattr(stripe, "log", None) in ("debug", "info") or os.environ.get("STRIPE_LOG") in (
        "debug",
        "info",
    )
    return console or logging.getLogger("stripe").isEnabledFor(logging.INFO)


def _header(exc: stripe.StripeError, name: str) -> str | None:
    headers = exc.headers or {}
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return None

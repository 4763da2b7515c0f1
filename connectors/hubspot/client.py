"""The HubSpot API as the connector sees it: the official client, one retry policy, throttled.

``hubspot-api-client`` builds the requests (host, auth, paths, query encoding); responses are
read with ``_preload_content=False`` and parsed with orjson, because the generated models cost
more than the whole rest of the sync on large portals. The client's own urllib3 retries are off
so that every retry goes through :func:`vitalsign.core.http.call_with_retry`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import hubspot
import orjson
import urllib3
from hubspot.crm.associations.v4.exceptions import ApiException as AssociationsApiException
from hubspot.crm.objects.exceptions import ApiException as ObjectsApiException
from hubspot.crm.owners.exceptions import ApiException as OwnersApiException
from hubspot.crm.pipelines.exceptions import ApiException as PipelinesApiException
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException
from vitalsign.core import (
    AuthenticationError,
    RateLimiter,
    RetryPolicy,
    SourceRequestError,
    TransientError,
    call_with_retry,
)
from vitalsign.core.http import parse_retry_after

from .settings import HubSpotSettings

_API_EXCEPTIONS = (
    ObjectsApiException,
    OwnersApiException,
    PipelinesApiException,
    PropertiesApiException,
    AssociationsApiException,
)

JSON = dict[str, Any]


class HubSpotClient:
    """Typed-enough access to the endpoints the streams read; every method returns parsed JSON."""

    def __init__(self, settings: HubSpotSettings, *, source: str, retry: RetryPolicy | None = None) -> None:
        self.source = source
        self.settings = settings
        self.retry = retry or settings.retry_policy()
        general = settings.rate_limit or (settings.requests_per_10s / 10 or None)
        self.limiter = RateLimiter(general)
        self.search_limiter = RateLimiter(settings.search_per_second or None)
        api = hubspot.HubSpot(
            access_token=settings.access_token.get_secret_value(),
            host=settings.base_url.rstrip("/"),
            retry=False,  # no urllib3 retries: call_with_retry owns the policy
        )
        crm = api.crm
        self._objects = crm.objects.basic_api
        self._search = crm.objects.search_api
        self._owners = crm.owners.owners_api
        self._pipelines = crm.pipelines.pipelines_api
        self._properties = crm.properties.core_api
        self._associations = crm.associations.v4.batch_api
        self._apis = (
            self._objects,
            self._search,
            self._owners,
            self._pipelines,
            self._properties,
            self._associations,
        )

    def close(self) -> None:
        for api in self._apis:
            api.api_client.rest_client.pool_manager.clear()

    # ------------------------------------------------------------------ endpoints

    def list_page(
        self,
        object_type: str,
        *,
        after: str | None,
        properties: Sequence[str],
        associations: Sequence[str] = (),
        archived: bool = False,
        limit: int = 100,
    ) -> JSON:
        """``GET /crm/v3/objects/{type}``: one page of the list, by id, ``after`` cursor."""
        kwargs: dict[str, Any] = {"limit": limit, "archived": archived}
        if after:
            kwargs["after"] = after
        if properties:
            kwargs["properties"] = list(properties)
        if associations:
            kwargs["associations"] = list(associations)
        return self._call(
            f"list {object_type}",
            lambda **kw: self._objects.get_page(object_type, **kwargs, **kw),
        )

    def search_page(self, object_type: str, body: JSON) -> JSON:
        """``POST /crm/v3/objects/{type}/search`` (throttled by the search limiter)."""
        return self._call(
            f"search {object_type}",
            lambda **kw: self._search.do_search(object_type, body, **kw),
            limiter=self.search_limiter,
        )

    def owners_page(self, *, after: str | None, archived: bool = False, limit: int = 100) -> JSON:
        kwargs: dict[str, Any] = {"limit": limit, "archived": archived}
        if after:
            kwargs["after"] = after
        return self._call("list owners", lambda **kw: self._owners.get_page(**kwargs, **kw))

    def pipelines(self, object_type: str) -> JSON:
        return self._call(
            f"pipelines of {object_type}", lambda **kw: self._pipelines.get_all(object_type, **kw)
        )

    def properties(self, object_type: str) -> JSON:
        return self._call(
            f"properties of {object_type}", lambda **kw: self._properties.get_all(object_type, **kw)
        )

    def associations(self, from_type: str, to_type: str, ids: Sequence[str]) -> dict[str, list[JSON]]:
        """v4 batch read: ``{from id: [{"toObjectId": ..., "associationTypes": [...]}, ...]}``."""
        if not ids:
            return {}
        body = {"inputs": [{"id": i} for i in ids]}
        data = self._call(
            f"associations {from_type}->{to_type}",
            lambda **kw: self._associations.get_page(from_type, to_type, body, **kw),
        )
        return {str(r["from"]["id"]): r.get("to") or [] for r in data.get("results") or []}

    # ------------------------------------------------------------------ transport

    def _call(self, what: str, send: Callable[..., Any], *, limiter: RateLimiter | None = None) -> JSON:
        gate = limiter or self.limiter

        def attempt() -> JSON:
            gate.acquire()
            try:
                response = send(_preload_content=False, _request_timeout=self.settings.timeout)
            except _API_EXCEPTIONS as exc:
                raise self._translate(exc) from exc
            except urllib3.exceptions.HTTPError as exc:
                raise TransientError(f"{type(exc).__name__}: {exc}") from exc
            try:
                data = orjson.loads(response.data)
            except orjson.JSONDecodeError as exc:
                raise TransientError(f"{what}: response is not JSON") from exc
            finally:
                response.release_conn()
            return data if isinstance(data, dict) else {"results": data}

        return call_with_retry(attempt, policy=self.retry, what=f"{self.source} {what}")

    def _translate(self, exc: Any) -> Exception:
        status = int(exc.status or 0)
        message = error_message(exc.body, exc.reason)
        if status == 429:
            headers = exc.headers or {}
            return TransientError(
                f"rate limited (429): {message}",
                retry_after=parse_retry_after(headers.get("Retry-After")),
                status_code=429,
            )
        if status == 0 or status >= 500:
            return TransientError(f"server error {status}: {message}", status_code=status or None)
        if status == 401:
            return AuthenticationError(f"{self.source}: access token rejected (401): {message}")
        if status == 403:
            return AuthenticationError(f"{self.source}: access token lacks a required scope (403): {message}")
        return SourceRequestError(f"{self.source}: {message} (HTTP {status})", status_code=status)


def error_message(body: bytes | str | None, reason: str | None) -> str:
    """HubSpot's own message from an error body (``{"status": "error", "message": ...}``)."""
    if body:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            text = body.decode(errors="replace") if isinstance(body, bytes) else body
            return " ".join(text.split())[:300]
        if isinstance(data, dict) and data.get("message"):
            message = " ".join(str(data["message"]).split())
            category = data.get("category") or data.get("errorType")
            return f"{message} [{category}]" if category else message
    return reason or "no message"

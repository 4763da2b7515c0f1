"""The Zendesk Support API over vitalsign's shared HTTP layer.

Requests go through :class:`vitalsign.core.HttpClient`, so a 429 waits what ``Retry-After``
says, 5xx and connection errors back off and retry, 401/403 become an ``AuthenticationError``
and other 4xx a ``SourceRequestError`` carrying Zendesk's own message. Authentication is
Zendesk's API-token scheme: HTTP Basic with ``{email}/token`` and the token; httpx builds the
header, so the token is never part of a URL, a log line or a message.
"""

from __future__ import annotations

from typing import Any

import httpx
from vitalsign.core import AuthenticationError, HttpClient, RateLimiter, SourceDataError

from .settings import ZendeskSettings

USER_AGENT = "vitalsign-zendesk/0.1"


class ZendeskClient:
    def __init__(
        self, settings: ZendeskSettings, *, source: str, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.source = source
        self.base_url = settings.api_base()
        self.http = HttpClient(
            base_url=self.base_url,
            source=source,
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
            auth=(f"{settings.email}/token", settings.api_token.get_secret_value()),
            rate_limiter=RateLimiter(settings.rate_limit),
            retry=settings.retry_policy(),
            transport=transport,
        )

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        body = self.http.get_json(path, params=params)
        if not isinstance(body, dict):
            raise SourceDataError(f"{self.source}: {path} did not return a JSON object")
        return body

    def me(self) -> dict[str, Any]:
        """The authenticated user. Zendesk answers an anonymous user, not a 401, to no credentials."""
        user = self.get("/api/v2/users/me.json").get("user") or {}
        if user.get("id") is None:
            raise AuthenticationError(
                f"{self.source}: Zendesk answered as an anonymous user; check email and api_token"
            )
        return user

    def close(self) -> None:
        self.http.close()

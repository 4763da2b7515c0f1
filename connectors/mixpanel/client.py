"""The Mixpanel raw Export API: ``GET /api/2.0/export?from_date=...&to_date=...``.

The body is JSON lines, streamed and split as it arrives (never held whole). Days are whole
days, in the project's timezone for projects that still use one. Service accounts
authenticate with Basic auth (user name and secret) plus ``project_id``; the legacy project
API secret with Basic auth (secret, empty password).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from vitalsign.connectors.files.reader import iter_chunk_lines
from vitalsign.core import HttpClient, RateLimiter, RetryPolicy, SecretStr

BODY_CHUNK = 1 << 20


class MixpanelClient:
    def __init__(
        self,
        *,
        base_url: str,
        secret: SecretStr,
        username: str | None,
        project_id: int | None,
        source: str,
        retry: RetryPolicy | None = None,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        auth = (username, secret.get_secret_value()) if username else (secret.get_secret_value(), "")
        self.project_id = project_id
        self.http = HttpClient(
            base_url=base_url,
            source=source,
            auth=auth,
            headers={"Accept": "text/plain", "Accept-Encoding": "gzip"},
            retry=retry,
            rate_limiter=rate_limiter,
            timeout=600.0,
        )

    def close(self) -> None:
        self.http.close()

    def export(self, first: date, last: date, *, limit: int | None = None) -> Iterator[tuple[int, bytes]]:
        """``(line number, line)`` of the events of days ``first`` to ``last`` (inclusive);
        ``limit`` caps the number of events (``check`` asks for one)."""
        params: dict[str, str | int] = {"from_date": first.isoformat(), "to_date": last.isoformat()}
        if limit is not None:
            params["limit"] = limit
        if self.project_id is not None:
            params["project_id"] = self.project_id
        with self.http.stream("GET", "/api/2.0/export", params=params) as response:
            yield from iter_chunk_lines(response.iter_bytes(BODY_CHUNK))

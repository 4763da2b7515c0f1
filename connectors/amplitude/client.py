"""The Amplitude Export API: ``GET /api/2/export?start=YYYYMMDDTHH&end=YYYYMMDDTHH``.

The window selects events by *server upload* hour, both ends inclusive. The body is a zip of
gzipped JSON-lines files; it is spooled to a temporary file while it streams in (never held in
memory) and read from there. 404 means the window holds no data; 400 means it exceeds the
API's 4 GB limit, and the caller splits it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from typing import IO

from vitalsign.core import HttpClient, RateLimiter, RetryPolicy, SecretStr, SourceRequestError

HOUR_FORMAT = "%Y%m%dT%H"
SPOOL_CHUNK = 1 << 20


class WindowTooLarge(SourceRequestError):
    """HTTP 400: the export of this window would exceed 4 GB."""


def hour(value: datetime) -> str:
    return value.strftime(HOUR_FORMAT)


class AmplitudeClient:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: SecretStr,
        secret_key: SecretStr,
        source: str,
        retry: RetryPolicy | None = None,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self.http = HttpClient(
            base_url=base_url,
            source=source,
            auth=(api_key.get_secret_value(), secret_key.get_secret_value()),
            retry=retry,
            rate_limiter=rate_limiter,
            timeout=600.0,
        )

    def close(self) -> None:
        self.http.close()

    @contextmanager
    def export(self, first: datetime, last: datetime) -> Iterator[IO[bytes] | None]:
        """The zip of hours ``first`` to ``last`` (inclusive) in a temporary file, or None."""
        params = {"start": hour(first), "end": hour(last)}
        with ExitStack() as stack:
            try:
                response = stack.enter_context(
                    self.http.stream("GET", "/api/2/export", params=params, ok=(404,))
                )
            except SourceRequestError as exc:
                if exc.status_code == 400:
                    raise WindowTooLarge(str(exc), status_code=400) from exc
                raise
            if response.status_code == 404:
                yield None
                return
            spool = stack.enter_context(tempfile.TemporaryFile(prefix="vitalsign-amplitude-"))
            for chunk in response.iter_bytes(SPOOL_CHUNK):
                spool.write(chunk)
            response.close()
            spool.seek(0)
            yield spool

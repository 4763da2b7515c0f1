"""The one exception hierarchy of vitalsign.

    VitalsignError                 base of everything raised on purpose; ``exit_code`` for the CLI
    ├── ConfigError                a missing or bad setting (exit 2); message names the setting
    ├── UsageError                 a bad command line argument (exit 2)
    ├── StoreError                 the store cannot be opened, migrated or written
    │   └── SyncLockedError        another sync of the same connector is running (exit 3)
    ├── ConnectorError             a source failed while reading a stream (exit 1)
    │   ├── AuthenticationError    credentials rejected (401/403, bad or expired token)
    │   ├── SourceRequestError     the API refused a request (4xx) — carries the API's own message
    │   ├── SourceUnavailableError retries exhausted on 429/5xx/connection errors
    │   └── SourceDataError        a file or body that cannot be read at all (e.g. truncated gzip)
    ├── RecordError                one record failed validation; the engine quarantines it
    └── MetricError                unknown metric, bad period, unsupported segment (exit 2)

Errors from dependencies (httpx, stripe, hubspot, SQLAlchemy) are translated at the boundary
with ``raise ... from exc`` so the CLI prints one line and ``--debug`` still shows the cause.
Messages must never contain a secret: build them from setting *names*, not values.
"""

from __future__ import annotations


class VitalsignError(Exception):
    """Base class; ``exit_code`` is what the CLI exits with when this escapes a command."""

    exit_code = 1


class ConfigError(VitalsignError):
    """A configuration problem the user must fix (names the setting)."""

    exit_code = 2


class UsageError(VitalsignError):
    """A command-line argument that cannot be used."""

    exit_code = 2


class StoreError(VitalsignError):
    """The store could not be opened, migrated or written."""


class SyncLockedError(StoreError):
    """Another sync of this connector holds the lock."""

    exit_code = 3


class ConnectorError(VitalsignError):
    """A source could not be read."""


class AuthenticationError(ConnectorError):
    """The source rejected the credentials."""


class SourceRequestError(ConnectorError):
    """The source refused a request; the message is the API's own."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class SourceUnavailableError(ConnectorError):
    """Retries were exhausted on rate limits, server errors or connection failures."""


class SourceDataError(ConnectorError):
    """Source data that cannot be read at all (not a single bad record)."""


class RecordError(VitalsignError):
    """One record is invalid; it is quarantined with this message as the reason."""


class MetricError(VitalsignError):
    """A metric request that cannot be answered as asked."""

    exit_code = 2

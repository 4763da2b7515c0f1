"""vitalsign core: hookspecs, plugin manager, models, store, sync engine, config and CLI.

The public API for plugin authors is what this module exports; everything else is internal.
"""

if __name__ != "vitalsign.core":  # pragma: no cover - guards `import core` from a checkout
    raise ImportError("import vitalsign.core (install the package), not the core/ folder")

from .connector import Batch, Connector, ConnectorSettings, QuarantineItem, SecretStr, Stream
from .errors import (
    AuthenticationError,
    ConfigError,
    ConnectorError,
    MetricError,
    RecordError,
    SourceDataError,
    SourceRequestError,
    SourceUnavailableError,
    StoreError,
    SyncLockedError,
    UsageError,
    VitalsignError,
)
from .http import HttpClient, RateLimiter, RetryPolicy, TransientError, call_with_retry
from .metric import ComponentScore, HealthComponent, Metric, MetricQuery, Month
from .plugins import hookimpl
from .store import Store

__all__ = [
    "AuthenticationError",
    "Batch",
    "ComponentScore",
    "ConfigError",
    "Connector",
    "ConnectorError",
    "ConnectorSettings",
    "HealthComponent",
    "HttpClient",
    "Metric",
    "MetricError",
    "MetricQuery",
    "Month",
    "QuarantineItem",
    "RateLimiter",
    "RecordError",
    "RetryPolicy",
    "SecretStr",
    "SourceDataError",
    "SourceRequestError",
    "SourceUnavailableError",
    "Store",
    "StoreError",
    "Stream",
    "SyncLockedError",
    "TransientError",
    "UsageError",
    "VitalsignError",
    "call_with_retry",
    "hookimpl",
]

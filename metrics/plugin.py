"""The built-in metrics plugin: registers every KPI family and the default health components
through the same hooks a third-party plugin uses (hookimpls only)."""

from __future__ import annotations

import logging

from vitalsign.core import Connector, HealthComponent, Metric, hookimpl
from vitalsign.core.config import Config
from vitalsign.core.errors import SyncLockedError
from vitalsign.core.store import Store

from . import derived, health, renewals, revenue, satisfaction, support, usage

log = logging.getLogger(__name__)


@hookimpl
def vitalsign_metrics() -> list[Metric]:
    return [
        *revenue.METRICS,
        *satisfaction.METRICS,
        *support.METRICS,
        *usage.METRICS,
        *renewals.METRICS,
        *health.METRICS,
    ]


@hookimpl
def vitalsign_health_components() -> list[HealthComponent]:
    return list(health.COMPONENTS)


@hookimpl(trylast=True)
def vitalsign_after_sync(store: Store, connector: Connector, config: Config) -> None:
    """Rebuild the derived tables whose inputs the sync changed: last, so after the revenue
    timeline's rebuild (identity resolution has already run). A sync of another connector that
    is rebuilding them at the same moment is left to it: two rebuilds would collide, and tables
    it builds from older inputs are stale by their stamp, never read."""
    try:
        with store.lock("derived-tables"):
            derived.refresh(store, config.metrics)
    except SyncLockedError:
        log.info("derived tables: another sync is rebuilding them")

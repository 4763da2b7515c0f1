"""The built-in metrics plugin: registers every KPI family and the default health components
through the same hooks a third-party plugin uses (hookimpls only)."""

from __future__ import annotations

from vitalsign.core import Connector, HealthComponent, Metric, hookimpl
from vitalsign.core.config import Config
from vitalsign.core.store import Store

from . import derived, health, renewals, revenue, satisfaction, support, usage


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
    timeline's rebuild (identity resolution has already run)."""
    derived.refresh(store, config.metrics)

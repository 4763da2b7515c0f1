"""The built-in metrics plugin: registers every KPI family and the default health components
through the same hooks a third-party plugin uses (hookimpls only)."""

from __future__ import annotations

from vitalsign.core import HealthComponent, Metric, hookimpl

from . import health, renewals, revenue, satisfaction, support, usage


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

"""What the loaded plugins provide: connector types, metrics and health components by name."""

from __future__ import annotations

from .connector import Connector
from .errors import ConfigError, MetricError
from .metric import HealthComponent, Metric
from .plugins import get_plugin_manager


def connector_types() -> dict[str, type[Connector]]:
    """Every registered connector class by its ``type``."""
    found: dict[str, type[Connector]] = {}
    for classes in get_plugin_manager().hook.vitalsign_connectors():
        for cls in classes or []:
            other = found.get(cls.type)
            if other is not None and other is not cls:
                raise ConfigError(
                    f"two plugins register connector type {cls.type!r}: "
                    f"{other.__module__} and {cls.__module__}"
                )
            found[cls.type] = cls
    return dict(sorted(found.items()))


def metrics() -> dict[str, Metric]:
    """Every registered metric by name."""
    found: dict[str, Metric] = {}
    for items in get_plugin_manager().hook.vitalsign_metrics():
        for metric in items or []:
            if metric.name in found and found[metric.name] is not metric:
                raise MetricError(f"two plugins register metric {metric.name!r}")
            found[metric.name] = metric
    return found


def health_components() -> dict[str, HealthComponent]:
    """Every registered health component by name."""
    found: dict[str, HealthComponent] = {}
    for items in get_plugin_manager().hook.vitalsign_health_components():
        for component in items or []:
            found[component.name] = component
    return found

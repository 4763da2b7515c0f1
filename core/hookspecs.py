"""Every hook a vitalsign plugin can implement. This file is the hook reference.

Hooks are called with keyword arguments only. A plugin is any module or object with functions
decorated by ``vitalsign.core.hookimpl`` whose names match a spec here; misspelt names are
caught by ``PluginManager.check_pending()`` when plugins load. Built-in connectors and metrics
use exactly these hooks and are found through the same ``vitalsign`` entry-point group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .config import Config
    from .connector import Connector
    from .metric import HealthComponent, Metric
    from .store import Store
    from .sync import RunSummary

hookspec = pluggy.HookspecMarker("vitalsign")


@hookspec
def vitalsign_connectors() -> list[type[Connector]]:
    """Register connector types.

    Return the :class:`~vitalsign.core.connector.Connector` subclasses this plugin provides. Each
    class's ``type`` is what ``[connectors.NAME] type = ...`` selects (the section name is the
    default); two plugins registering one type is a configuration error.
    """


@hookspec
def vitalsign_metrics() -> list[Metric]:
    """Register metrics.

    Return :class:`~vitalsign.core.metric.Metric` instances; their ``name`` is what
    ``vitalsign metrics NAME`` asks for. Names are snake_case and must be unique.
    """


@hookspec
def vitalsign_health_components() -> list[HealthComponent]:
    """Register health-score components.

    Return :class:`~vitalsign.core.metric.HealthComponent` instances; ``[health.weights]`` in
    the config weights them by ``name`` (a component missing there gets its ``default_weight``).
    """


@hookspec
def vitalsign_after_sync(store: Store, connector: Connector, config: Config) -> None:
    """Rebuild derived tables after a connector's streams have synced.

    Called once per connector per run, after identity resolution, inside no transaction: open
    your own with ``store.begin()``. The revenue timeline is rebuilt here. An exception fails the
    run (exit code 1) but keeps the data already synced.
    """


@hookspec
def vitalsign_sync_finished(run: RunSummary) -> None:
    """Be told that a sync run of one connector ended, successfully or not.

    ``run`` carries the connector name, status, timing, per-stream counts and the error if any:
    what an alerting plugin (Slack, PagerDuty) needs. Exceptions raised here are logged and
    ignored so that a broken notifier never fails a sync.
    """

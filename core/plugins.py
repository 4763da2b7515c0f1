"""The plugin manager: built-in and third-party plugins load through one entry-point group.

``VITALSIGN_DISABLE_PLUGINS`` (comma-separated entry-point names) blocks plugins before they
load. Plugins registered with :func:`register` (tests, embedding) go through the same manager.
"""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass
from functools import cache
from typing import Any

import pluggy

from . import hookspecs
from .errors import ConfigError

ENTRY_POINT_GROUP = "vitalsign"
hookimpl = pluggy.HookimplMarker("vitalsign")


@dataclass(frozen=True)
class PluginInfo:
    """Where a plugin came from: ``builtin`` (this distribution) or a third-party distribution."""

    name: str
    origin: str  # "builtin" or "third-party"
    distribution: str | None
    version: str | None


def _one_line(exc: Exception) -> str:
    """pluggy's validation messages span lines; the CLI prints one."""
    return " ".join(str(exc).split())


def disabled_plugins() -> set[str]:
    raw = os.environ.get("VITALSIGN_DISABLE_PLUGINS", "")
    return {name.strip() for name in raw.split(",") if name.strip()}


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("vitalsign")
    pm.add_hookspecs(hookspecs)
    for name in disabled_plugins():
        pm.set_blocked(name)
    try:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise ConfigError(f"plugin error: {_one_line(exc)}") from exc
    return pm


@cache
def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, loaded on first use."""
    return _new_manager()


def reset_plugin_manager() -> None:
    """Forget the loaded plugins (tests, or after installing a plugin in-process)."""
    get_plugin_manager.cache_clear()


def register(plugin: Any, name: str | None = None) -> None:
    """Register a plugin object or module at run time, then validate its hook names."""
    pm = get_plugin_manager()
    try:
        pm.register(plugin, name=name)  # validates argument names against the specs
    except pluggy.PluginValidationError as exc:
        raise ConfigError(f"plugin error: {_one_line(exc)}") from exc
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        pm.unregister(plugin)
        raise ConfigError(f"plugin error: {_one_line(exc)}") from exc


def plugin_info() -> dict[str, PluginInfo]:
    """Every loaded plugin by name, with the distribution that provides it."""
    pm = get_plugin_manager()
    info: dict[str, PluginInfo] = {}
    for plugin, dist in pm.list_plugin_distinfo():
        name = pm.get_name(plugin) or repr(plugin)
        dist_name = dist.metadata["name"] if dist is not None else None
        origin = "builtin" if dist_name == "vitalsign" else "third-party"
        info[name] = PluginInfo(name, origin, dist_name, getattr(dist, "version", None))
    for plugin in pm.get_plugins():
        name = pm.get_name(plugin) or repr(plugin)
        info.setdefault(name, PluginInfo(name, "registered", None, None))
    return info


def plugin_name_of(obj: Any) -> str | None:
    """The name of the plugin that registered ``obj`` (a connector class or metric)."""
    module = getattr(obj, "__module__", None) or type(obj).__module__
    pm = get_plugin_manager()
    best: tuple[int, str] | None = None
    for plugin in pm.get_plugins():
        plugin_module = getattr(plugin, "__name__", None) or type(plugin).__module__
        if module == plugin_module or module.startswith(plugin_module + "."):
            score = len(plugin_module)
            if best is None or score > best[0]:
                best = (score, pm.get_name(plugin) or plugin_module)
    if best is None:
        return None
    return best[1]


def distribution_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None

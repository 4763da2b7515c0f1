"""The hubspot connector plugin (hookimpls only). Under construction: registers nothing yet."""

from vitalsign.core import hookimpl


@hookimpl
def vitalsign_connectors() -> list[type]:
    return []

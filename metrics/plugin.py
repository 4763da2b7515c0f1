"""The built-in metrics plugin (hookimpls only). Under construction: registers nothing yet."""

from vitalsign.core import hookimpl


@hookimpl
def vitalsign_metrics() -> list[object]:
    return []

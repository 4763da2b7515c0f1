"""The files connector plugin (hookimpls only): see connector.py, streams.py and settings.py.

This package also holds what every usage connector shares: ``reader`` (streaming lines out of
plain, gzip and zip files and HTTP bodies; the file cursor) and ``events`` (mapping records to
usage events, dedup keys, the ``events`` stream).
"""

from __future__ import annotations

from vitalsign.core import Connector, hookimpl

from .connector import FilesConnector


@hookimpl
def vitalsign_connectors() -> list[type[Connector]]:
    return [FilesConnector]

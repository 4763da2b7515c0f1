"""The Segment connector plugin (hookimpls only): see connector.py, streams.py and settings.py."""

from __future__ import annotations

from vitalsign.core import Connector, hookimpl

from .connector import SegmentConnector


@hookimpl
def vitalsign_connectors() -> list[type[Connector]]:
    return [SegmentConnector]

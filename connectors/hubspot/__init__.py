"""The HubSpot connector plugin (hookimpls only): the connector lives in :mod:`.connector`."""

from vitalsign.core import Connector, hookimpl

from .connector import HubSpotConnector


@hookimpl
def vitalsign_connectors() -> list[type[Connector]]:
    return [HubSpotConnector]

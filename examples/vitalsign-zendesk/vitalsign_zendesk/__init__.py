"""vitalsign-zendesk: a vitalsign connector plugin for Zendesk Support (hookimpls only).

Installed, it is found through the ``vitalsign`` entry-point group (see pyproject.toml) and
``vitalsign connectors`` lists the ``zendesk`` type.
"""

from __future__ import annotations

from vitalsign.core import Connector, hookimpl

from .connector import ZendeskConnector


@hookimpl
def vitalsign_connectors() -> list[type[Connector]]:
    return [ZendeskConnector]

"""The HubSpot connector: settings, check and streams of one ``[connectors.NAME]`` section."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from vitalsign.core import Connector, ConnectorSettings, Stream

from .client import HubSpotClient
from .settings import HubSpotSettings
from .streams import STREAMS, CrmObjectStream, HubSpotContext


class HubSpotConnector(Connector):
    type = "hubspot"
    settings_model = HubSpotSettings
    description = "HubSpot CRM: companies, contacts, owners, ticket pipelines, tickets, feedback surveys"

    def __init__(
        self, name: str, settings: ConnectorSettings, *, options: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name, settings, options=options)
        assert isinstance(settings, HubSpotSettings)
        self.hubspot_settings = settings
        self._client: HubSpotClient | None = None

    @classmethod
    def stream_classes(cls) -> list[builtins.type[Stream]]:
        return list(STREAMS)

    @property
    def client(self) -> HubSpotClient:
        if self._client is None:
            self._client = HubSpotClient(self.hubspot_settings, source=self.name)
        return self._client

    def check(self) -> str:
        """One cheap request per selected stream: proves the token and each scope it needs."""
        selected = set(self.hubspot_settings.streams)
        for cls in STREAMS:
            if cls.name not in selected:
                continue
            if issubclass(cls, CrmObjectStream):
                self.client.list_page(cls.object_type, after=None, properties=["hs_object_id"], limit=1)
            elif cls.name == "owners":
                self.client.owners_page(after=None, limit=1)
            else:
                self.client.pipelines("tickets")
        return f"{self.hubspot_settings.base_url}: {', '.join(sorted(selected))} readable"

    def streams(self) -> list[Stream]:
        ctx = HubSpotContext(self.client, self.hubspot_settings)
        selected = set(self.hubspot_settings.streams)
        return [cls(ctx) for cls in STREAMS if cls.name in selected]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

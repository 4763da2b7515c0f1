"""The Zendesk connector: settings, a credentials check, and its three streams."""

from __future__ import annotations

import builtins
from typing import Any

from vitalsign.core import Connector, Stream

from .client import ZendeskClient
from .settings import ZendeskSettings
from .streams import OrganizationsStream, SatisfactionRatingsStream, TicketsStream


class ZendeskConnector(Connector):
    type = "zendesk"
    settings_model = ZendeskSettings
    description = "Zendesk Support: tickets, CSAT ratings and organizations"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client: ZendeskClient | None = None

    @property
    def zendesk_settings(self) -> ZendeskSettings:
        assert isinstance(self.settings, ZendeskSettings)
        return self.settings

    @property
    def client(self) -> ZendeskClient:
        if self._client is None:
            self._client = ZendeskClient(self.zendesk_settings, source=self.name)
        return self._client

    @classmethod
    def stream_classes(cls) -> list[builtins.type[Stream]]:
        return [OrganizationsStream, TicketsStream, SatisfactionRatingsStream]

    def check(self) -> str:
        user = self.client.me()
        return f"{self.client.base_url} as {user.get('email')} ({user.get('role')})"

    def streams(self) -> list[Stream]:
        client, settings = self.client, self.zendesk_settings
        return [
            OrganizationsStream(client, settings),
            TicketsStream(client, settings),
            SatisfactionRatingsStream(client, settings),
        ]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

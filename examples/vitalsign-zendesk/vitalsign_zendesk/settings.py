"""The ``[connectors.zendesk]`` settings.

[connectors.zendesk]
subdomain = "acme"                       # or base_url = "https://support.acme.com"
email = "ops@acme.com"                   # the agent the API token belongs to
api_token = "${ZENDESK_API_TOKEN}"       # a secret: only as an environment reference
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pydantic import Field, model_validator
from vitalsign.core import ConnectorSettings, SecretStr

_SUBDOMAIN = re.compile(r"[a-z0-9][a-z0-9-]*")


class ZendeskSettings(ConnectorSettings):
    subdomain: str | None = None
    """The account's subdomain: ``acme`` for https://acme.zendesk.com."""
    base_url: str | None = None
    """The API host instead of the subdomain (a host-mapped domain, a proxy, a test server)."""
    email: str
    """The email of the agent or admin whose API token this is."""
    api_token: SecretStr
    """An API token (Admin Center > Apps and integrations > Zendesk API)."""
    start_date: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    """Where the first sync starts; later syncs continue from their cursors."""
    page_size: int = Field(default=1000, ge=1, le=1000)
    """Tickets per incremental-export page (Zendesk's maximum is 1000)."""
    ratings_page_size: int = Field(default=100, ge=1, le=100)
    """Satisfaction ratings per page (Zendesk's maximum is 100)."""
    ratings_lookback_days: int = Field(default=28, ge=0)
    """Ratings are re-read this far back on each run: a customer may change a rating later."""
    escalation_tags: tuple[str, ...] = ("escalated",)
    """A ticket carrying one of these tags counts as escalated (so does one moved between groups)."""
    account_key_field: str | None = None
    """The organization field holding your shared account key (default: ``external_id``)."""

    @model_validator(mode="after")
    def _one_host(self) -> ZendeskSettings:
        if (self.subdomain is None) == (self.base_url is None):
            raise ValueError("give exactly one of subdomain and base_url")
        if self.subdomain is not None and not _SUBDOMAIN.fullmatch(self.subdomain):
            raise ValueError("subdomain is the first label of the host only, like 'acme'")
        return self

    def api_base(self) -> str:
        if self.base_url is not None:
            return self.base_url.rstrip("/")
        return f"https://{self.subdomain}.zendesk.com"

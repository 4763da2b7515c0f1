"""Settings of the Mixpanel connector: raw-export files on disk, or the raw Export API."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator
from vitalsign.connectors.files.events import UsageSettings, zone
from vitalsign.core import SecretStr
from vitalsign.core.errors import ConfigError

HOSTS = {
    "us": "https://data.mixpanel.com",
    "eu": "https://data-eu.mixpanel.com",
    "in": "https://data-in.mixpanel.com",
}


class MixpanelSettings(UsageSettings):
    path: str | list[str] | None = None
    """JSONL files as the raw export writes them (``.gz`` too); relative to the config folder."""
    username: str | None = None
    """Service-account user name (with ``secret`` and ``project_id``); without it ``secret`` is
    the legacy project API secret."""
    secret: SecretStr | None = None
    project_id: int | None = None
    region: Literal["us", "eu", "in"] = "us"
    """Data residency: the export host (data.mixpanel.com, data-eu..., data-in...)."""
    base_url: str | None = None
    """Overrides the region's host (proxies, tests)."""
    start: str | None = None
    """First day (``YYYY-MM-DD``) the API reads on the first run (default: 30 days ago)."""
    window_days: int = Field(default=1, ge=1, le=31)
    """Days per export request (whole days)."""
    lookback_days: int = Field(default=1, ge=0, le=30)
    """Days already exported that are read again, for events that arrive late (mobile)."""
    project_timezone: str | None = None
    """For projects that still report local time: ``time`` is wall-clock time in this zone and
    the export's day boundaries are this zone's. Leave unset for UTC projects (after 2023)."""
    account_key: str | None = "properties.account_id"
    """Where an event names its account (a dotted path from the record's root)."""
    email_property: str | None = "properties.$email"
    rate_limit: float | None = 60 / 3600
    """The raw export allows 60 queries an hour."""

    @field_validator("project_timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        try:
            zone(value, "project_timezone")
        except ConfigError as exc:
            raise ValueError(str(exc).split(": ", 1)[1]) from None
        return value

    @model_validator(mode="after")
    def _one_source(self) -> MixpanelSettings:
        if self.secret is None and not self.path:
            raise ValueError("set path (export files) or secret (raw Export API)")
        if self.secret is not None and self.path:
            raise ValueError("set either path or secret, not both")
        if self.username and self.project_id is None:
            raise ValueError("a service account (username) needs project_id")
        return self

    @property
    def host(self) -> str:
        return (self.base_url or HOSTS[self.region]).rstrip("/")

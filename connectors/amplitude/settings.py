"""Settings of the Amplitude connector: export files on disk, or the Export API."""

from __future__ import annotations

from pydantic import Field, model_validator
from vitalsign.connectors.files.events import UsageSettings
from vitalsign.core import SecretStr


class AmplitudeSettings(UsageSettings):
    path: str | list[str] | None = None
    """Export files (glob, ``**`` allowed): ``.zip`` as the Export API returns them, or their
    ``.json.gz`` members. Relative paths resolve against the config file's folder."""
    api_key: SecretStr | None = None
    secret_key: SecretStr | None = None
    base_url: str = "https://amplitude.com"
    """EU data residency: ``https://analytics.eu.amplitude.com``."""
    start: str | None = None
    """First day (``YYYY-MM-DD``) the Export API reads on the first run (default: 30 days ago)."""
    window_hours: int = Field(default=24, ge=1, le=24 * 31)
    """Hours per export request; a window over the API's 4 GB limit (HTTP 400) is split."""
    lag_hours: int = Field(default=2, ge=0)
    """Hours the export lags behind real time: newer hours are left for the next run."""
    account_key: str | None = "groups.company"
    """Where an event names its account (a dotted path from the event's root)."""
    email_property: str | None = "user_properties.email"
    """A user's email, used to place events without an account via the store's contacts."""

    @model_validator(mode="after")
    def _one_source(self) -> AmplitudeSettings:
        api = self.api_key is not None or self.secret_key is not None
        if api and (self.api_key is None or self.secret_key is None):
            raise ValueError("the Export API needs both api_key and secret_key")
        if not api and not self.path:
            raise ValueError("set path (export files) or api_key and secret_key (Export API)")
        if api and self.path:
            raise ValueError("set either path or api_key/secret_key, not both")
        return self

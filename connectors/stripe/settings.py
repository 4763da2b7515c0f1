"""Settings of the Stripe connector: one ``[connectors.NAME]`` section with ``type = "stripe"``."""

from __future__ import annotations

from pydantic import Field, field_validator
from vitalsign.core import ConnectorSettings, SecretStr


class StripeSettings(ConnectorSettings):
    """``[connectors.stripe]``.

    ``api_key`` only as an environment reference (``"${STRIPE_API_KEY}"``); a restricted key with
    read access to customers, products, prices, coupons, subscriptions, invoices and events is
    enough. ``rate_limit`` is shared by all streams: 25/s is Stripe's test-mode limit, live mode
    allows 100/s. Retries (``max_retries``, ``retry_backoff``) come from ConnectorSettings.
    """

    api_key: SecretStr
    base_url: str = "https://api.stripe.com"
    account_key: str | None = None
    """Customer field holding your shared account key, dotted (``metadata.account_id``)."""
    rate_limit: float | None = 25.0
    page_size: int = Field(default=100, ge=1, le=100)
    timeout: float = Field(default=80.0, gt=0)

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

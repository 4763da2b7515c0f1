"""Settings of the HubSpot connector (one ``[connectors.NAME]`` section with ``type = "hubspot"``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator
from vitalsign.core import ConnectorSettings, SecretStr

STREAM_NAMES = ("owners", "ticket_stages", "companies", "contacts", "tickets", "feedback_submissions")


class EscalationRule(BaseModel):
    """When a ticket counts as escalated: any one of the listed conditions is enough.

    HubSpot has no standard escalation field, so each portal says what it means there: a stage
    (id or label, e.g. ``"Escalated to engineering"``), a priority (``"URGENT"``), or a ticket
    property holding one of ``values`` (``property = "escalated"``, ``values = ["true"]``).
    Stages and priorities are the ticket's current ones: HubSpot search returns no history.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    stages: list[str] = Field(default_factory=list)
    priorities: list[str] = Field(default_factory=list)
    property: str | None = None
    values: list[str] = Field(default_factory=lambda: ["true"])


class SurveyScale(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min: float
    max: float


def _default_scales() -> dict[str, SurveyScale]:
    return {
        "nps": SurveyScale(min=0, max=10),
        "csat": SurveyScale(min=1, max=5),
        "ces": SurveyScale(min=1, max=7),
    }


class HubSpotSettings(ConnectorSettings):
    access_token: SecretStr
    """A private-app access token (``${HUBSPOT_ACCESS_TOKEN}``)."""
    base_url: str = "https://api.hubapi.com"
    """The API host handed to the official client (tests and the demo point it at the fake)."""
    account_key: str | None = None
    """The company property holding the key shared with the other sources (e.g. ``account_id``)."""
    streams: list[str] = Field(default_factory=lambda: list(STREAM_NAMES))
    """Streams to sync; drop ``tickets``/``feedback_submissions`` for a portal without Service Hub."""

    escalation: EscalationRule = Field(default_factory=EscalationRule)
    agent_interactions_property: str = "hs_num_times_contacted"
    """Ticket property counting agent interactions (first-contact resolution = 1 interaction)."""
    first_reply_property: str = "first_agent_reply_date"
    """Ticket datetime property used when ``time_to_first_agent_reply`` is empty."""
    channel_properties: list[str] = Field(default_factory=lambda: ["source_type", "hs_ticket_category"])
    """Ticket properties tried in order for the channel (the first non-empty one wins)."""
    company_properties: list[str] = Field(default_factory=list)
    """Extra company properties to keep in ``source_accounts.properties``."""

    scales: dict[str, SurveyScale] = Field(default_factory=_default_scales)
    """Answer scale per survey kind; a value outside it is quarantined."""
    csat_three_point_surveys: list[str] = Field(default_factory=list)
    """Survey ids or names asked on HubSpot's 3-point CSAT (0 unhappy, 1 neutral, 2 happy): their
    answers are mapped explicitly onto the CSAT scale (0 -> min, 1 -> middle, 2 -> max)."""

    requests_per_10s: int = Field(default=100, ge=0)
    """HubSpot's per-app burst limit (100 to 190 by tier); 0 disables client-side throttling.
    ``rate_limit`` (requests per second), when set, wins."""
    search_per_second: float = Field(default=5.0, ge=0)
    """The search endpoints' own limit (5 per second per portal); 0 disables it."""
    list_page_size: int = Field(default=100, ge=1, le=100)
    search_page_size: int = Field(default=200, ge=1, le=200)
    batch_size: int = Field(default=1000, ge=1)
    """Records per committed batch (pages are joined up to it)."""
    index_lag_seconds: float = Field(default=60.0, ge=0)
    """Incremental reads stop this far before now (HubSpot's search index trails writes) and a
    full read hands over to them this far before it started (this clock is not HubSpot's)."""
    sync_archived: bool = True
    """Read the archived lists on every run to mark archived records deleted."""
    timeout: float = Field(default=60.0, gt=0)

    @field_validator("streams")
    @classmethod
    def _known_streams(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in STREAM_NAMES]
        if unknown:
            raise ValueError(f"unknown stream {unknown[0]!r} (streams: {', '.join(STREAM_NAMES)})")
        return value

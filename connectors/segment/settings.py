"""Settings of the Segment connector: track/page/screen/identify/group calls as JSONL files."""

from __future__ import annotations

from vitalsign.connectors.files.events import UsageSettings


class SegmentSettings(UsageSettings):
    path: str | list[str]
    """JSON-lines dumps of Segment calls (warehouse or object-storage exports, ``.gz`` too);
    relative to the config folder."""
    account_key: str | None = "context.groupId"
    """Where a call names its account; without it, the user's latest ``group`` call (or
    ``traits.company.id`` of ``identify``) decides."""
    email_property: str | None = "context.traits.email"

"""The Mixpanel ``events`` stream: raw-export rows mapped to usage events."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from vitalsign.connectors.files.events import (
    EventMapper,
    EventStream,
    Window,
    event_stream,
    parse_epoch,
    zone,
)

from .client import MixpanelClient
from .settings import MixpanelSettings

DAY = timedelta(days=1)
ANONYMOUS_PREFIX = "$device:"


def mixpanel_user(obj: Mapping[str, Any]) -> Any:
    """``$user_id`` when identified; else ``distinct_id`` unless it is a device id (Simplified ID
    Merge writes anonymous users as ``$device:<uuid>``)."""
    props = obj.get("properties")
    if not isinstance(props, dict):
        return None
    user = props.get("$user_id")
    if user not in (None, ""):
        return user
    distinct = props.get("distinct_id")
    if isinstance(distinct, str) and distinct.startswith(ANONYMOUS_PREFIX):
        return None
    return distinct


def mixpanel_mapper(settings: MixpanelSettings) -> EventMapper:
    """``event``, ``properties.time`` (epoch s or ms; project-local when a timezone is set),
    ``properties.$insert_id`` (else a hash of event, user and time)."""
    tz = zone(settings.project_timezone, "project_timezone")
    return EventMapper(
        event="event",
        user=mixpanel_user,
        time="properties.time",
        parse_time=lambda value: parse_epoch(value, tz),
        account=settings.account_key if settings.account_key else None,
        dedup_keys=["properties.$insert_id"],
        anonymous="properties.distinct_id",
        email=settings.email_property if settings.email_property else None,
        properties_root="properties",
        properties=list(settings.properties),
        feature=settings.feature_property,
    )


class ExportDays:
    def __init__(self, client: MixpanelClient, window: Window) -> None:
        self.client = client
        self.window = window
        self.name = f"export {window.start:%Y-%m-%d}..{window.end:%Y-%m-%d}"

    def lines(self) -> Iterator[tuple[str, int, bytes]]:
        for number, line in self.client.export(self.window.start.date(), self.window.end.date()):
            yield self.name, number, line


def export_windows(
    client: MixpanelClient, settings: MixpanelSettings, through: str | None, today: date
) -> list[ExportDays]:
    """Whole-day windows from the day after ``through`` minus ``lookback_days`` (or ``start``)
    to yesterday (today is still filling up)."""
    last = today - DAY
    if through:
        first = date.fromisoformat(through) + DAY - timedelta(days=settings.lookback_days)
    elif settings.start:
        first = date.fromisoformat(settings.start)
    else:
        first = today - timedelta(days=30)
    windows = []
    while first <= last:
        end = min(first + timedelta(days=settings.window_days - 1), last)
        start_at, end_at = (
            datetime.combine(first, datetime.min.time()),
            datetime.combine(end, datetime.min.time()),
        )
        windows.append(ExportDays(client, Window(start_at, end_at, end.isoformat())))
        first = end + DAY
    return windows


def events_stream(source: object, settings: MixpanelSettings) -> EventStream:
    return event_stream(source, mixpanel_mapper(settings), batch_size=settings.batch_size)

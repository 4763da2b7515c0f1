"""The Amplitude ``events`` stream: export rows mapped to usage events, from files or the API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from vitalsign.connectors.files.events import EventMapper, EventStream, Window, event_stream, parse_iso
from vitalsign.connectors.files.reader import iter_zip_lines

from .client import AmplitudeClient, WindowTooLarge, hour
from .settings import AmplitudeSettings

HOUR = timedelta(hours=1)


def amplitude_mapper(settings: AmplitudeSettings) -> EventMapper:
    """Export rows: ``event_type``, ``user_id``, ``event_time`` (UTC text), ``$insert_id``.

    Rows without ``$insert_id`` fall back to ``insert_id`` then ``uuid`` (the stored row's id,
    the same in every re-export), else a hash of event, user (or device) and time."""
    return EventMapper(
        event="event_type",
        user="user_id",
        time="event_time",
        parse_time=parse_iso,
        account=settings.account_key if settings.account_key else None,
        dedup_keys=["$insert_id", "insert_id", "uuid"],
        anonymous="device_id",
        email=settings.email_property if settings.email_property else None,
        properties_root="event_properties",
        properties=list(settings.properties),
        feature=settings.feature_property,
    )


class ExportWindow:
    """One Export API request, split in halves while the API answers 400 (over 4 GB)."""

    def __init__(self, client: AmplitudeClient, window: Window) -> None:
        self.client = client
        self.window = window
        self.name = f"export {window.label}"

    def lines(self) -> Iterator[tuple[str, int, bytes]]:
        yield from self._lines(self.window.start, self.window.end)

    def _lines(self, first: datetime, last: datetime) -> Iterator[tuple[str, int, bytes]]:
        try:
            with self.client.export(first, last) as body:
                if body is None:
                    return
                yield from iter_zip_lines(body, f"export {hour(first)}-{hour(last)}")
        except WindowTooLarge:
            if first >= last:
                raise
            middle = first + timedelta(hours=(last - first) // HOUR // 2)
            yield from self._lines(first, middle)
            yield from self._lines(middle + HOUR, last)


def export_windows(
    client: AmplitudeClient, settings: AmplitudeSettings, through: str | None, now: datetime
) -> list[ExportWindow]:
    """Windows of ``window_hours`` from the hour after ``through`` (or ``start``) to the last hour
    the export has surely completed (``now`` minus ``lag_hours``)."""
    if through:
        first = datetime.strptime(through, "%Y%m%dT%H") + HOUR
    elif settings.start:
        first = datetime.fromisoformat(settings.start).replace(minute=0, second=0, microsecond=0)
    else:
        first = (now - timedelta(days=30)).replace(hour=0, minute=0, second=0, microsecond=0)
    last = (now - timedelta(hours=settings.lag_hours)).replace(minute=0, second=0, microsecond=0) - HOUR
    windows = []
    while first <= last:
        end = min(first + timedelta(hours=settings.window_hours) - HOUR, last)
        windows.append(ExportWindow(client, Window(first, end, hour(end))))
        first = end + HOUR
    return windows


def events_stream(source: object, settings: AmplitudeSettings) -> EventStream:
    return event_stream(source, amplitude_mapper(settings), batch_size=settings.batch_size)

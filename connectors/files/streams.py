"""The files connector's ``events`` stream: CSV rows or JSON lines mapped by the column setting."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

from .events import EventMapper, EventStream, event_stream, time_parser, zone
from .reader import FileSource, SourceFile, iter_csv_rows, iter_file_lines
from .settings import FilesSettings


def files_mapper(settings: FilesSettings) -> EventMapper:
    cols = settings.columns
    return EventMapper(
        event=cols.event,
        user=cols.user if cols.user else (lambda _obj: None),
        time=cols.time,
        parse_time=time_parser(settings.time_format, zone(settings.timezone, "timezone")),
        account=cols.account if cols.account else None,
        dedup_keys=[cols.dedup_key] if cols.dedup_key else [],
        properties=list(settings.properties),
        feature=settings.feature_property,
    )


def reader_for(settings: FilesSettings) -> Any:
    csv_reader = partial(iter_csv_rows, delimiter=settings.delimiter)
    if settings.format == "csv":
        return csv_reader
    if settings.format == "jsonl":
        return iter_file_lines

    def auto(file: SourceFile) -> Iterator[tuple[str, int, Any]]:
        name = file.path.name.lower()
        if name.endswith((".csv", ".csv.gz")):
            return csv_reader(file)
        return iter_file_lines(file)

    return auto


def files_stream(settings: FilesSettings, base_dir: Any, setting: str) -> EventStream:
    source = FileSource(settings.path, base_dir, setting, read=reader_for(settings))
    return event_stream(source, files_mapper(settings), batch_size=settings.batch_size)  # type: ignore[arg-type]

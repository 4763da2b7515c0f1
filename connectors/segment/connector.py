"""The Segment connector: dumps of Segment calls (JSON lines) from disk."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vitalsign.connectors.files.connector import EventFilesConnector
from vitalsign.connectors.files.reader import FileSource
from vitalsign.core import Stream

from .settings import SegmentSettings
from .streams import segment_stream


class SegmentConnector(EventFilesConnector):
    """Segment track/page/screen calls into ``usage_events``; identify and group calls into
    ``contacts`` and ``source_accounts`` (groups, linked to accounts by their id)."""

    type = "segment"
    settings_model = SegmentSettings
    description = "Segment calls (track, page, screen, identify, group) from JSON-lines dumps"
    files_label = "Segment file(s)"

    def __init__(
        self, name: str, settings: SegmentSettings, *, options: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name, settings, options=options)
        self.settings: SegmentSettings = settings

    def streams(self) -> list[Stream]:
        source = FileSource(self.settings.path, self.options.get("base_dir"), self.path_setting)
        return [segment_stream(source, self.settings)]

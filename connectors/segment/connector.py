"""The Segment connector: dumps of Segment calls (JSON lines) from disk."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from vitalsign.connectors.files.events import EventStream
from vitalsign.connectors.files.reader import FileSource, expand, require_matches
from vitalsign.core import Connector, Stream

from .settings import SegmentSettings
from .streams import segment_stream


class SegmentConnector(Connector):
    """Segment track/page/screen calls into ``usage_events``; identify and group calls into
    ``contacts`` and ``source_accounts`` (groups, linked to accounts by their id)."""

    type = "segment"
    settings_model = SegmentSettings
    description = "Segment calls (track, page, screen, identify, group) from JSON-lines dumps"

    def __init__(
        self, name: str, settings: SegmentSettings, *, options: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name, settings, options=options)
        self.settings: SegmentSettings = settings

    @classmethod
    def stream_classes(cls) -> list[builtins.type[Stream]]:
        return [EventStream]

    def check(self) -> str:
        files = expand(self.settings.path, self.options.get("base_dir"))
        require_matches(files, f"connectors.{self.name}.path", self.settings.path)
        return f"{len(files)} Segment file(s) match {self.settings.path!r}"

    def streams(self) -> list[Stream]:
        setting = f"connectors.{self.name}.path"
        source = FileSource(self.settings.path, self.options.get("base_dir"), setting)
        return [segment_stream(source, self.settings)]

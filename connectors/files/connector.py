"""The generic files connector: product events from CSV or JSON-lines files."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from vitalsign.core import Connector, Stream

from .events import EventStream
from .reader import expand, require_matches
from .settings import FilesSettings
from .streams import files_stream


class FilesConnector(Connector):
    """Events from any tool that can export CSV or JSON lines, mapped by ``columns``."""

    type = "files"
    settings_model = FilesSettings
    description = "Product events from CSV or JSON-lines files, with a column mapping"

    def __init__(
        self, name: str, settings: FilesSettings, *, options: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name, settings, options=options)
        self.settings: FilesSettings = settings

    @classmethod
    def stream_classes(cls) -> list[builtins.type[Stream]]:
        return [EventStream]

    def check(self) -> str:
        files = expand(self.settings.path, self.options.get("base_dir"))
        require_matches(files, f"connectors.{self.name}.path", self.settings.path)
        return f"{len(files)} file(s) match {self.settings.path!r}"

    def streams(self) -> list[Stream]:
        return [files_stream(self.settings, self.options.get("base_dir"), f"connectors.{self.name}.path")]

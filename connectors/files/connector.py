"""The generic files connector: product events from CSV or JSON-lines files."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any, ClassVar

from vitalsign.core import Connector, Stream

from .events import EventStream
from .reader import expand, require_matches
from .settings import FilesSettings
from .streams import files_stream


class EventFilesConnector(Connector):
    """A connector whose one events stream reads the files its ``path`` setting matches.

    Shared by the generic files connector and Segment: listing, and a ``check`` that the glob
    matches something."""

    files_label: ClassVar[str] = "file(s)"

    @classmethod
    def stream_classes(cls) -> list[builtins.type[Stream]]:
        return [EventStream]

    @property
    def path_setting(self) -> str:
        return f"connectors.{self.name}.path"

    def check(self) -> str:
        path = self.settings.path
        files = expand(path, self.options.get("base_dir"))
        require_matches(files, self.path_setting, path)
        return f"{len(files)} {self.files_label} match {path!r}"


class FilesConnector(EventFilesConnector):
    """Events from any tool that can export CSV or JSON lines, mapped by ``columns``."""

    type = "files"
    settings_model = FilesSettings
    description = "Product events from CSV or JSON-lines files, with a column mapping"

    def __init__(
        self, name: str, settings: FilesSettings, *, options: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name, settings, options=options)
        self.settings: FilesSettings = settings

    def streams(self) -> list[Stream]:
        return [files_stream(self.settings, self.options.get("base_dir"), self.path_setting)]

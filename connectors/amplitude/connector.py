"""The Amplitude connector: export files from disk (``path``) or the Export API."""

from __future__ import annotations

import builtins
import dataclasses
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from vitalsign.connectors.files.events import EventStream, WindowSource
from vitalsign.connectors.files.reader import FileSource, expand, require_matches
from vitalsign.core import Connector, RateLimiter, Stream

from .client import AmplitudeClient
from .settings import AmplitudeSettings
from .streams import events_stream, export_windows


class AmplitudeConnector(Connector):
    """Amplitude product events into ``usage_events`` (+ daily rollups). ``options`` may carry
    ``base_dir`` (relative paths), ``sleep`` and ``clock`` (tests inject them)."""

    type = "amplitude"
    settings_model = AmplitudeSettings
    description = "Amplitude events: Export API (zip of gzipped JSON lines) or export files"

    def __init__(
        self, name: str, settings: AmplitudeSettings, *, options: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name, settings, options=options)
        self.settings: AmplitudeSettings = settings
        self.clock: Callable[[], float] = self.options.get("clock") or time.time
        self._client: AmplitudeClient | None = None

    @classmethod
    def stream_classes(cls) -> list[builtins.type[Stream]]:
        return [EventStream]

    @property
    def client(self) -> AmplitudeClient:
        if self._client is None:
            s = self.settings
            assert s.api_key is not None
            assert s.secret_key is not None
            retry = s.retry_policy()
            sleep = self.options.get("sleep")
            if sleep is not None:
                retry = dataclasses.replace(retry, sleep=sleep)
            self._client = AmplitudeClient(
                base_url=s.base_url,
                api_key=s.api_key,
                secret_key=s.secret_key,
                source=self.name,
                retry=retry,
                rate_limiter=RateLimiter(s.rate_limit, sleep=sleep or time.sleep),
            )
        return self._client

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC).replace(tzinfo=None)

    def check(self) -> str:
        if self.settings.path:
            files = expand(self.settings.path, self.options.get("base_dir"))
            require_matches(files, f"connectors.{self.name}.path", self.settings.path)
            return f"{len(files)} Amplitude export file(s) match {self.settings.path!r}"
        now = self._now()
        with self.client.export(now, now):
            pass
        return f"Amplitude Export API at {self.settings.base_url}: keys accepted"

    def streams(self) -> list[Stream]:
        if self.settings.path:
            source: Any = FileSource(
                self.settings.path, self.options.get("base_dir"), f"connectors.{self.name}.path"
            )
        else:
            source = WindowSource(
                lambda through: export_windows(self.client, self.settings, through, self._now())
            )
        return [events_stream(source, self.settings)]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

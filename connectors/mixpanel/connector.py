"""The Mixpanel connector: raw-export files from disk (``path``) or the raw Export API."""

from __future__ import annotations

import builtins
import dataclasses
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from vitalsign.connectors.files.events import EventStream, WindowSource, zone
from vitalsign.connectors.files.reader import FileSource, expand, require_matches
from vitalsign.core import Connector, RateLimiter, Stream

from .client import MixpanelClient
from .settings import MixpanelSettings
from .streams import events_stream, export_windows


class MixpanelConnector(Connector):
    """Mixpanel events into ``usage_events`` (+ daily rollups). ``options`` may carry
    ``base_dir`` (relative paths), ``sleep``, ``clock`` and ``monotonic`` (tests inject them)."""

    type = "mixpanel"
    settings_model = MixpanelSettings
    description = "Mixpanel events: raw Export API (JSON lines, US/EU/India hosts) or export files"

    def __init__(
        self, name: str, settings: MixpanelSettings, *, options: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(name, settings, options=options)
        self.settings: MixpanelSettings = settings
        self.clock: Callable[[], float] = self.options.get("clock") or time.time
        self._client: MixpanelClient | None = None

    @classmethod
    def stream_classes(cls) -> list[builtins.type[Stream]]:
        return [EventStream]

    @property
    def client(self) -> MixpanelClient:
        if self._client is None:
            s = self.settings
            assert s.secret is not None
            retry = s.retry_policy()
            sleep = self.options.get("sleep")
            if sleep is not None:
                retry = dataclasses.replace(retry, sleep=sleep)
            self._client = MixpanelClient(
                base_url=s.host,
                secret=s.secret,
                username=s.username,
                project_id=s.project_id,
                source=self.name,
                retry=retry,
                rate_limiter=RateLimiter(
                    s.rate_limit,
                    burst=1,
                    clock=self.options.get("monotonic") or time.monotonic,
                    sleep=sleep or time.sleep,
                ),
            )
        return self._client

    def _today(self) -> date:
        """Today in the project's timezone (the export's days are that zone's days)."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        tz = zone(self.settings.project_timezone, "project_timezone")
        return (now.astimezone(tz) if tz is not None else now).date()

    def check(self) -> str:
        if self.settings.path:
            files = expand(self.settings.path, self.options.get("base_dir"))
            require_matches(files, f"connectors.{self.name}.path", self.settings.path)
            return f"{len(files)} Mixpanel export file(s) match {self.settings.path!r}"
        day = self._today()
        for _ in self.client.export(day, day, limit=1):
            break
        return f"Mixpanel raw Export API at {self.settings.host}: credentials accepted"

    def streams(self) -> list[Stream]:
        settings = self.settings
        if settings.path:
            setting = f"connectors.{self.name}.path"
            source: Any = FileSource(settings.path, self.options.get("base_dir"), setting)
        else:
            source = WindowSource(
                lambda through: export_windows(self.client, settings, through, self._today())
            )
        return [events_stream(source, settings)]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

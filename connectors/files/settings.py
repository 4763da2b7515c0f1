"""Settings of the generic files connector: CSV or JSON-lines events with a column mapping."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator
from vitalsign.core.errors import ConfigError

from .events import UsageSettings, zone


class Columns(BaseModel):
    """Which column (CSV) or dotted path (JSON lines) holds each field of an event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: str = "event"
    user: str | None = "user_id"
    time: str = "timestamp"
    account: str | None = "account_id"
    dedup_key: str | None = None
    """A unique id per event; without it, a hash of event, user and time is the dedup key."""


class FilesSettings(UsageSettings):
    path: str | list[str]
    """Glob(s) of the files (``.gz`` too); relative to the config file's folder."""
    format: Literal["auto", "csv", "jsonl"] = "auto"
    """``auto``: ``.csv`` / ``.csv.gz`` files are CSV, everything else JSON lines."""
    columns: Columns = Columns()
    time_format: str = "iso"
    """``iso``, ``epoch`` (seconds or milliseconds, told apart by size), ``epoch_s``,
    ``epoch_ms``, or a ``strptime`` pattern such as ``"%d/%m/%Y %H:%M"``."""
    timezone: str | None = None
    """The zone of timestamps written without one (default UTC)."""
    delimiter: str = ","

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        try:
            zone(value, "timezone")
        except ConfigError as exc:
            raise ValueError(str(exc).split(": ", 1)[1]) from None
        return value

    @field_validator("time_format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in ("iso", "epoch", "epoch_s", "epoch_ms") and "%" not in value:
            raise ValueError("use iso, epoch, epoch_s, epoch_ms or a strptime pattern")
        return value

"""Fakes of the product-analytics export APIs, as ``httpx`` handlers (respx side effects or
``httpx.MockTransport``), plus writers of export files in the sources' own formats.

- :class:`FakeAmplitudeExport`: ``GET /api/2/export?start=YYYYMMDDTHH&end=...`` answering a zip
  of gzipped JSON-lines members named like Amplitude's (``<app>/<app>_<day>_<hour>#0.json.gz``,
  hour not zero-padded), selected by ``server_upload_time``; 404 for an empty window, 400 for a
  window longer than ``max_hours`` (Amplitude's answer to an export over 4 GB), 401 for wrong keys.
- :class:`FakeMixpanelExport`: ``GET /api/2.0/export?from_date=...&to_date=...`` answering JSON
  lines of the events whose ``time`` falls on those days (in the project timezone when set).
"""

from __future__ import annotations

import base64
import gzip
import io
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

AMPLITUDE_APP = 424242


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def amplitude_zip(events: Iterable[Mapping[str, Any]], *, app: int = AMPLITUDE_APP) -> bytes:
    """Events grouped by upload hour into gzipped members of one zip, as the Export API sends."""
    members: dict[str, list[bytes]] = {}
    for event in events:
        uploaded = datetime.fromisoformat(str(event["server_upload_time"]))
        name = f"{app}/{app}_{uploaded:%Y-%m-%d}_{uploaded.hour}#0.json.gz"
        members.setdefault(name, []).append(orjson.dumps(event))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name in sorted(members):
            archive.writestr(name, gzip.compress(b"\n".join(members[name]) + b"\n"))
    return buffer.getvalue()


def write_jsonl(path: Path, records: Iterable[Any], *, compress: bool | None = None) -> Path:
    """JSON lines (gzipped when the name ends in ``.gz``); strings are written as raw lines."""
    lines = [r.encode() if isinstance(r, str) else orjson.dumps(r) for r in records]
    body = b"\n".join(lines) + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    gz = path.name.endswith(".gz") if compress is None else compress
    path.write_bytes(gzip.compress(body) if gz else body)
    return path


def amplitude_event(
    insert_id: str | None,
    *,
    event_type: str = "Dashboard Viewed",
    user_id: str | None = "u_1007",
    event_time: str = "2026-03-02 09:12:03.512000",
    upload_time: str | None = None,
    company: str | None = "acct_88",
    properties: Mapping[str, Any] | None = None,
    device_id: str = "19c4e2a7-5b1d-4f0e-9a11-3c2d7e8f0a01",
) -> dict[str, Any]:
    """One export row with Amplitude's field names (see the reference sample)."""
    uploaded = upload_time or event_time
    row: dict[str, Any] = {
        "app": AMPLITUDE_APP,
        "platform": "Web",
        "os_name": "Chrome",
        "library": "amplitude-ts/2.11.0",
        "groups": {"company": company} if company else {},
        "group_properties": {},
        "event_type": event_type,
        "user_id": user_id,
        "device_id": device_id,
        "amplitude_id": 50110203344,
        "event_time": event_time,
        "client_event_time": event_time,
        "server_received_time": uploaded,
        "server_upload_time": uploaded,
        "uuid": f"uuid-{insert_id}" if insert_id else None,
        "event_properties": dict(properties or {}),
        "user_properties": {"plan": "starter"},
        "$schema": 12,
    }
    if insert_id is not None:
        row["$insert_id"] = insert_id
    return row


@dataclass
class FakeAmplitudeExport:
    api_key: str = "amp-key"
    secret_key: str = "amp-secret"
    events: list[dict[str, Any]] = field(default_factory=list)
    max_hours: int | None = None
    """Windows longer than this get 400 (the API's "exceeds 4 GB" answer)."""
    truncate: bool = False
    """Cut the last gzip member short (a damaged download)."""
    requests: list[tuple[str, str, int]] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") != basic_auth(self.api_key, self.secret_key):
            return self._log(request, httpx.Response(401, json={"error": "Invalid API key"}))
        start = datetime.strptime(request.url.params["start"], "%Y%m%dT%H")
        end = datetime.strptime(request.url.params["end"], "%Y%m%dT%H")
        hours = int((end - start) / timedelta(hours=1)) + 1
        if self.max_hours is not None and hours > self.max_hours:
            return self._log(
                request,
                httpx.Response(400, text="Raw data files were too large to export. Shorten the time range."),
            )
        chosen = [
            e
            for e in self.events
            if start
            <= datetime.fromisoformat(e["server_upload_time"]).replace(minute=0, second=0, microsecond=0)
            <= end
        ]
        if not chosen:
            return self._log(request, httpx.Response(404, text="No data available for the given time range"))
        body = amplitude_zip(chosen)
        if self.truncate:
            body = _truncate_last_member(body)
        return self._log(
            request, httpx.Response(200, content=body, headers={"Content-Type": "application/zip"})
        )

    def _log(self, request: httpx.Request, response: httpx.Response) -> httpx.Response:
        self.requests.append(
            (request.url.params.get("start", ""), request.url.params.get("end", ""), response.status_code)
        )
        return response


def _upload_hour(event: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(event["server_upload_time"]).replace(minute=0, second=0, microsecond=0)


def _truncate_last_member(body: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(body))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        names = source.namelist()
        for name in names:
            data = source.read(name)
            archive.writestr(name, data if name != names[-1] else data[: len(data) * 2 // 3])
    return out.getvalue()


@dataclass
class FakeMixpanelExport:
    username: str = "svc.vitalsign"
    secret: str = "mp-secret"
    project_id: int = 31337
    events: list[dict[str, Any]] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("Authorization") != basic_auth(self.username, self.secret):
            return httpx.Response(401, json={"error": "Unable to authenticate request"})
        if request.url.params.get("project_id") != str(self.project_id):
            return httpx.Response(400, json={"error": "project_id is required"})
        first = date.fromisoformat(request.url.params["from_date"])
        last = date.fromisoformat(request.url.params["to_date"])
        lines = [orjson.dumps(e) for e in self.events if first <= self._day(e) <= last]
        return httpx.Response(200, content=b"".join(line + b"\n" for line in lines))

    def _day(self, event: Mapping[str, Any]) -> date:
        """The export day of an event (for a project with a timezone, ``time`` is already
        wall-clock time there, so its calendar day is the project's day)."""
        value = float(event["properties"]["time"])
        seconds = value / 1000 if value >= 100_000_000_000 else value
        return (datetime(1970, 1, 1) + timedelta(seconds=seconds)).date()

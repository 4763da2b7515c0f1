"""Every built-in connector passes the conformance kit a third-party plugin is held to.

One parametrized suite: each built-in connector type registered through the ``vitalsign``
entry points needs a harness here (``test_every_builtin_connector_has_a_harness`` fails
otherwise), and every check of :class:`vitalsign.testing.ConnectorConformance` runs on it.
The harnesses use the shared fakes of ``vitalsign.testing.fakes``.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from vitalsign.core.plugins import plugin_info, plugin_name_of
from vitalsign.core.registry import connector_types
from vitalsign.testing import ConnectorConformance, ConnectorHarness, FaultInjector
from vitalsign.testing.fakes.hubspot import HubSpotHarness
from vitalsign.testing.fakes.stripe import FakeStripe, fake_api_key, ts

STRIPE_KEY = fake_api_key("BuiltinConformance")
STRIPE_HOST = "builtin-conformance.stripe.test"


class StripeHarness(ConnectorHarness):
    """A small Stripe account: five customers on seats, one annual, a coupon, one churned."""

    connector_type = "stripe"

    def settings(self, env: dict[str, str]) -> dict[str, Any]:
        env["STRIPE_BUILTIN_KEY"] = STRIPE_KEY
        return {
            "api_key": "${STRIPE_BUILTIN_KEY}",
            "base_url": f"https://{STRIPE_HOST}",
            "page_size": 2,
            "rate_limit": 0,
            "account_key": "metadata.account_id",
        }

    @contextmanager
    def source(self) -> Iterator[FakeStripe]:
        fake = FakeStripe(STRIPE_KEY, clock=lambda: ts("2026-06-01"), seed=11)
        product = fake.create_product("Team")
        monthly = fake.create_price(product["id"], 1500, nickname="Seat")
        fake.create_coupon(percent_off=20, duration="forever")
        subscriptions = []
        for i in range(5):
            customer = fake.create_customer(
                email=f"billing@customer{i}.io", name=f"Customer {i}", metadata={"account_id": f"ACC-{i}"}
            )
            subscriptions.append(
                fake.create_subscription(customer["id"], [(monthly["id"], i + 1)], start=ts("2026-01-01"))
            )
        fake.advance(ts("2026-02-15"))
        fake.cancel_subscription(subscriptions[0]["id"], at=ts("2026-02-15"))
        fake.advance(ts("2026-04-01"))
        with respx.mock(assert_all_called=False) as router:
            router.route(host=STRIPE_HOST).mock(side_effect=fake.httpx_handler)
            yield fake


AMPLITUDE_KEYS = ("amp-api-key-0d9f3c2e", "amp-secret-key-7b41a9e5")
AMPLITUDE_HOST = "amplitude.builtin-conformance.test"
AMPLITUDE_NOW = datetime(2026, 3, 4, 12, 30, tzinfo=UTC)


def amplitude_event(n: int, uploaded: datetime) -> dict[str, Any]:
    """An export row with the documented field names (see /work/shared/reference/amplitude)."""
    stamp = uploaded.strftime("%Y-%m-%d %H:%M:%S.%f")
    user = f"u_{1000 + n % 4}"
    return {
        "app": 424242,
        "platform": "Web",
        "event_type": ("Dashboard Viewed", "Report Exported", "Invite Sent")[n % 3],
        "user_id": user,
        "device_id": f"19c4e2a7-5b1d-4f0e-9a11-{n:012d}",
        "amplitude_id": 50110203344 + n,
        "event_time": stamp,
        "client_event_time": stamp,
        "server_received_time": stamp,
        "server_upload_time": stamp,
        "$insert_id": f"9a3e2c1d-{n:04d}",
        "uuid": f"0b7c2e9a-6f1d-11f0-8a11-{n:012d}",
        "session_id": int(uploaded.timestamp() * 1000),
        "groups": {"company": [f"acct_{n % 3}"]},
        "event_properties": {"feature": ("dashboards", "exports", "invites")[n % 3]},
        "user_properties": {"plan": "starter", "email": f"{user}@customer.io"},
    }


class FakeAmplitudeExport:
    """``GET /api/2/export``: events by server-upload hour, a zip of gzipped JSON lines, 404 when
    the window is empty, Basic auth with the API and secret keys."""

    def __init__(self) -> None:
        self.faults = FaultInjector(auth_body={"error": "Invalid API key"})
        start = datetime(2026, 3, 1, 3, tzinfo=UTC)
        self.events = [amplitude_event(n, start + timedelta(hours=7 * n, minutes=n)) for n in range(12)]
        self.auth = httpx.BasicAuth(*AMPLITUDE_KEYS)._auth_header

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") != self.auth:
            return httpx.Response(401, text="Invalid API key")
        first = datetime.strptime(request.url.params["start"], "%Y%m%dT%H")
        last = datetime.strptime(request.url.params["end"], "%Y%m%dT%H")
        hours: dict[str, list[bytes]] = {}
        for event in self.events:
            uploaded = datetime.strptime(event["server_upload_time"], "%Y-%m-%d %H:%M:%S.%f")
            if first <= uploaded.replace(minute=0, second=0, microsecond=0) <= last:
                member = f"424242/424242_{uploaded:%Y-%m-%d}_{uploaded.hour}#0.json.gz"
                hours.setdefault(member, []).append(json.dumps(event).encode())
        if not hours:
            return httpx.Response(404, text="Raw data files were not found.")
        body = io.BytesIO()
        with zipfile.ZipFile(body, "w") as archive:
            for member, lines in sorted(hours.items()):
                archive.writestr(member, gzip.compress(b"\n".join(lines) + b"\n"))
        return httpx.Response(200, content=body.getvalue(), headers={"Content-Type": "application/zip"})


class AmplitudeApiHarness(ConnectorHarness):
    """The Export API mode: four daily windows, three events a batch, a fixed clock."""

    connector_type = "amplitude"
    secret_values = (httpx.BasicAuth(*AMPLITUDE_KEYS)._auth_header.removeprefix("Basic "),)

    def settings(self, env: dict[str, str]) -> dict[str, Any]:
        env["AMPLITUDE_BUILTIN_API_KEY"], env["AMPLITUDE_BUILTIN_SECRET_KEY"] = AMPLITUDE_KEYS
        return {
            "api_key": "${AMPLITUDE_BUILTIN_API_KEY}",
            "secret_key": "${AMPLITUDE_BUILTIN_SECRET_KEY}",
            "base_url": f"https://{AMPLITUDE_HOST}",
            "start": "2026-03-01",
            "window_hours": 24,
            "lag_hours": 2,
            "batch_size": 3,
        }

    def connector_options(self) -> dict[str, Any]:
        return {"clock": AMPLITUDE_NOW.timestamp}

    @contextmanager
    def source(self) -> Iterator[FaultInjector]:
        fake = FakeAmplitudeExport()
        with respx.mock(assert_all_called=False) as router:
            fake.faults.install(router)
            router.route(host=AMPLITUDE_HOST, path="/api/2/export").mock(side_effect=fake.handler)
            yield fake.faults


MIXPANEL_USER, MIXPANEL_SECRET = "vitalsign.7c1e2d.mp-service-account", "mp-sa-secret-5e8a0c3b9d"
MIXPANEL_HOST = "mixpanel.builtin-conformance.test"
MIXPANEL_PROJECT = 3141592


class FakeMixpanelExport:
    """``GET /api/2.0/export``: the raw events of whole UTC days as JSON lines (an empty body for
    a day without events), service-account Basic auth plus ``project_id``."""

    def __init__(self) -> None:
        self.faults = FaultInjector(auth_body={"error": "Unauthorized", "status": 0})
        self.auth = httpx.BasicAuth(MIXPANEL_USER, MIXPANEL_SECRET)._auth_header
        start = datetime(2026, 3, 1, 8, tzinfo=UTC)
        self.events: list[dict[str, Any]] = [
            {
                "event": ("Report Viewed", "Alert Created")[n % 2],
                "properties": {
                    "time": int((start + timedelta(hours=9 * n)).timestamp()),
                    "distinct_id": f"u_{n % 3}" if n % 5 else f"$device:0f2c9a7e-{n:04d}",
                    "$insert_id": f"b1c2d3e4f5a6{n:04d}",
                    "mp_processing_time_ms": int(
                        (start + timedelta(hours=9 * n, seconds=4)).timestamp() * 1000
                    ),
                    "account_id": f"acct_{n % 2}",
                    "feature": ("reports", "alerts")[n % 2],
                    "$browser": "Chrome",
                    "mp_lib": "web",
                },
            }
            for n in range(10)
        ]

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") != self.auth:
            return httpx.Response(401, json={"error": "Unauthorized", "status": 0})
        if request.url.params.get("project_id") != str(MIXPANEL_PROJECT):
            return httpx.Response(400, json={"error": "project_id is required", "status": "error"})
        first = date.fromisoformat(request.url.params["from_date"])
        last = date.fromisoformat(request.url.params["to_date"])
        lines = [
            json.dumps(e).encode()
            for e in self.events
            if first <= datetime.fromtimestamp(e["properties"]["time"], UTC).date() <= last
        ]
        return httpx.Response(200, content=b"".join(line + b"\n" for line in lines))


class MixpanelApiHarness(ConnectorHarness):
    """The raw Export API with a service account: four daily windows, three events a batch."""

    connector_type = "mixpanel"
    secret_values = (httpx.BasicAuth(MIXPANEL_USER, MIXPANEL_SECRET)._auth_header.removeprefix("Basic "),)

    def settings(self, env: dict[str, str]) -> dict[str, Any]:
        env["MIXPANEL_BUILTIN_SECRET"] = MIXPANEL_SECRET
        return {
            "username": MIXPANEL_USER,
            "secret": "${MIXPANEL_BUILTIN_SECRET}",
            "project_id": MIXPANEL_PROJECT,
            "base_url": f"https://{MIXPANEL_HOST}",
            "start": "2026-03-01",
            "rate_limit": 0,
            "batch_size": 3,
        }

    def connector_options(self) -> dict[str, Any]:
        return {"clock": datetime(2026, 3, 5, 10, tzinfo=UTC).timestamp}

    @contextmanager
    def source(self) -> Iterator[FaultInjector]:
        fake = FakeMixpanelExport()
        with respx.mock(assert_all_called=False) as router:
            fake.faults.install(router)
            router.route(host=MIXPANEL_HOST, path="/api/2.0/export").mock(side_effect=fake.handler)
            yield fake.faults


class FileHarness(ConnectorHarness):
    """A connector reading export files: the files are written once into a scratch folder."""

    http = False

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.write(folder)

    def write(self, folder: Path) -> None:
        raise NotImplementedError

    @contextmanager
    def source(self) -> Iterator[FaultInjector]:
        yield FaultInjector()  # files cannot fail like an API; the HTTP checks are skipped


class FilesHarness(FileHarness):
    """Three CSV exports (one gzipped), four events each, three events a batch."""

    connector_type = "files"

    def write(self, folder: Path) -> None:
        start = datetime(2026, 4, 1, 9, tzinfo=UTC)
        for day in range(3):
            rows = ["event,user_id,timestamp,account_id,event_id,feature"]
            for n in range(4):
                at = start + timedelta(days=day, hours=n)
                feature = ("reports", "alerts")[n % 2]
                rows.append(f"Report Viewed,u{n},{at.isoformat()},acct_{n % 2},evt-{day}-{n},{feature}")
            text = "\n".join(rows) + "\n"
            name = folder / f"events-2026-04-0{day + 1}.csv"
            if day == 2:
                name.with_suffix(".csv.gz").write_bytes(gzip.compress(text.encode()))
            else:
                name.write_text(text)

    def settings(self, env: dict[str, str]) -> dict[str, Any]:
        return {
            "path": str(self.folder / "events-*.csv*"),
            "columns": {"dedup_key": "event_id"},
            "batch_size": 3,
        }


class SegmentHarness(FileHarness):
    """Two JSON-lines dumps of Segment calls: identify, group, track, page."""

    connector_type = "segment"

    def write(self, folder: Path) -> None:
        calls: list[list[dict[str, Any]]] = [[], []]
        for n in range(8):
            at = datetime(2026, 4, 1, 9, tzinfo=UTC) + timedelta(hours=n)
            user, account = f"user_{n % 3}", f"grp_{n % 2}"
            base = {"userId": user, "timestamp": at.isoformat(), "messageId": f"ajs-{n:04d}"}
            if n < 2:
                calls[0].append({**base, "type": "identify", "traits": {"email": f"{user}@acme.io"}})
                calls[0].append(
                    {
                        **base,
                        "type": "group",
                        "groupId": account,
                        "messageId": f"ajs-g{n}",
                        "traits": {"name": f"Group {n}", "website": f"https://grp{n}.io", "plan": "pro"},
                    }
                )
            kind = "page" if n % 4 == 3 else "track"
            call = {**base, "type": kind, "context": {"groupId": account}}
            call |= {"name": "Pricing"} if kind == "page" else {"event": "Dashboard Viewed"}
            call["properties"] = {"feature": "dashboards"}
            calls[n // 4].append(call)
        for i, lines in enumerate(calls):
            text = "\n".join(json.dumps(line) for line in lines) + "\n"
            (folder / f"segment-{i}.jsonl").write_text(text)

    def settings(self, env: dict[str, str]) -> dict[str, Any]:
        return {"path": str(self.folder / "segment-*.jsonl"), "batch_size": 3}


class AmplitudeFilesHarness(FileHarness):
    """Amplitude export files as the Export API returns them: two zips and a loose .json.gz."""

    connector_type = "amplitude"

    def write(self, folder: Path) -> None:
        start = datetime(2026, 3, 1, 3, tzinfo=UTC)
        events = [amplitude_event(n, start + timedelta(hours=7 * n, minutes=n)) for n in range(9)]
        for part in range(2):
            with zipfile.ZipFile(folder / f"export-{part}.zip", "w") as archive:
                for n, event in enumerate(events[part * 3 : part * 3 + 3]):
                    member = f"424242/424242_2026-03-0{part + 1}_{n}#0.json.gz"
                    archive.writestr(member, gzip.compress(json.dumps(event).encode() + b"\n"))
        loose = b"".join(json.dumps(e).encode() + b"\n" for e in events[6:])
        (folder / "export-2.json.gz").write_bytes(gzip.compress(loose))

    def settings(self, env: dict[str, str]) -> dict[str, Any]:
        return {"path": [str(self.folder / "*.zip"), str(self.folder / "*.json.gz")], "batch_size": 2}


class MixpanelFilesHarness(FileHarness):
    """Mixpanel raw-export JSON lines, one file a day (the last gzipped)."""

    connector_type = "mixpanel"

    def write(self, folder: Path) -> None:
        events = FakeMixpanelExport().events
        for day in range(3):
            lines = b"".join(json.dumps(e).encode() + b"\n" for e in events[day * 3 : day * 3 + 3])
            name = folder / f"mixpanel-2026-03-0{day + 1}.jsonl"
            if day == 2:
                name.with_suffix(".jsonl.gz").write_bytes(gzip.compress(lines))
            else:
                name.write_bytes(lines)

    def settings(self, env: dict[str, str]) -> dict[str, Any]:
        return {"path": str(self.folder / "mixpanel-*"), "batch_size": 2}


def http_only(cls: type[ConnectorHarness]) -> Callable[[Path], ConnectorHarness]:
    return lambda folder: cls()


HARNESSES: dict[str, Callable[[Path], ConnectorHarness]] = {
    "stripe": http_only(StripeHarness),
    "hubspot": http_only(HubSpotHarness),
    "amplitude": http_only(AmplitudeApiHarness),
    "amplitude_files": AmplitudeFilesHarness,
    "mixpanel": http_only(MixpanelApiHarness),
    "mixpanel_files": MixpanelFilesHarness,
    "files": FilesHarness,
    "segment": SegmentHarness,
}
"""Harness factories (given a scratch folder for files), by connector type or type_mode."""


def builtin_types() -> list[str]:
    infos = plugin_info()
    found = []
    for ctype, cls in connector_types().items():
        plugin = plugin_name_of(cls)
        if plugin and infos.get(plugin) and infos[plugin].origin == "builtin":
            found.append(ctype)
    return found


def test_every_builtin_connector_has_a_harness() -> None:
    missing = sorted(set(builtin_types()) - {name.split("_")[0] for name in HARNESSES})
    assert not missing, f"built-in connectors without a conformance harness here: {missing}"


class TestBuiltinConformance(ConnectorConformance):
    @pytest.fixture(params=sorted(HARNESSES))
    def harness(
        self, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> ConnectorHarness:
        harness = HARNESSES[request.param](tmp_path_factory.mktemp(request.param))
        if harness.connector_type not in connector_types():
            pytest.fail(f"built-in connector {harness.connector_type!r} is not registered")
        return harness

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import respx
from vitalsign.connectors.mixpanel.connector import MixpanelConnector
from vitalsign.connectors.mixpanel.settings import MixpanelSettings
from vitalsign.testing.fakes.usage import FakeMixpanelExport, write_jsonl
from vitalsign.testing.usage import rows, sync

REFERENCE = Path("/work/shared/reference/mixpanel")


def connector(tmp_path: Path, **settings) -> MixpanelConnector:
    sleeps: list[float] = []

    def monotonic() -> float:
        return sum(sleeps)

    options = {
        "base_dir": tmp_path,
        "sleep": sleeps.append,
        "monotonic": monotonic,
        "clock": settings.pop("clock", None),
    }
    mp = MixpanelConnector("mixpanel", MixpanelSettings.model_validate(settings), options=options)
    mp.sleeps = sleeps  # type: ignore[attr-defined]
    return mp


def event(
    insert_id: str | None, time: float, *, name: str = "Report Exported", user: str = "u_1007", **props
):
    properties = {"time": time, "distinct_id": user, "$user_id": user, "mp_processing_time_ms": 1772448421008}
    if insert_id is not None:
        properties["$insert_id"] = insert_id
    properties.update(props)
    return {"event": name, "properties": properties}


def reference_lines(name: str) -> list[str]:
    path = REFERENCE / name
    if path.exists():
        return path.read_text().splitlines()
    scale = 1000 if "ms" in name else 1
    import orjson

    return [
        orjson.dumps(e).decode()
        for e in (
            event("b1f0c2a4e9d84a55a0e6", 1772442311 * scale, name="Signed Up", plan="starter"),
            event("7d22e1f90b6c4c0f8e3a", 1772448420 * scale, account_id="acct_88"),
            event("7d22e1f90b6c4c0f8e3a", 1772448420 * scale, account_id="acct_88"),
            {
                "event": "Page Viewed",
                "properties": {
                    "time": 1772495998 * scale,
                    "distinct_id": "$device:5f0aa1c9-0e7b-4c1e-b9f6-7a2d55c1e0ff",
                    "$insert_id": "c0ffee00aa11bb22cc33",
                },
            },
        )
    ]


@pytest.mark.parametrize("sample", ["export_sample.jsonl", "export_sample_time_in_ms.jsonl"])
def test_reference_export_seconds_or_milliseconds(store, tmp_path, sample):
    (tmp_path / "mp").mkdir()
    if (REFERENCE / sample).exists():
        shutil.copy(REFERENCE / sample, tmp_path / "mp" / sample)
    else:
        write_jsonl(tmp_path / "mp" / sample, reference_lines(sample))
    summary = sync(store, connector(tmp_path, path="mp/*.jsonl", properties=["format"]))
    assert summary.status == "success", summary.error
    events = {e["source_id"]: e for e in rows(store, "usage_events")}
    # line 3 re-delivers line 2: one row
    assert set(events) == {"b1f0c2a4e9d84a55a0e6", "7d22e1f90b6c4c0f8e3a", "c0ffee00aa11bb22cc33"}
    exported = events["7d22e1f90b6c4c0f8e3a"]
    assert exported["occurred_at"].replace(microsecond=0) == datetime(2026, 3, 2, 10, 47, tzinfo=UTC)
    assert (exported["account_key"], exported["user_id"]) == ("acct_88", "u_1007")
    assert exported["properties"] == {"format": "csv"}
    assert events["c0ffee00aa11bb22cc33"]["user_id"] is None  # $device: ids are anonymous
    daily = {d["account_key"]: (d["active_users"], d["events"]) for d in rows(store, "usage_daily")}
    assert daily == {"acct_88": (1, 1), "": (1, 2)}


def test_seconds_and_milliseconds_give_the_same_instant(sqlite_store, tmp_path):
    write_jsonl(tmp_path / "mp" / "s.jsonl", [event("a", 1772448420)])
    write_jsonl(tmp_path / "mp" / "ms.jsonl", [event("b", 1772448420250)])
    sync(sqlite_store, connector(tmp_path, path="mp/*.jsonl"))
    stamps = {e["source_id"]: e["occurred_at"] for e in rows(sqlite_store, "usage_events")}
    assert stamps["a"] == datetime(2026, 3, 2, 10, 47, tzinfo=UTC)
    assert stamps["b"] == datetime(2026, 3, 2, 10, 47, 0, 250000, tzinfo=UTC)


def test_project_timezone_converts_local_wall_clock_time(sqlite_store, tmp_path):
    # 2026-03-02 23:30 wall-clock in Los Angeles (PST, UTC-8) is 2026-03-03 07:30 UTC
    local = datetime(2026, 3, 2, 23, 30, tzinfo=UTC).timestamp()
    write_jsonl(tmp_path / "mp" / "a.jsonl", [event("tz-1", local, account_id="acct_1")])
    sync(sqlite_store, connector(tmp_path, path="mp/*.jsonl", project_timezone="America/Los_Angeles"))
    [stored] = rows(sqlite_store, "usage_events")
    assert stored["occurred_at"] == datetime(2026, 3, 3, 7, 30, tzinfo=UTC)
    [daily] = rows(sqlite_store, "usage_daily")
    assert daily["day"] == date(2026, 3, 3)


def test_unknown_timezone_is_a_settings_error():
    with pytest.raises(ValueError, match="unknown time zone"):
        MixpanelSettings.model_validate({"path": "x", "project_timezone": "Mars/Olympus"})


def test_events_without_insert_id_dedup_by_hash_and_bad_lines_quarantine(sqlite_store, tmp_path):
    write_jsonl(
        tmp_path / "mp" / "a.jsonl",
        [event(None, 1772448420), event(None, 1772448420), '{"event": "x"}', "[1, 2]", event(None, "soon")],
    )
    summary = sync(sqlite_store, connector(tmp_path, path="mp/*.jsonl"))
    assert summary.status == "success"
    [stored] = rows(sqlite_store, "usage_events")
    assert stored["source_id"].startswith("h:")
    reasons = {q["location"]: q["reason"] for q in rows(sqlite_store, "quarantine")}
    assert reasons == {
        "mp/a.jsonl:3": "missing event time",
        "mp/a.jsonl:4": "not a JSON object",
        "mp/a.jsonl:5": "not an epoch timestamp: 'soon'",
    }


# ---------------------------------------------------------------- the raw Export API


def clock_at(text: str):
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()
    return lambda: moment


def api_connector(tmp_path: Path, **settings) -> MixpanelConnector:
    values = {
        "username": "svc.vitalsign",
        "secret": "mp-secret",
        "project_id": 31337,
        "start": "2026-03-01",
        "clock": clock_at("2026-03-04T10:00:00"),
    }
    values.update(settings)
    return connector(tmp_path, **values)


@pytest.fixture
def fake() -> FakeMixpanelExport:
    return FakeMixpanelExport(
        events=[
            event("m-1", 1772323200 + 3600, account_id="acct_1"),  # 2026-03-01 01:00
            event("m-2", 1772409600 + 7200, account_id="acct_1", user="u_2"),  # 2026-03-02 02:00
            event("m-3", (1772496000 + 60) * 1000, account_id="acct_2"),  # 2026-03-03 00:01, in ms
        ]
    )


@pytest.mark.parametrize(
    ("region", "host"),
    [("us", "data.mixpanel.com"), ("eu", "data-eu.mixpanel.com"), ("in", "data-in.mixpanel.com")],
)
def test_export_api_by_region_day_windows_and_rate_limit(sqlite_store, tmp_path, fake, region, host):
    mp = api_connector(tmp_path, region=region)
    with respx.mock(base_url=f"https://{host}") as router:
        router.get("/api/2.0/export").mock(side_effect=fake)
        summary = sync(sqlite_store, mp)
    assert summary.status == "success", summary.error
    days = [(r.url.params["from_date"], r.url.params["to_date"]) for r in fake.requests]
    assert days == [("2026-03-01", "2026-03-01"), ("2026-03-02", "2026-03-02"), ("2026-03-03", "2026-03-03")]
    assert all(r.url.host == host and r.url.params["project_id"] == "31337" for r in fake.requests)
    # 60 queries an hour: after the first, each waits a minute (sleep and clock injected)
    assert mp.sleeps == [pytest.approx(60), pytest.approx(60)]  # type: ignore[attr-defined]
    assert {e["source_id"] for e in rows(sqlite_store, "usage_events")} == {"m-1", "m-2", "m-3"}
    [state] = rows(sqlite_store, "sync_state")
    assert state["cursor"] == {"through": "2026-03-03"}


def test_export_api_rereads_lookback_days_without_double_counting(sqlite_store, tmp_path, fake):
    with respx.mock(base_url="https://data.mixpanel.com") as router:
        router.get("/api/2.0/export").mock(side_effect=fake)
        sync(sqlite_store, api_connector(tmp_path))
        fake.requests.clear()
        fake.events.append(event("m-4", 1772496000 + 7200, account_id="acct_2"))  # late, 03-03
        summary = sync(sqlite_store, api_connector(tmp_path, clock=clock_at("2026-03-05T10:00:00")))
    days = [r.url.params["from_date"] for r in fake.requests]
    assert days == ["2026-03-03", "2026-03-04"]  # one lookback day, then the new day
    assert summary.streams["events"].rows == 1
    totals = {(d["account_key"], d["day"]): d["events"] for d in rows(sqlite_store, "usage_daily")}
    assert totals[("acct_2", date(2026, 3, 3))] == 2


def test_export_api_legacy_secret_and_failed_auth_does_not_leak(sqlite_store, tmp_path, fake):
    mp = api_connector(tmp_path, username=None, project_id=None, secret="bad-secret-123")
    with respx.mock(base_url="https://data.mixpanel.com") as router:
        router.get("/api/2.0/export").mock(side_effect=fake)
        summary = sync(sqlite_store, mp)
    assert summary.status == "failed"
    assert "credentials rejected" in summary.error
    assert "bad-secret-123" not in summary.error
    auth = fake.requests[0].headers["Authorization"]
    import base64

    assert base64.b64decode(auth.split()[1]) == b"bad-secret-123:"


def test_export_body_is_streamed_line_by_line(tmp_path, fake):
    """The body arrives in pieces that cut lines in two; lines still come out whole."""
    body = b"".join(__import__("orjson").dumps(e) + b"\n" for e in fake.events)
    pieces = [body[i : i + 7] for i in range(0, len(body), 7)]
    mp = api_connector(tmp_path)

    def streamed(request):
        import httpx

        return httpx.Response(200, stream=_Chunks(pieces))

    with respx.mock(base_url="https://data.mixpanel.com") as router:
        router.get("/api/2.0/export").mock(side_effect=streamed)
        lines = list(mp.client.export(date(2026, 3, 1), date(2026, 3, 3)))
    assert [n for n, _ in lines] == [1, 2, 3]
    assert b'"m-3"' in lines[2][1]


class _Chunks:
    """An httpx sync byte stream yielding the given pieces."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    def __iter__(self):
        yield from self.pieces

    def close(self) -> None:
        pass


def test_check_asks_for_one_event_only(tmp_path, fake):
    mp = api_connector(tmp_path)
    with respx.mock(base_url="https://data.mixpanel.com") as router:
        router.get("/api/2.0/export").mock(side_effect=fake)
        assert "credentials accepted" in mp.check()
    [request] = fake.requests
    assert request.url.params["limit"] == "1"
    assert request.url.params["from_date"] == request.url.params["to_date"] == "2026-03-04"

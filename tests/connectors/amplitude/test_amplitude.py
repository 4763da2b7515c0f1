from __future__ import annotations

import gzip
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
import respx
from vitalsign.connectors.amplitude.connector import AmplitudeConnector
from vitalsign.connectors.amplitude.settings import AmplitudeSettings
from vitalsign.core.errors import AuthenticationError
from vitalsign.testing.fakes.usage import FakeAmplitudeExport, amplitude_event, write_jsonl
from vitalsign.testing.usage import rows, sync

REFERENCE = Path("/work/shared/reference/amplitude/export_sample.zip")
HERE = Path(__file__).parent


def connector(tmp_path: Path, name: str = "amplitude", **settings) -> AmplitudeConnector:
    options = {"base_dir": tmp_path, "sleep": lambda s: None, "clock": settings.pop("clock", None)}
    return AmplitudeConnector(name, AmplitudeSettings.model_validate(settings), options=options)


@pytest.fixture
def reference_zip(tmp_path: Path) -> Path:
    target = tmp_path / "exports" / "424242_2026-03-02.zip"
    target.parent.mkdir(parents=True)
    if REFERENCE.exists():
        shutil.copy(REFERENCE, target)
    else:  # the same three rows, packed like the Export API packs them
        from vitalsign.testing.fakes.usage import amplitude_zip

        target.write_bytes(amplitude_zip(_reference_rows()))
    return target


def _reference_rows() -> list[dict]:
    return [
        amplitude_event("9a3e2c1d-0001", company=None, properties={"dashboard": "revenue"}),
        amplitude_event(
            "9a3e2c1d-0002", event_type="Seat Added", company=None, event_time="2026-03-02 09:40:00.000000"
        ),
        amplitude_event(
            "77e1-anon-0001", user_id=None, company=None, event_time="2026-03-02 10:01:30.000000"
        ),
    ]


def test_export_zip_from_disk_loads_events_rollups_and_groups(sqlite_store, tmp_path, reference_zip):
    amp = connector(
        tmp_path, path="exports/*.zip", account_key="user_properties.company_id", properties=["dashboard"]
    )
    summary = sync(sqlite_store, amp)
    assert summary.status == "success", summary.error
    events = {e["source_id"]: e for e in rows(sqlite_store, "usage_events")}
    assert set(events) == {"9a3e2c1d-0001", "9a3e2c1d-0002", "77e1-anon-0001"}
    first = events["9a3e2c1d-0001"]
    assert first["occurred_at"] == datetime(2026, 3, 2, 9, 12, 3, 512000, tzinfo=UTC)
    assert first["event"] == "Dashboard Viewed"
    assert (first["user_id"], first["account_key"]) == ("u_1007", "acct_88")
    assert first["properties"] == {"dashboard": "revenue"}
    assert events["9a3e2c1d-0002"]["properties"] is None
    assert events["77e1-anon-0001"]["user_id"] is None
    daily = {
        (d["account_key"], d["day"]): (d["active_users"], d["events"])
        for d in rows(sqlite_store, "usage_daily")
    }
    assert daily == {("acct_88", date(2026, 3, 2)): (1, 2), ("", date(2026, 3, 2)): (0, 1)}
    [group] = [a for a in rows(sqlite_store, "source_accounts") if a["source"] == "amplitude"]
    assert (group["source_id"], group["kind"], group["account_key"]) == ("acct_88", "group", "acct_88")


def test_redelivered_events_across_files_and_reruns_count_once(store, tmp_path):
    day1 = [
        amplitude_event("a-1", properties={"feature": "reports"}),
        amplitude_event("a-2", user_id="u_2", properties={"feature": "reports"}),
    ]
    write_jsonl(tmp_path / "exp" / "h9.json.gz", day1)
    # a later hourly file re-delivers a-2 and brings a-3 (same user as a-1, same day)
    a3 = amplitude_event("a-3", event_time="2026-03-02 10:00:00.000000")
    write_jsonl(tmp_path / "exp" / "h10.json.gz", [day1[1], a3])
    amp = connector(tmp_path, path="exp/*.json.gz")
    assert sync(store, amp).status == "success"
    # a new file re-delivering everything again, and a full refresh re-reading all files
    write_jsonl(tmp_path / "exp" / "h11.json.gz", [*day1, a3])
    assert sync(store, amp).streams["events"].rows == 0
    assert sync(store, amp, full_refresh=True).streams["events"].rows == 0
    assert len(rows(store, "usage_events")) == 3
    [daily] = rows(store, "usage_daily")
    assert (daily["active_users"], daily["events"]) == (2, 3)
    users = {u["user_id"]: u["events"] for u in rows(store, "usage_user_daily")}
    assert users == {"u_1007": 2, "u_2": 1}
    [feature] = rows(store, "usage_feature_daily")
    assert (feature["feature"], feature["events"]) == ("reports", 2)


def test_cursor_skips_unchanged_files_and_reads_new_ones(sqlite_store, tmp_path):
    write_jsonl(tmp_path / "exp" / "a.json", [amplitude_event("a-1")])
    amp = connector(tmp_path, path="exp/*.json")
    sync(sqlite_store, amp)
    [state] = rows(sqlite_store, "sync_state")
    assert list(state["cursor"]["files"]) == ["exp/a.json"]
    write_jsonl(tmp_path / "exp" / "b.json", [amplitude_event("b-1")])
    summary = sync(sqlite_store, amp)
    assert summary.streams["events"].rows == 1
    [state] = rows(sqlite_store, "sync_state")
    assert sorted(state["cursor"]["files"]) == ["exp/a.json", "exp/b.json"]


def test_bad_lines_are_quarantined_with_file_and_line(sqlite_store, tmp_path):
    good = amplitude_event("ok-1")
    no_time = amplitude_event("bad-2")
    del no_time["event_time"]
    bad_time = amplitude_event("bad-3", event_time="yesterday")
    write_jsonl(
        tmp_path / "exp" / "h1.json.gz",
        [good, "{not json", no_time, "", bad_time, amplitude_event("ok-2", event_type="")],
    )
    summary = sync(sqlite_store, connector(tmp_path, path="exp/*.gz"))
    assert summary.status == "success"
    assert [e["source_id"] for e in rows(sqlite_store, "usage_events")] == ["ok-1"]
    found = {q["location"]: q["reason"] for q in rows(sqlite_store, "quarantine")}
    assert found == {
        "exp/h1.json.gz:2": "not valid JSON",
        "exp/h1.json.gz:3": "missing event time",
        "exp/h1.json.gz:5": "not an ISO-8601 timestamp: 'yesterday'",
        "exp/h1.json.gz:6": "missing event name",
    }
    assert summary.streams["events"].quarantined == 4


def test_truncated_gzip_fails_naming_the_file_and_keeps_lines_before(sqlite_store, tmp_path):
    body = b"\n".join(
        __import__("orjson").dumps(amplitude_event(f"t-{i}", event_time=f"2026-03-02 09:{i:02d}:00.000000"))
        for i in range(40)
    )
    packed = gzip.compress(body + b"\n")
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "cut.json.gz").write_bytes(packed[: len(packed) * 2 // 3])
    write_jsonl(tmp_path / "exp" / "whole.json.gz", [amplitude_event("w-1")])
    summary = sync(sqlite_store, connector(tmp_path, path="exp/*.gz"))
    assert summary.status == "failed"
    assert "exp/cut.json.gz" in summary.error
    assert "truncated" in summary.error
    kept = [e["source_id"] for e in rows(sqlite_store, "usage_events")]
    assert "w-1" in kept  # the other file still loaded
    assert 0 < len([k for k in kept if k.startswith("t-")]) < 40
    [state] = rows(sqlite_store, "sync_state")
    assert list(state["cursor"]["files"]) == ["exp/whole.json.gz"]  # the cut file is retried


def test_events_without_insert_id_get_a_stable_hash_key(sqlite_store, tmp_path):
    event = amplitude_event(None)
    event.pop("uuid")
    write_jsonl(tmp_path / "exp" / "a.json", [event])
    write_jsonl(tmp_path / "exp" / "b.json", [event])
    sync(sqlite_store, connector(tmp_path, path="exp/*.json"))
    [stored] = rows(sqlite_store, "usage_events")
    assert stored["source_id"].startswith("h:")


# ---------------------------------------------------------------- the Export API


def clock_at(text: str):
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()
    return lambda: moment


@pytest.fixture
def api(monkeypatch):
    monkeypatch.setenv("AMP_KEY", "amp-key")
    fake = FakeAmplitudeExport(
        events=[
            amplitude_event(
                "e-1", event_time="2026-03-01 23:59:00.000000", upload_time="2026-03-02 00:10:00.000000"
            ),
            amplitude_event("e-2", event_time="2026-03-02 05:00:00.000000"),
            amplitude_event("e-3", user_id="u_9", company="acct_91", event_time="2026-03-02 20:00:00.000000"),
        ]
    )
    with respx.mock(base_url="https://amplitude.com", assert_all_called=False) as router:
        router.get("/api/2/export").mock(side_effect=fake)
        yield fake


def api_connector(tmp_path: Path, **settings) -> AmplitudeConnector:
    values = {"api_key": "amp-key", "secret_key": "amp-secret", "start": "2026-03-02", "window_hours": 12}
    values.update(settings)
    return connector(tmp_path, clock=clock_at("2026-03-03T03:30:00"), **values)


def test_export_api_reads_hourly_windows_by_upload_time(sqlite_store, tmp_path, api):
    summary = sync(sqlite_store, api_connector(tmp_path))
    assert summary.status == "success", summary.error
    assert [(s, e) for s, e, _ in api.requests] == [
        ("20260302T00", "20260302T11"),
        ("20260302T12", "20260302T23"),
        ("20260303T00", "20260303T00"),  # now 03:30 minus 2 h lag: hours up to 00 are complete
    ]
    assert [code for *_, code in api.requests] == [200, 200, 404]
    events = {e["source_id"]: e for e in rows(sqlite_store, "usage_events")}
    assert set(events) == {"e-1", "e-2", "e-3"}
    # selected by upload hour, dated by event time: e-1 happened the day before
    assert events["e-1"]["occurred_at"].date() == date(2026, 3, 1)
    [state] = rows(sqlite_store, "sync_state")
    assert state["cursor"] == {"through": "20260303T00"}


def test_export_api_resumes_after_the_last_window(sqlite_store, tmp_path, api):
    sync(sqlite_store, api_connector(tmp_path))
    api.requests.clear()
    later = api_connector(tmp_path)
    later.clock = clock_at("2026-03-03T05:10:00")
    sync(sqlite_store, later)
    assert [(s, e) for s, e, _ in api.requests] == [("20260303T01", "20260303T02")]


def test_export_api_splits_a_window_over_the_size_limit(sqlite_store, tmp_path, api):
    api.max_hours = 3
    summary = sync(sqlite_store, api_connector(tmp_path, window_hours=12, lag_hours=14))
    assert summary.status == "success", summary.error
    statuses = [code for *_, code in api.requests]
    assert statuses[0] == 400
    assert all(end >= start for start, end, _ in api.requests)
    ok = [(s, e) for s, e, code in api.requests if code != 400]
    # the accepted windows tile hours 00..12 (now minus the lag) without gaps or overlaps
    hours = [h for s, e in ok for h in range(int(s[-2:]), int(e[-2:]) + 1)]
    assert hours == list(range(13))
    assert {e["source_id"] for e in rows(sqlite_store, "usage_events")} == {"e-1", "e-2"}


def test_export_api_truncated_member_is_an_error_naming_it(sqlite_store, tmp_path, api):
    api.events = [amplitude_event(f"x-{i}", event_time=f"2026-03-02 10:{i:02d}:00.000000") for i in range(50)]
    api.truncate = True
    summary = sync(sqlite_store, api_connector(tmp_path))
    assert summary.status == "failed"
    assert "export 20260302T00-20260302T11!424242/424242_2026-03-02_10#0.json.gz" in summary.error
    assert 0 < len(rows(sqlite_store, "usage_events")) < 50
    # the damaged window holds the cursor: the next run asks for it again
    assert all(state["cursor"] != {"through": "20260303T00"} for state in rows(sqlite_store, "sync_state"))


def test_export_api_wrong_keys_fail_without_leaking_them(sqlite_store, tmp_path, api):
    amp = api_connector(tmp_path, secret_key="wrong-secret-value")
    with pytest.raises(AuthenticationError) as exc:
        amp.check()
    assert "wrong-secret-value" not in str(exc.value)
    summary = sync(sqlite_store, amp)
    assert summary.status == "failed"
    assert "wrong-secret-value" not in (summary.error or "")


def test_settings_need_files_or_both_keys():
    with pytest.raises(ValueError, match="path"):
        AmplitudeSettings.model_validate({})
    with pytest.raises(ValueError, match="both"):
        AmplitudeSettings.model_validate({"api_key": "k"})


def test_respx_sees_basic_auth_and_streams_the_zip(tmp_path):
    fake = FakeAmplitudeExport(events=[amplitude_event("s-1")])
    amp = api_connector(tmp_path)
    with respx.mock(base_url="https://amplitude.com") as router:
        route = router.get("/api/2/export").mock(side_effect=fake)
        with amp.client.export(datetime(2026, 3, 2, 9), datetime(2026, 3, 2, 9)) as body:
            assert body is not None
            assert body.read(2) == b"PK"
        assert route.called
        request = route.calls.last.request
        assert request.headers["Authorization"].startswith("Basic ")
        assert isinstance(request, httpx.Request)

from __future__ import annotations

import gzip
import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from vitalsign.connectors.files.connector import FilesConnector
from vitalsign.connectors.files.events import getter, key_value, parse_epoch
from vitalsign.connectors.files.reader import SourceFile, iter_file_lines, iter_lines
from vitalsign.connectors.files.settings import FilesSettings
from vitalsign.core.errors import ConfigError, SourceDataError
from vitalsign.testing.fakes.usage import write_jsonl
from vitalsign.testing.usage import rows, sync


def connector(tmp_path: Path, **settings) -> FilesConnector:
    return FilesConnector("files", FilesSettings.model_validate(settings), options={"base_dir": tmp_path})


CSV = """event_name,uid,when,company,id,feature
Report Exported,u_1,02/03/2026 09:15,acct_1,ev-1,reports
Report Exported,u_1,02/03/2026 10:15,acct_1,ev-2,reports
Dashboard Viewed,u_2,02/03/2026 11:00,acct_1,ev-3,dashboards
Dashboard Viewed,u_2,,acct_1,ev-4,dashboards
Report Exported,u_1,02/03/2026 09:15,acct_1,ev-1,reports
"""


def test_csv_with_column_mapping_time_format_and_timezone(store, tmp_path):
    (tmp_path / "usage").mkdir()
    (tmp_path / "usage" / "march.csv").write_text(CSV)
    files = connector(
        tmp_path,
        path="usage/*.csv",
        columns={
            "event": "event_name",
            "user": "uid",
            "time": "when",
            "account": "company",
            "dedup_key": "id",
        },
        time_format="%d/%m/%Y %H:%M",
        timezone="Europe/Lisbon",
        properties=["feature"],
    )
    summary = sync(store, files)
    assert summary.status == "success", summary.error
    events = {e["source_id"]: e for e in rows(store, "usage_events")}
    assert set(events) == {"ev-1", "ev-2", "ev-3"}  # ev-4 has no time, the second ev-1 is a re-delivery
    assert events["ev-1"]["occurred_at"] == datetime(2026, 3, 2, 9, 15, tzinfo=UTC)  # Lisbon = UTC in March
    assert events["ev-3"]["account_key"] == "acct_1"
    [bad] = rows(store, "quarantine")
    assert (bad["location"], bad["reason"]) == ("usage/march.csv:5", "missing event time")
    assert '"ev-4"' in bad["payload"]
    features = {f["feature"]: f["events"] for f in rows(store, "usage_feature_daily")}
    assert features == {"reports": 2, "dashboards": 1}
    [daily] = rows(store, "usage_daily")
    assert (daily["active_users"], daily["events"]) == (2, 3)


def test_jsonl_with_dotted_paths_epoch_time_and_hash_keys(sqlite_store, tmp_path):
    records = [
        {"name": "Login", "actor": {"id": 42}, "ts": 1772442311, "org": {"key": "acct_9"}},
        {"name": "Login", "actor": {"id": 42}, "ts": 1772442311000, "org": {"key": "acct_9"}},
        {"name": "Logout", "actor": {"id": 42}, "ts": 1772442400, "org": {"key": "acct_9"}},
    ]
    write_jsonl(tmp_path / "log" / "a.jsonl.gz", records)
    files = connector(
        tmp_path,
        path="log/*.jsonl.gz",
        columns={"event": "name", "user": "actor.id", "time": "ts", "account": "org.key"},
        time_format="epoch",
    )
    sync(sqlite_store, files)
    events = rows(sqlite_store, "usage_events", "occurred_at")
    # seconds and milliseconds of the same instant, no dedup key: the same hash, one row
    assert [(e["event"], e["user_id"], e["account_key"]) for e in events] == [
        ("Login", "42", "acct_9"),
        ("Logout", "42", "acct_9"),
    ]
    assert all(e["source_id"].startswith("h:") for e in events)


def test_a_path_that_matches_nothing_fails_the_stream_naming_the_setting(sqlite_store, tmp_path):
    summary = sync(sqlite_store, connector(tmp_path, path="nothing/*.csv"))
    assert summary.status == "failed"
    assert "connectors.files.path" in summary.error
    with pytest.raises(ConfigError, match="no file matches"):
        connector(tmp_path, path="nothing/*.csv").check()


def test_bad_time_format_is_a_settings_error():
    with pytest.raises(ValueError, match="strptime"):
        FilesSettings.model_validate({"path": "x", "time_format": "dd/mm/yyyy"})


# ---------------------------------------------------------------- the shared reader


def source(path: Path, name: str | None = None) -> SourceFile:
    return SourceFile(path, name or path.name, "sig")


def test_reader_counts_lines_across_chunks_and_skips_blank_ones(tmp_path, monkeypatch):
    import vitalsign.connectors.files.reader as reader

    monkeypatch.setattr(reader, "CHUNK", 5)
    stream = io.BytesIO(b'{"a":1}\n\n{"b":22}\r\n{"c":333}')
    assert list(iter_lines(stream, "x")) == [(1, b'{"a":1}'), (3, b'{"b":22}\r'), (4, b'{"c":333}')]


def test_reader_reads_concatenated_gzip_members_and_zip_archives(tmp_path):
    gz = tmp_path / "multi.json.gz"
    gz.write_bytes(gzip.compress(b"1\n2\n") + gzip.compress(b"3\n"))
    assert [line for _, _, line in iter_file_lines(source(gz))] == [b"1", b"2", b"3"]
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("1/1_2026-03-02_10#0.json.gz", gzip.compress(b"b\n"))
        zf.writestr("1/1_2026-03-02_9#0.json.gz", gzip.compress(b"a\n"))
    found = list(iter_file_lines(source(archive)))
    assert [(loc, n, line) for loc, n, line in found] == [
        ("export.zip!1/1_2026-03-02_10#0.json.gz", 1, b"b"),
        ("export.zip!1/1_2026-03-02_9#0.json.gz", 1, b"a"),
    ]


def test_reader_gunzips_members_across_tiny_reads_and_zero_padding(tmp_path, monkeypatch):
    import vitalsign.connectors.files.reader as reader

    monkeypatch.setattr(reader, "CHUNK", 5)  # output limit: zlib keeps an unconsumed tail
    monkeypatch.setattr(reader, "COMPRESSED_CHUNK", 7)  # members end mid-read
    body = [b'{"n": %d}' % i for i in range(300)]
    packed = gzip.compress(b"\n".join(body[:100]) + b"\n") + gzip.compress(b"\n".join(body[100:]))
    gz = tmp_path / "members.json.gz"
    gz.write_bytes(packed + b"\x00" * 16)  # zero padding after the last member, as gzip allows
    assert [line for _, _, line in iter_file_lines(source(gz))] == body


def test_reader_corrupt_gzip_names_the_file(tmp_path):
    packed = bytearray(gzip.compress(b"".join(b'{"n": %d}\n' % i for i in range(50))))
    packed[-6] ^= 0xFF  # the CRC-32 of the member's data
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(bytes(packed))
    with pytest.raises(SourceDataError, match=r"bad\.json\.gz: truncated or corrupt"):
        list(iter_file_lines(source(bad)))


def test_reader_truncated_gzip_yields_the_complete_lines_then_names_the_file(tmp_path):
    body = b"".join(b'{"n": %d}\n' % i for i in range(2000))
    packed = gzip.compress(body)
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(packed[: len(packed) // 2])
    got = []
    lines = iter_file_lines(source(cut))

    def drain() -> None:
        for _, number, line in lines:
            got.append((number, line))

    with pytest.raises(SourceDataError, match=r"cut\.json\.gz: truncated"):
        drain()
    assert got
    assert got == [(i + 1, b'{"n": %d}' % i) for i in range(len(got))]  # whole lines, in order


def test_key_and_time_helpers():
    assert getter("groups.company")({"groups": {"company": ["acct_1", "acct_2"]}}) == ["acct_1", "acct_2"]
    assert key_value(["acct_1", "acct_2"]) == "acct_1"
    assert key_value(42) == "42"
    assert key_value("") is None
    assert getter("a.b")({"a.b": 1}) == 1  # a dotted key that is one column
    assert parse_epoch(1772442311) == parse_epoch(1772442311000) == datetime(2026, 3, 2, 9, 5, 11)


@pytest.mark.parametrize(
    "raw",
    [
        "2026-03-02 09:00:00.250000",
        "2026-03-02T10:00:00+01:00",
        "2026-03-02T09:00:00Z",
        "yesterday",
        1767225600,
        ["2026-03-02"],
    ],
)
def test_the_mapper_inlines_iso_times_exactly_as_parse_iso_reads_them(raw):
    """ISO times are parsed inline in the compiled mapper (two calls fewer per event): the same
    naive UTC moment, the same quarantine reason, as parse_iso through the generic path."""
    from vitalsign.connectors.files.events import EventMapper, TimeError, parse_iso

    def through_parse_iso(value):
        return parse_iso(value)

    def mapper(parse):
        return EventMapper(event="e", user="u", time="t", parse_time=parse, account=None, dedup_keys=["id"])

    record = {"e": "Clicked", "u": "u1", "t": raw, "id": "k1"}
    inlined, generic = mapper(parse_iso)(record), mapper(through_parse_iso)(record)
    assert inlined == generic
    try:
        expected: datetime | str = parse_iso(raw)
    except TimeError as exc:
        expected = str(exc)
    if isinstance(expected, str):
        assert inlined == expected
    else:
        assert isinstance(inlined, dict)
        assert (
            inlined["occurred_at"]
            == expected
            == datetime(2026, 3, 2, 9, 0, expected.second, expected.microsecond)
        )
        assert inlined["occurred_at"].tzinfo is None

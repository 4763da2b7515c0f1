"""The usage_events writer on SQLite and PostgreSQL: dedup, rollups, groups, attribution."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from vitalsign.core.usage import write_usage_events
from vitalsign.testing.usage import rows

NOW = datetime(2026, 3, 10, tzinfo=UTC)


def event(
    sid: str, user: str | None, account: str | None, when: datetime, feature: str | None = None, **extra
):
    return {
        "source": "amp",
        "source_id": sid,
        "synced_at": NOW,
        "occurred_at": when,
        "event": "Clicked",
        "user_id": user,
        "account_key": account,
        "properties": {"feature": feature} if feature else None,
        **extra,
    }


def write(store, batch) -> int:
    with store.begin() as conn:
        return write_usage_events(store, conn, "usage_events", [dict(r) for r in batch])


def test_rollups_count_active_users_once_and_redeliveries_never(store):
    d1 = datetime(2026, 3, 2, 9, 0)
    batch = [
        event("e1", "u1", "acct", d1, "reports"),
        event("e2", "u1", "acct", d1 + timedelta(hours=1), "reports"),
        event("e3", "u2", "acct", d1 + timedelta(hours=2), "alerts"),
        event("e3", "u2", "acct", d1 + timedelta(hours=2), "alerts"),  # repeated in the batch
        event("e4", None, "acct", d1),  # anonymous: counted as an event, not as a user
        event("e5", "u3", None, d1 + timedelta(days=1)),  # no account: product-wide only
    ]
    assert write(store, batch) == 5
    # a later batch: two re-deliveries and one new event of a known user
    assert write(store, [batch[0], batch[2], event("e6", "u2", "acct", d1 + timedelta(hours=5))]) == 1
    assert write(store, batch) == 0
    daily = {
        (d["account_key"], d["day"]): (d["active_users"], d["events"]) for d in rows(store, "usage_daily")
    }
    assert daily == {("acct", date(2026, 3, 2)): (2, 5), ("", date(2026, 3, 3)): (1, 1)}
    users = {(u["account_key"], u["user_id"]): u["events"] for u in rows(store, "usage_user_daily")}
    assert users == {("acct", "u1"): 2, ("acct", "u2"): 2, ("acct", ""): 1, ("", "u3"): 1}
    features = {f["feature"]: f["events"] for f in rows(store, "usage_feature_daily")}
    assert features == {"reports": 2, "alerts": 1}
    assert len(rows(store, "usage_events")) == 6


def test_the_first_event_of_a_repeated_key_wins_whatever_the_key_order(store):
    """The SQLite writer inserts a batch in key order (time, dedup key); the first occurrence of
    a repeated key still wins."""
    when = datetime(2026, 3, 2, 9, 0)
    batch = [
        event("z9", "first", "acct", when),
        event("a1", "u1", "acct", when + timedelta(hours=1)),
        event("z9", "second", "acct", when),
        event("m5", "u2", "acct", when - timedelta(hours=1)),
    ]
    assert write(store, batch) == 3
    stored = {e["source_id"]: e["user_id"] for e in rows(store, "usage_events")}
    assert stored == {"z9": "first", "a1": "u1", "m5": "u2"}
    users = {u["user_id"]: u["events"] for u in rows(store, "usage_user_daily")}
    assert users == {"first": 1, "u1": 1, "u2": 1}


def test_an_event_is_its_dedup_key_at_its_time(store):
    """The same dedup key at another time is another event (Mixpanel's rule too); at the same
    time it is a re-delivery, in the batch or later, and loads once."""
    when = datetime(2026, 3, 2, 9, 0)
    assert write(store, [event("k", "u1", "acct", when), event("k", "u1", "acct", when)]) == 1
    assert write(store, [event("k", "u1", "acct", when + timedelta(seconds=1))]) == 1
    assert (
        write(store, [event("k", "u1", "acct", when), event("k", "u1", "acct", when + timedelta(seconds=1))])
        == 0
    )
    assert sorted(e["occurred_at"] for e in rows(store, "usage_events")) == [
        datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        datetime(2026, 3, 2, 9, 0, 1, tzinfo=UTC),
    ]
    [daily] = rows(store, "usage_daily")
    assert (daily["active_users"], daily["events"]) == (1, 2)


def test_timestamps_are_stored_in_utc_and_days_follow_utc(store):
    lisbon_summer = timezone(timedelta(hours=1))
    write(store, [event("tz", "u1", "acct", datetime(2026, 7, 1, 0, 30, tzinfo=lisbon_summer))])
    [stored] = rows(store, "usage_events")
    assert stored["occurred_at"] == datetime(2026, 6, 30, 23, 30, tzinfo=UTC)
    [daily] = rows(store, "usage_daily")
    assert daily["day"] == date(2026, 6, 30)


def test_stored_rows_read_back_like_any_other_row(store):
    write(store, [event("p", "u1", "acct", datetime(2026, 3, 2, 9, 0, 0), "reports")])
    [stored] = rows(store, "usage_events")
    assert stored["occurred_at"] == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert stored["synced_at"] == NOW
    assert stored["properties"] == {"feature": "reports"}
    assert stored["deleted"] is False


def test_every_account_key_gets_a_group_without_overwriting_a_named_one(store):
    with store.begin() as conn:
        store.upsert(
            conn,
            "source_accounts",
            [
                {
                    "source": "amp",
                    "source_id": "acct_1",
                    "kind": "group",
                    "name": "Acme",
                    "account_key": "acct_1",
                }
            ],
        )
    write(store, [event("a", "u1", "acct_1", NOW), event("b", "u2", "acct_2", NOW)])
    groups = {a["source_id"]: a for a in rows(store, "source_accounts")}
    assert groups["acct_1"]["name"] == "Acme"
    assert (groups["acct_2"]["kind"], groups["acct_2"]["account_key"], groups["acct_2"]["name"]) == (
        "group",
        "acct_2",
        None,
    )


def test_users_are_placed_by_same_source_membership_or_by_email(store):
    with store.begin() as conn:
        store.upsert(
            conn,
            "source_accounts",
            [{"source": "crm", "source_id": "co", "kind": "company", "account_key": "KEY-1"}],
        )
        store.upsert(
            conn,
            "contacts",
            [
                {"source": "amp", "source_id": "member", "source_account_id": "acct_9"},
                {"source": "amp", "source_id": "known", "email": "Bo@Corp.io"},
                {"source": "crm", "source_id": "c1", "email": "bo@corp.io", "source_account_id": "co"},
            ],
        )
    write(
        store,
        [
            event("m", "member", None, NOW),
            event("k", "known", None, NOW),
            event("e", "u77", None, NOW, email="BO@corp.io"),
            event("x", "stranger", None, NOW),
        ],
    )
    placed = {e["source_id"]: e["account_key"] for e in rows(store, "usage_events")}
    assert placed == {"m": "acct_9", "k": "KEY-1", "e": "KEY-1", "x": None}


@pytest.mark.parametrize("in_reader", [True, False], ids=["reader-process", "engine-process"])
def test_a_readied_batch_that_crossed_from_the_reader_process_writes_the_same(store, monkeypatch, in_reader):
    """What the preparer readies survives pickling (the reader process sends it); on SQLite only
    the encoded form travels (tuples for executemany from a reader process, one JSON payload
    for json_each in the engine's own), and a re-delivered event still counts once."""
    import pickle

    from vitalsign.core import reader_process
    from vitalsign.core.usage import prepare_usage_events

    monkeypatch.setattr(reader_process, "_in_reader", in_reader)

    d1 = datetime(2026, 3, 2, 9, 0)
    batch = [
        event("e1", "u1", "acct", d1, "reports"),
        event("e2", "u1", "acct", d1 + timedelta(hours=1), "reports"),
        event("e3", "u2", "acct", d1 + timedelta(hours=2), "alerts"),
        event("e3", "u1", "acct", d1 + timedelta(hours=2), "reports"),  # a repeat: the first wins
        event("e4", None, "acct", d1),
        event("e5", None, None, d1 + timedelta(days=1)),  # nobody to attribute: stays encoded
    ]
    assert write(store, [batch[1]]) == 1  # stored by an earlier batch
    dialect = store.engine.dialect.name
    crossed = pickle.loads(pickle.dumps(prepare_usage_events(dialect, [dict(r) for r in batch])))
    if dialect == "sqlite":
        assert len(crossed) == 0
        assert crossed.encoded is not None
        encoded = crossed.encoded["amp"]
        assert (len(encoded.rows), encoded.payload is None) == ((6, True) if in_reader else (0, False))
    with store.begin() as conn:
        assert write_usage_events(store, conn, "usage_events", crossed) == 4
    daily = {
        (d["account_key"], d["day"]): (d["active_users"], d["events"]) for d in rows(store, "usage_daily")
    }
    assert daily == {("acct", date(2026, 3, 2)): (2, 4), ("", date(2026, 3, 3)): (0, 1)}
    users = {(u["account_key"], u["user_id"]): u["events"] for u in rows(store, "usage_user_daily")}
    assert users == {("acct", "u1"): 2, ("acct", "u2"): 1, ("acct", ""): 1, ("", ""): 1}
    features = {f["feature"]: f["events"] for f in rows(store, "usage_feature_daily")}
    assert features == {"reports": 2, "alerts": 1}
    assert {g["source_id"] for g in rows(store, "source_accounts")} == {"acct"}

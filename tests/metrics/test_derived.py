"""Derived tables (metrics/derived.py): the stored MRR change points give exactly what the
per-query computation gives, are read only while their inputs are unchanged, and follow an
incremental sync once refreshed (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, select
from vitalsign.core import identity
from vitalsign.core.compute import compute_metrics
from vitalsign.core.metric import Month
from vitalsign.core.registry import metrics
from vitalsign.core.store import table
from vitalsign.metrics import derived, plugin
from vitalsign.metrics.timeline import record_rebuild

REVENUE = [*sorted(n for n, m in metrics().items() if m.family == "revenue"), "inactive_accounts"]


def at(year: int, month: int, day: int = 1) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def history(data: Any) -> None:
    """Linked and unlinked customers, two customers of one account, expansion, contraction,
    churn, reactivation, a plan swap and a subscription still running."""
    data.product("prod_basic", "Basic")
    data.product("prod_pro", "Pro")
    data.account(1, customer="cus_a", company="co_a", owner="Ann")
    data.account(2, customer="cus_b", company="co_b", owner="Bob")
    data.account(3, customer="cus_c")
    data.insert(
        "identity_links",
        [
            {
                "source": "stripe",
                "source_kind": "customer",
                "external_id": "cus_c2",
                "account_id": 3,
                "method": "key",
            }
        ],
    )
    data.timeline(
        data.mrr("cus_a", at(2025, 1, 5), at(2025, 4, 5), 100, product="prod_basic"),
        data.mrr("cus_a", at(2025, 4, 5), None, 150, product="prod_pro"),
        data.mrr("cus_b", at(2025, 2, 1), at(2025, 6, 1), 200, product="prod_pro"),
        data.mrr("cus_b", at(2025, 6, 1), at(2025, 8, 20), 120, product="prod_pro"),
        data.mrr("cus_b", at(2025, 11, 2), None, 90, product="prod_basic", subscription="sub_b2"),
        data.mrr("cus_c", at(2025, 3, 1), at(2025, 9, 1), 50, product="prod_basic"),
        data.mrr("cus_c2", at(2025, 9, 1), None, 50, product="prod_pro"),
        data.mrr("cus_x", at(2025, 2, 10), at(2025, 7, 10), 40, product="prod_basic"),
        data.mrr("cus_y", at(2025, 5, 1), None, 75, product="prod_pro"),
    )


def everything(data: Any, end: str = "2026-02") -> dict[Any, list[dict[str, Any]]]:
    out = {}
    for by in (None, "plan", "owner", "cohort"):
        names = [n for n in REVENUE if by is None or by in metrics()[n].segments]
        out[by] = compute_metrics(data.store, names, start=Month(2025, 1), end=Month.parse(end), by=by)
    return out


def stored_rows(data: Any) -> int:
    with data.store.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table("mrr_change_points"))).scalar_one())


def fresh(data: Any) -> bool:
    with data.store.connect() as conn:
        return derived.is_fresh(conn, derived.CHANGE_POINTS)


def test_stored_change_points_give_the_per_query_results(data):
    history(data)
    computed = {end: everything(data, end) for end in ("2025-07", "2026-02")}
    assert not fresh(data)
    assert derived.refresh(data.store)[derived.CHANGE_POINTS] == stored_rows(data)
    assert stored_rows(data) == 10
    assert fresh(data)
    for end, expected in computed.items():
        assert everything(data, end) == expected
    assert derived.refresh(data.store) == {}  # inputs unchanged: nothing rebuilt


def test_an_incremental_sync_makes_them_stale_until_refreshed(data):
    history(data)
    derived.refresh(data.store)
    before = data.value("mrr", "2026-01")
    data.timeline(data.mrr("cus_z", at(2025, 12, 3), None, 30))  # new rows, as a sync writes them
    assert not fresh(data)
    assert data.value("mrr", "2026-01") == before + 30  # computed from the inputs meanwhile
    expected = everything(data)
    plugin.vitalsign_after_sync(store=data.store, connector=None, config=SimpleNamespace(metrics={}))
    assert fresh(data)
    assert everything(data) == expected
    assert data.value("mrr", "2026-01") == before + 30


def test_a_relinked_customer_makes_them_stale(data):
    history(data)
    derived.refresh(data.store)
    assert data.value("paying_accounts", "2026-01") == 4  # accounts 1, 2, 3 and cus_y
    with data.store.begin() as conn:
        identity.link(conn, source="stripe", kind="customer", external_id="cus_y", account_id=1)
    assert not fresh(data)
    assert data.value("paying_accounts", "2026-01") == 3  # cus_y now counts for account 1
    expected = everything(data)
    derived.refresh(data.store)
    assert fresh(data)
    assert everything(data) == expected


def test_a_timeline_rebuild_makes_them_stale_even_with_the_same_ids_and_sums(data):
    """A rebuild that moves an interval (same rows, same amounts, other dates) changes no count or
    sum: the token it records is what tells the stored change points they are stale."""
    history(data)
    derived.refresh(data.store)
    june = data.value("paying_accounts", "2025-06")
    with data.store.begin() as conn:
        rt = table("revenue_timeline")
        conn.execute(  # cus_x churns two months earlier than it did
            rt.update().where(rt.c.source_account_id == "cus_x").values(valid_to=at(2025, 5, 10))
        )
        record_rebuild(conn)
    assert not fresh(data)
    assert data.value("paying_accounts", "2025-06") == june - 1
    expected = everything(data)
    derived.refresh(data.store)
    assert fresh(data)
    assert everything(data) == expected
    assert data.value("paying_accounts", "2025-06") == june - 1


def feature_use(data: Any, group: str, day: date, feature: str, events: int = 1) -> None:
    data.usage(group, day, ["u1"])
    data.insert(
        "usage_feature_daily",
        [{"source": "amplitude", "account_key": group, "day": day, "feature": feature, "events": events}],
    )


def features_history(data: Any) -> None:
    """Two groups and anonymous use; a February whose 30-day window starts in January."""
    feature_use(data, "g1", date(2025, 11, 3), "reports")
    feature_use(data, "g1", date(2025, 12, 1), "api", 3)
    feature_use(data, "g1", date(2026, 1, 30), "reports")
    feature_use(data, "g2", date(2025, 12, 20), "api")
    feature_use(data, "g2", date(2026, 2, 10), "api", 2)
    feature_use(data, "g2", date(2026, 3, 10), "sso")
    feature_use(data, "", date(2026, 2, 11), "export")


USAGE = ("feature_adoption", "time_to_milestone")


def usage_results(data: Any, **options: Any) -> list[dict[str, Any]]:
    return compute_metrics(data.store, USAGE, start=Month(2025, 10), end=Month(2026, 3), options=options)


def features_fresh(data: Any, **options: Any) -> bool:
    with data.store.connect() as conn:
        return derived.is_fresh(conn, derived.USAGE, options)


def stored_windows(data: Any) -> list[tuple[Any, ...]]:
    fw = table("usage_feature_windows")
    with data.store.connect() as conn:
        return [tuple(r) for r in conn.execute(select(fw).order_by(fw.c.idx, fw.c.feature, fw.c.account_key))]


def test_stored_feature_use_gives_the_per_query_results(data):
    features_history(data)
    expected = usage_results(data)
    assert not features_fresh(data)
    derived.refresh(data.store)
    assert features_fresh(data)
    # month, feature, group and the days from first use to the last use in the window: December's
    # window (Dec 2-31) misses g1's api of Dec 1; February's (Jan 30 - Feb 28) holds Jan 30
    assert [(r[0] % 12 + 1, r[1], r[3], r[4]) for r in stored_windows(data)] == [
        (11, "reports", "g1", 0),
        (12, "api", "g2", 0),
        (1, "reports", "g1", 88),
        (2, "api", "g2", 52),
        (2, "reports", "g1", 88),
        (3, "sso", "g2", 0),
    ]
    assert usage_results(data) == expected
    assert derived.refresh(data.store) == {}


def test_feature_use_follows_an_incremental_sync_and_the_window_option(data):
    features_history(data)
    derived.refresh(data.store)
    feature_use(data, "g3", date(2026, 3, 5), "sso")  # a later sync adds a group
    assert not features_fresh(data)
    expected = usage_results(data)
    [march_sso] = [r for r in expected if r["period"] == "2026-03" and r["feature"] == "sso"]
    assert march_sso["accounts"] == 2
    derived.refresh(data.store)
    assert features_fresh(data)
    assert usage_results(data) == expected
    assert not features_fresh(data, active_days=45)  # built for 30 days: other windows compute
    assert usage_results(data, active_days=45) != expected


def seats_history(data: Any) -> None:
    """Two accounts with seats (one adds seats, one churns), a third without, and their users."""
    data.insert(
        "prices",
        [
            {
                "source": "stripe",
                "source_id": "price_seat",
                "deleted": False,
                "usage_type": "licensed",
                "billing_scheme": "per_unit",
                "type": "recurring",
            }
        ],
    )
    data.account(1, customer="cus_a", group="g1")
    data.account(2, customer="cus_b", group="g2")
    data.account(3, group="g3")
    data.timeline(
        data.mrr("cus_a", at(2025, 11, 5), at(2026, 1, 5), 100, quantity=10, price="price_seat"),
        data.mrr("cus_a", at(2026, 1, 5), None, 150, quantity=15, price="price_seat"),
        data.mrr("cus_b", at(2025, 12, 1), at(2026, 2, 10), 40, quantity=4, price="price_seat"),
    )
    for day in (date(2025, 11, 20), date(2025, 12, 3), date(2026, 1, 30), date(2026, 2, 14)):
        data.usage("g1", day, ["u1", "u2", "u3"])
        data.usage("g2", day, ["v1"])
        data.usage("g3", day, ["w1", "w2"])
    data.usage("g1", date(2026, 2, 15), ["u4", ""])


SEATS = ("license_utilization", "mau", "wau", "dau", "stickiness")


def seat_results(data: Any, **options: Any) -> list[dict[str, Any]]:
    return compute_metrics(data.store, SEATS, start=Month(2025, 10), end=Month(2026, 3), options=options)


def test_stored_seats_and_group_users_give_the_per_query_results(data):
    seats_history(data)
    expected = seat_results(data)
    by_owner = compute_metrics(data.store, ["mau"], start=Month(2025, 10), end=Month(2026, 3), by="owner")
    derived.refresh(data.store)
    assert fresh(data)
    assert features_fresh(data)
    seats = table("seat_change_points")
    with data.store.connect() as conn:
        stored = [tuple(r) for r in conn.execute(select(seats).order_by(seats.c.account_id, seats.c.idx))]
    # account 1: 10 seats from November, 15 from January; account 2: 4 from December to February
    assert [(a, i % 12 + 1, d, level) for a, i, d, level, _ in stored] == [
        (1, 11, 10, 10),
        (1, 1, 5, 15),
        (2, 12, 4, 4),
        (2, 2, -4, 0),
    ]
    assert seat_results(data) == expected
    assert (
        compute_metrics(data.store, ["mau"], start=Month(2025, 10), end=Month(2026, 3), by="owner")
        == by_owner
    )
    [february] = [r for r in expected if r["metric"] == "license_utilization" and r["period"] == "2026-02"]
    assert (february["active_users"], february["seats"]) == (4, 15.0)  # u1-u4 of account 1 only
    data.usage("g2", date(2026, 3, 10), ["v1", "v2"])  # a later sync
    assert not features_fresh(data)
    expected = seat_results(data)
    derived.refresh(data.store)
    assert features_fresh(data)
    assert seat_results(data) == expected


def test_windows_after_the_last_day_of_usage_are_stored_too(data):
    # the last usage is on January 30: February's 30-day window (Jan 30 - Feb 28) still holds it
    seats_history(data)
    with data.store.begin() as conn:
        for name in ("usage_user_daily", "usage_daily"):
            conn.execute(table(name).delete().where(table(name).c.day > date(2026, 1, 30)))
    data.insert(
        "usage_feature_daily",
        [
            {
                "source": "amplitude",
                "account_key": "g2",
                "day": date(2026, 1, 30),
                "feature": "api",
                "events": 1,
            }
        ],
    )
    expected = seat_results(data) + usage_results(data)
    derived.refresh(data.store)
    assert features_fresh(data)
    assert seat_results(data) + usage_results(data) == expected
    [february] = [r for r in expected if r["metric"] == "license_utilization" and r["period"] == "2026-02"]
    assert february["active_users"] == 3  # u1-u3 of account 1, active on January 30
    [api] = [
        r
        for r in expected
        if r["metric"] == "feature_adoption" and r["period"] == "2026-02" and r["feature"] == "api"
    ]
    assert api["accounts"] == 1


def test_tables_built_by_another_version_of_the_derivation_are_stale(data, monkeypatch):
    history(data)
    derived.refresh(data.store)
    assert fresh(data)
    monkeypatch.setattr(derived, "VERSION", derived.VERSION + 1)
    assert not fresh(data)
    assert derived.CHANGE_POINTS in derived.refresh(data.store)
    assert fresh(data)

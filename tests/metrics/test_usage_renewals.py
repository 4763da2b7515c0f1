"""Usage and renewal metrics on hand-computed rollups and contracts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta


def at(year: int, month: int, day: int = 1, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def seat_price(data, price="price_seat"):
    data.insert(
        "prices",
        [
            {
                "source": "stripe",
                "source_id": price,
                "type": "recurring",
                "usage_type": "licensed",
                "billing_scheme": "per_unit",
            }
        ],
    )


def test_textbook_license_utilization_80(data):
    data.account(1, "Acme", customer="cus_a", group="grp_a")
    seat_price(data)
    data.timeline(data.mrr("cus_a", at(2026, 1, 1), None, 1000, quantity=100, price="price_seat"))
    users = [f"u{i}" for i in range(80)]
    data.usage("grp_a", date(2026, 3, 10), users[:50])
    data.usage("grp_a", date(2026, 3, 25), users[30:])
    data.usage("grp_a", date(2026, 2, 1), ["old_user"])  # outside the 30 days ending Mar 31
    [row] = data.run("license_utilization", "2026-03")
    assert (row["value"], row["active_users"], row["seats"], row["accounts"]) == (80.0, 80, 100.0, 1)
    assert data.by_segment("license_utilization", "2026-03", "owner") == {"(none)": 80.0}  # per-account path
    # a configured seat product list instead of licensed per-unit prices
    assert data.value("license_utilization", "2026-03", options={"seat_products": ["other"]}) is None


def test_dau_wau_mau_stickiness(data):
    data.account(1, group="g1", owner=None)
    # March 2026 (31 days): u1 every day, u2 on the last 7 days, u3 once on Mar 1
    for d in range(1, 32):
        users = ["u1"] + (["u2"] if d >= 25 else []) + (["u3"] if d == 1 else [])
        data.usage("g1", date(2026, 3, d), users)
    assert data.value("dau", "2026-03") == round((31 + 7 + 1) / 31, 2)
    assert data.value("wau", "2026-03") == 2
    assert data.value("mau", "2026-03") == 3
    [row] = data.run("stickiness", "2026-03")
    assert row["value"] == round(100 * round(39 / 31, 2) / 3, 2)


def test_anonymous_events_are_not_a_user(data):
    """Anonymous events roll up under user "" (core/usage.py): they must not count as a user."""
    data.account(1, group="g1", owner=None)
    data.usage("g1", date(2026, 3, 2), ["u1", ""])
    data.usage("g1", date(2026, 3, 3), [""])
    assert data.value("mau", "2026-03") == 1
    assert data.value("wau", "2026-03") == 0


def test_feature_adoption_and_milestone(data):
    data.account(1, group="g1")
    data.account(2, group="g2")
    data.usage("g1", date(2026, 1, 1), ["a"])
    data.usage("g2", date(2026, 3, 1), ["b"])
    data.usage("g1", date(2026, 3, 20), ["a"])
    data.usage("g2", date(2026, 3, 21), ["b"])
    features = [
        ("g1", date(2026, 1, 11), "reports", 3),
        ("g1", date(2026, 3, 20), "reports", 4),
        ("g1", date(2026, 3, 20), "export", 1),
        ("g2", date(2026, 3, 21), "reports", 10),
    ]
    data.insert(
        "usage_feature_daily",
        [
            {"source": "amplitude", "account_key": g, "day": d, "feature": f, "events": n}
            for g, d, f, n in features
        ],
    )
    rows = {
        r["feature"]: r
        for r in data.run("feature_adoption", "2026-03", options={"key_features": ["reports", "export"]})
    }
    assert rows["reports"]["accounts"] == 2
    assert rows["reports"]["adoption_rate"] == 100.0
    assert rows["reports"]["days_to_adopt"] == 20.0  # g2: Mar 1 -> Mar 21 (g1 adopted in January)
    assert rows["reports"]["weeks_of_use"] == round((68 / 7 + 0) / 2, 2)  # g1 Jan 11 -> Mar 20, g2 same day
    assert rows["export"]["accounts"] == 1
    assert rows["export"]["days_to_adopt"] == 78.0
    assert rows["(all)"]["breadth"] == 75.0  # g1 uses 2 of 2, g2 1 of 2
    options = {"milestone_feature": "reports", "milestone_count": 5}
    [jan, _feb, mar] = data.run("time_to_milestone", "2026-01", "2026-03", options=options)
    assert (jan["accounts"], mar["accounts"], mar["value"]) == (0, 2, 49.0)  # g1 78 days, g2 20: median 49


def test_super_users_and_inactive_accounts(data):
    data.account(1, "Busy", customer="c1", group="g1")
    data.account(2, "Asleep", customer="c2", group="g2")
    data.timeline(data.mrr("c1", at(2026, 1, 1), None, 100), data.mrr("c2", at(2026, 1, 1), None, 200))
    for i in range(20):
        data.usage("g1", date(2026, 4, 1) + timedelta(days=i), [f"u{j}" for j in range(5)], events=1)
    data.usage("g1", date(2026, 4, 25), ["power"], events=500)
    data.usage("g2", date(2026, 2, 27), ["x"])
    supers = data.run("super_users", "2026-04", options={"super_user_percentile": 90})
    assert [(r["user_id"], r["events"], r["account_id"]) for r in supers] == [("power", 500, 1)]
    [inactive] = data.run("inactive_accounts", "2026-04")
    assert (inactive["account_id"], inactive["account"], inactive["mrr"]) == (2, "Asleep", 200.0)
    assert (inactive["last_active"], inactive["days_inactive"]) == ("2026-02-27", 62)


def test_renewal_rate_and_net_dollar_renewal(data):
    # four annual contracts end in March 2026 (one row per term, as billed)
    term = {"months": 12}
    data.timeline(
        data.mrr("a", at(2025, 3, 10), at(2026, 3, 10), 100, **term),
        data.mrr("a", at(2026, 3, 10), None, 100, **term),  # renewed flat
        data.mrr("b", at(2025, 3, 15), at(2026, 3, 15), 100, **term),
        data.mrr("b", at(2026, 3, 15), None, 150, **term),  # renewed with expansion
        data.mrr("c", at(2025, 3, 20), at(2026, 3, 20), 100, **term),  # not renewed
        data.mrr("d", at(2024, 3, 5), None, 50, **term),  # one row over two terms: anniversary 2026-03
        data.mrr("m", at(2025, 3, 5), None, 999),  # monthly: never up for renewal
    )
    [rate] = data.run("renewal_rate", "2026-03")
    assert (rate["value"], rate["up_for_renewal"], rate["renewed"]) == (75.0, 4, 3)
    [ndr] = data.run("net_dollar_renewal_rate", "2026-03")
    assert (ndr["expiring_mrr"], ndr["renewed_mrr"], ndr["value"]) == (350.0, 300.0, 85.71)
    assert data.value("renewal_rate", "2025-03") == 100.0  # d's first anniversary
    assert data.value("renewal_rate", "2026-04") is None

"""Revenue metrics on hand-computed timelines (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest


def at(year: int, month: int, day: int = 1, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_textbook_customer_retention_rate_86(data):
    # 500 paying at the start of February, 70 lost, 50 acquired: 480 at the end -> (480 - 50) / 500
    rows = [data.mrr(f"c{i}", at(2026, 1, 10), at(2026, 2, 20) if i < 70 else None, 50) for i in range(500)]
    rows += [data.mrr(f"n{i}", at(2026, 2, 5), None, 50) for i in range(50)]
    data.timeline(*rows)
    [row] = data.run("customer_retention_rate", "2026-02")
    assert (row["start"], row["new"], row["end"]) == (500, 50, 480)
    assert row["value"] == 86.0
    assert data.value("paying_accounts", "2026-02") == 480


def test_textbook_logo_churn_10_percent(data):
    # 500 at the start of the month, 50 lost during it
    data.timeline(
        *[data.mrr(f"c{i}", at(2026, 1, 3), at(2026, 2, 14) if i < 50 else None, 20) for i in range(500)]
    )
    [row] = data.run("logo_churn_rate", "2026-02")
    assert (row["value"], row["churned"], row["start"]) == (10.0, 50, 500)


def test_textbook_ltv_1200(data):
    # ARPA $50 and a steady monthly logo churn of 1/24: 240 paying, 10 leave and 10 join every month
    rows, alive, n = [], [f"c{i}" for i in range(240)], 0
    ends: dict[str, object] = {}
    for month in range(6, 13):  # June..December 2025: churn and replace
        for customer in alive[:10]:
            ends[customer] = at(2025, month, 15)
        alive = alive[10:]
        for _ in range(10):
            n += 1
            alive.append(f"n{n}")
            rows.append(data.mrr(f"n{n}", at(2025, month, 5), None, 50))
    rows += [data.mrr(f"c{i}", at(2025, 4, 1), ends.get(f"c{i}"), 50) for i in range(240)]
    data.timeline(*rows)
    [row] = data.run("ltv", "2026-01", options={"gross_margin": 1.0})
    assert row["arpa"] == 50.0
    assert row["churn_rate"] == pytest.approx(100 / 24, abs=0.01)
    assert row["value"] == 1200.0
    assert data.value("ltv", "2026-01", options={"gross_margin": 0.8}) == 960.0


def scenario(data):
    """Five customers over four months (dollars of MRR at each month end):

    customer  Jan  Feb  Mar  Apr
    a         100  150  150  150    expansion in Feb (upgrade Basic -> Pro)
    b         200  200  120  120    contraction in Mar
    c          50    0    0   70    churn in Feb, reactivation in Apr
    d           -   80   80   80    new in Feb
    e          30   30    0    0    churn in Mar (cancels mid-month: counted at Mar end)
    """
    data.product("prod_basic", "Basic")
    data.product("prod_pro", "Pro")
    data.account(1, "A", customer="a", company="co_a", owner="Olivia")
    data.account(2, "B", customer="b", company="co_b", owner="Liam")
    data.timeline(
        data.mrr("a", at(2025, 12, 20), at(2026, 2, 10), 100, product="prod_basic"),
        data.mrr("a", at(2026, 2, 10), None, 150, product="prod_pro"),
        data.mrr("b", at(2026, 1, 2), at(2026, 3, 1), 200, product="prod_pro"),
        data.mrr("b", at(2026, 3, 1), None, 120, product="prod_pro"),
        data.mrr("c", at(2026, 1, 5), at(2026, 2, 5), 50, product="prod_basic"),
        data.mrr("c", at(2026, 4, 9), None, 70, product="prod_basic", subscription="sub_c2"),
        data.mrr("d", at(2026, 2, 28, 23, 59), None, 80, product="prod_basic"),
        data.mrr("e", at(2026, 1, 1), at(2026, 3, 17), 30),
    )


def test_mrr_arr_paying_arpa(data):
    scenario(data)
    assert [r["value"] for r in data.run("mrr", "2026-01", "2026-04")] == [380.0, 460.0, 350.0, 420.0]
    assert [r["value"] for r in data.run("arr", "2026-01", "2026-04")] == [4560.0, 5520.0, 4200.0, 5040.0]
    assert [r["value"] for r in data.run("paying_accounts", "2026-01", "2026-04")] == [4, 4, 3, 4]
    assert [r["value"] for r in data.run("arpa", "2026-01", "2026-04")] == [95.0, 115.0, 116.67, 105.0]


def test_mrr_movements_and_bridge(data):
    scenario(data)
    rows = data.run("mrr_movements", "2026-01", "2026-04")
    feb, mar, apr = rows[1], rows[2], rows[3]
    assert rows[0] == {
        "metric": "mrr_movements",
        "period": "2026-01",
        "new": 280.0,  # b, c, e start in January (a started in December)
        "expansion": 0.0,
        "contraction": 0.0,
        "churn": 0.0,
        "reactivation": 0.0,
        "net": 280.0,
    }
    assert (feb["new"], feb["expansion"], feb["churn"], feb["net"]) == (80.0, 50.0, 50.0, 80.0)
    assert (mar["contraction"], mar["churn"], mar["net"]) == (80.0, 30.0, -110.0)
    assert (apr["reactivation"], apr["new"], apr["net"]) == (70.0, 0.0, 70.0)
    mrr = [r["value"] for r in data.run("mrr", "2025-12", "2026-04")]
    for i, row in enumerate(rows, start=1):
        assert mrr[i] - mrr[i - 1] == pytest.approx(row["net"])


def test_churn_rates_and_quick_ratio(data):
    scenario(data)
    feb = {
        m: data.value(m, "2026-02") for m in ("logo_churn_rate", "gross_mrr_churn_rate", "net_mrr_churn_rate")
    }
    # Feb starts with 4 accounts and $380: c churns ($50), a expands ($50)
    assert feb == {"logo_churn_rate": 25.0, "gross_mrr_churn_rate": 13.16, "net_mrr_churn_rate": 0.0}
    # Mar starts with $460: b contracts $80, e churns $30 -> gross 110 / 460
    assert data.value("gross_mrr_churn_rate", "2026-03") == 23.91
    assert data.value("quick_ratio", "2026-02") == 2.6  # (80 + 50) / 50
    assert data.value("quick_ratio", "2026-04") is None  # nothing lost
    [retention] = data.run("customer_retention_rate", "2026-02")
    assert retention["value"] == 75.0  # (4 - 1 new) / 4


def test_segments_add_up_and_follow_accounts(data):
    scenario(data)
    by_plan = data.by_segment("mrr", "2026-03", "plan")
    # account plan = product of its latest item: e has none -> "(none)"
    assert by_plan == {"(none)": 0.0, "Basic": 80.0, "Pro": 270.0}
    by_owner = data.by_segment("mrr", "2026-03", "owner")
    assert by_owner == {"(none)": 80.0, "Liam": 120.0, "Olivia": 150.0}
    by_cohort = data.by_segment("paying_accounts", "2026-03", "cohort")
    assert by_cohort == {"2025-12": 1, "2026-01": 1, "2026-02": 1}
    moves = data.run("mrr_movements", "2026-02", by="plan")
    assert sum(r["net"] for r in moves) == 80.0
    pro = next(r for r in moves if r["segment"] == "Pro")
    assert pro["expansion"] == 50.0  # a's upgrade Basic -> Pro stays an expansion of account a


def test_nrr_and_grr(data):
    # a 100 -> 150, b 100 -> 50, c 100 -> 0, d new (not in the base)
    data.timeline(
        data.mrr("a", at(2025, 1, 5), at(2025, 6, 1), 100),
        data.mrr("a", at(2025, 6, 1), None, 150),
        data.mrr("b", at(2025, 1, 5), at(2025, 9, 1), 100),
        data.mrr("b", at(2025, 9, 1), None, 50),
        data.mrr("c", at(2025, 1, 5), at(2025, 11, 1), 100),
        data.mrr("d", at(2025, 5, 1), None, 500),
    )
    [nrr] = data.run("nrr", "2026-01")
    assert (nrr["value"], nrr["base_mrr"], nrr["current_mrr"]) == (66.67, 300.0, 200.0)
    assert data.value("grr", "2026-01") == 50.0  # (100 + 50 + 0) / 300


def test_unlinked_customers_are_their_own_accounts_and_linked_ones_merge(data):
    # two Stripe customers of account 7 switch subscriptions: no churn, no new
    data.account(7, "Seven", customer="x1")
    data.insert(
        "identity_links",
        [
            {
                "source": "stripe",
                "source_kind": "customer",
                "external_id": "x2",
                "account_id": 7,
                "method": "key",
            }
        ],
    )
    data.timeline(
        data.mrr("x1", at(2026, 1, 1), at(2026, 2, 10), 100),
        data.mrr("x2", at(2026, 2, 10), None, 100),
        data.mrr("solo", at(2026, 1, 1), None, 10),
    )
    assert data.value("paying_accounts", "2026-02") == 2
    [feb] = data.run("mrr_movements", "2026-02")
    assert (feb["churn"], feb["new"], feb["net"]) == (0.0, 0.0, 0.0)


def test_month_end_is_the_last_second(data):
    data.timeline(
        data.mrr("to_first_instant", at(2026, 1, 1), at(2026, 2, 1), 10),  # covers Jan 31 23:59:59
        data.mrr("to_last_second", at(2026, 1, 1), at(2026, 1, 31, 23, 59).replace(second=59), 20),
        data.mrr("within_month", at(2026, 1, 3), at(2026, 1, 20), 40),
    )
    assert data.value("mrr", "2026-01") == 10.0


def test_cohort_retention_table(data):
    data.timeline(
        data.mrr("a", at(2026, 1, 5), None, 100),
        data.mrr("b", at(2026, 1, 9), at(2026, 3, 9), 100),
        data.mrr("c", at(2026, 2, 1), None, 40),
    )
    rows = data.run("cohort_retention", "2026-01", "2026-03")
    jan = [
        (r["age"], r["accounts"], r["logo_retention"], r["revenue_retention"])
        for r in rows
        if r["cohort"] == "2026-01"
    ]
    assert jan == [(0, 2, 100.0, 100.0), (1, 2, 100.0, 100.0), (2, 1, 50.0, 50.0)]
    assert [r["period"] for r in rows if r["cohort"] == "2026-02"] == ["2026-02", "2026-03"]


def test_zero_decimal_currency_and_account_filter(data):
    data.account(1, customer="a")
    data.timeline(data.mrr("a", at(2026, 1, 1), None, 10), data.mrr("b", at(2026, 1, 1), None, 30))
    assert data.value("mrr", "2026-01", options={"currency": "jpy"}) == 4000.0
    assert data.value("mrr", "2026-01", account_id=1) == 10.0

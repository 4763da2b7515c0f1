"""The SQL views for analysts, read without vitalsign: plain sqlite3 on SQLite, plain SQL on
PostgreSQL, against rows inserted directly into the tables."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import insert, text
from vitalsign.core.store import Store, table, upsert
from vitalsign.core.views import create_views, view_names

Fetch = Callable[[str], list[dict[str, Any]]]


def put(conn: Any, table_name: str, rows: list[dict[str, Any]]) -> None:
    """Upsert whole rows: columns with a NOT NULL default get it when the row omits them."""
    defaults = {"deleted": False, "escalated": False}
    columns = table(table_name).columns.keys()
    upsert(conn, table_name, [{**{k: v for k, v in defaults.items() if k in columns}, **r} for r in rows])


def ts(text_: str) -> datetime:
    return datetime.fromisoformat(text_).replace(tzinfo=UTC)


def load(store: Store) -> None:
    """A small company: four Stripe customers (one unlinked), surveys, tickets, usage, health."""
    with store.begin() as conn:
        conn.execute(
            insert(table("accounts")),
            [
                {"id": 1, "name": "Acme", "domain": "acme.io", "key": "acme"},
                {"id": 2, "name": "Beta", "domain": "beta.io", "key": "beta"},
                {"id": 3, "name": "Gamma", "domain": "gamma.io", "key": "gamma"},
            ],
        )
        customers = [("cus_a", 1), ("cus_b", 2), ("cus_c", 3)]
        put(
            conn,
            "source_accounts",
            [{"source": "stripe", "source_id": c, "kind": "customer", "name": c} for c, _ in customers]
            + [{"source": "stripe", "source_id": "cus_x", "kind": "customer", "name": "Loner"}]
            + [{"source": "hubspot", "source_id": "co_a", "kind": "company", "owner_id": "o1"}]
            + [{"source": "amplitude", "source_id": "acme", "kind": "group", "account_key": "acme"}],
        )
        put(conn, "owners", [{"source": "hubspot", "source_id": "o1", "name": "Dana Owner"}])
        put(
            conn,
            "identity_links",
            [
                {
                    "source": "stripe",
                    "source_kind": "customer",
                    "external_id": c,
                    "account_id": a,
                    "method": "key",
                }
                for c, a in customers
            ]
            + [
                {
                    "source": "hubspot",
                    "source_kind": "company",
                    "external_id": "co_a",
                    "account_id": 1,
                    "method": "domain",
                },
                {
                    "source": "amplitude",
                    "source_kind": "group",
                    "external_id": "acme",
                    "account_id": 1,
                    "method": "key",
                },
            ],
        )

        def rev(customer: str, start: str, end: str | None, mrr: int) -> dict[str, Any]:
            return {
                "source": "stripe",
                "source_account_id": customer,
                "subscription_id": f"sub_{customer}",
                "valid_from": ts(start),
                "valid_to": ts(end) if end else None,
                "mrr": mrr,
                "currency": "usd",
            }

        conn.execute(
            insert(table("revenue_timeline")),
            [
                rev("cus_a", "2025-01-15", "2025-03-10", 10000),
                rev("cus_a", "2025-03-10", None, 15000),  # upgrade in March
                rev("cus_b", "2025-01-20", "2025-02-20", 5000),  # churns in February
                rev("cus_b", "2025-04-05", None, 5000),  # comes back in April
                rev("cus_c", "2025-02-01", "2025-04-01", 2000),  # paid through March
                rev("cus_x", "2025-01-01", None, 1000),  # never linked to an account
            ],
        )

        def answer(i: int, kind: str, score: float, lo: float, hi: float, **extra: Any) -> dict[str, Any]:
            return {
                "source": "hubspot",
                "source_id": f"s{i}",
                "kind": kind,
                "score": score,
                "scale_min": lo,
                "scale_max": hi,
                "submitted_at": ts("2025-03-12T10:00:00"),
                **extra,
            }

        put(
            conn,
            "survey_responses",
            [
                answer(1, "nps", 10, 0, 10),
                answer(2, "nps", 9, 0, 10),
                answer(3, "nps", 8, 0, 10),
                answer(4, "nps", 3, 0, 10),
                answer(5, "nps", 0, 0, 10),
                answer(6, "nps", 10, 0, 10, deleted=True),
                answer(7, "csat", 5, 1, 5),
                answer(8, "csat", 4, 1, 5),
                answer(9, "csat", 2, 1, 5),
                answer(10, "csat", 10, 1, 10),  # another scale, mapped onto 1-5
                answer(11, "ces", 7, 1, 7),
                answer(12, "ces", 5, 1, 7),
            ],
        )

        def ticket(
            i: int, created: str, first: str | None, closed: str | None, **extra: Any
        ) -> dict[str, Any]:
            return {
                "source": "hubspot",
                "source_id": f"t{i}",
                "created_at": ts(created),
                "first_response_at": ts(first) if first else None,
                "closed_at": ts(closed) if closed else None,
                **extra,
            }

        put(
            conn,
            "tickets",
            [
                ticket(1, "2025-03-01T00:00", "2025-03-01T02:00", "2025-03-02T00:00", agent_interactions=1),
                ticket(
                    2,
                    "2025-03-05T00:00",
                    "2025-03-05T04:00",
                    "2025-03-06T12:00",
                    agent_interactions=3,
                    escalated=True,
                ),
                ticket(3, "2025-03-10T00:00", "2025-03-10T09:00", None),
                ticket(4, "2025-03-11T00:00", "2025-03-11T01:00", None, deleted=True),
            ],
        )
        put(
            conn,
            "usage_user_daily",
            [
                {
                    "source": "amplitude",
                    "account_key": "acme",
                    "day": date(2025, 3, 3),
                    "user_id": "u1",
                    "events": 3,
                },
                {
                    "source": "amplitude",
                    "account_key": "acme",
                    "day": date(2025, 3, 3),
                    "user_id": "u2",
                    "events": 1,
                },
                {
                    "source": "amplitude",
                    "account_key": "acme",
                    "day": date(2025, 3, 4),
                    "user_id": "u1",
                    "events": 2,
                },
                {
                    "source": "amplitude",
                    "account_key": "beta",
                    "day": date(2025, 3, 4),
                    "user_id": "u3",
                    "events": 1,
                },
            ],
        )
        put(
            conn,
            "usage_daily",
            [
                {
                    "source": "amplitude",
                    "account_key": "acme",
                    "day": date(2025, 3, 3),
                    "active_users": 2,
                    "events": 4,
                },
                {
                    "source": "amplitude",
                    "account_key": "acme",
                    "day": date(2025, 3, 4),
                    "active_users": 1,
                    "events": 2,
                },
                {
                    "source": "amplitude",
                    "account_key": "beta",
                    "day": date(2025, 3, 4),
                    "active_users": 1,
                    "events": 1,
                },
            ],
        )
        put(
            conn,
            "health_scores",
            [
                {"account_id": 1, "period": "2025-03", "score": 80.0, "band": "green"},
                {
                    "account_id": 1,
                    "period": "2025-04",
                    "score": 45.0,
                    "band": "red",
                    "components": [{"name": "usage_trend", "score": 10.0}],
                },
                {"account_id": 2, "period": "2025-04", "score": 60.0, "band": "yellow"},
            ],
        )


def check_views(fetch: Fetch) -> None:
    def by(rows: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
        return {r[key]: r for r in rows}

    def num(row: dict[str, Any], *columns: str) -> list[float | None]:
        return [None if row[c] is None else float(row[c]) for c in columns]

    mrr = by(fetch("SELECT * FROM v_mrr_monthly"), "month")
    cols = (
        "mrr",
        "paying_accounts",
        "new_mrr",
        "expansion_mrr",
        "contraction_mrr",
        "churned_mrr",
        "reactivation_mrr",
        "net_new_mrr",
    )
    assert num(mrr["2025-01"], *cols) == [160.0, 3, 160.0, 0, 0, 0, 0, 160.0]
    assert num(mrr["2025-02"], *cols) == [130.0, 3, 20.0, 0, 0, 50.0, 0, -30.0]
    assert num(mrr["2025-03"], *cols) == [180.0, 3, 0, 50.0, 0, 0, 0, 50.0]
    assert num(mrr["2025-04"], *cols) == [210.0, 3, 0, 0, 0, 20.0, 50.0, 30.0]
    assert float(mrr["2025-04"]["arr"]) == 2520.0
    assert float(mrr["2025-04"]["arpa"]) == 70.0
    assert (mrr["2025-04"]["churned_accounts"], mrr["2025-04"]["reactivated_accounts"]) == (1, 1)
    months = sorted(mrr)
    assert months[-1] >= datetime.now(UTC).strftime("%Y-%m")  # runs up to the current month
    assert float(mrr[months[-1]]["mrr"]) == 210.0

    account = fetch(
        "SELECT * FROM v_account_mrr WHERE month IN ('2025-03', '2025-04') ORDER BY month, account_ref"
    )
    moves = {
        (r["month"], r["account_ref"]): (float(r["mrr"]), r["movement"], r["account_name"]) for r in account
    }
    assert moves[("2025-03", "account:1")] == (150.0, "expansion", "Acme")
    assert moves[("2025-04", "account:2")] == (50.0, "reactivation", "Beta")
    assert moves[("2025-04", "account:3")] == (0.0, "churn", "Gamma")
    assert moves[("2025-04", "stripe:cus_x")] == (10.0, "flat", None)

    nps = by(fetch("SELECT * FROM v_nps_monthly"), "month")["2025-03"]
    assert num(nps, "responses", "promoters", "passives", "detractors", "nps") == [5, 2, 1, 2, 0.0]

    sat = by(fetch("SELECT * FROM v_satisfaction_monthly"), "month")["2025-03"]
    assert num(sat, "csat_responses", "csat", "ces_responses", "ces") == [4, 75.0, 2, 6.0]

    support = by(fetch("SELECT * FROM v_support_monthly"), "month")["2025-03"]
    assert num(
        support,
        "tickets",
        "escalations",
        "median_first_response_hours",
        "resolved",
        "median_resolution_hours",
        "first_contact_resolution_rate",
    ) == [3, 1, 4.0, 2, 30.0, 50.0]

    usage = fetch("SELECT * FROM v_usage_daily ORDER BY day, account_key")
    assert [(str(r["day"]), r["account_key"], r["account_id"], r["active_users"]) for r in usage] == [
        ("2025-03-03", "acme", 1, 2),
        ("2025-03-04", "acme", 1, 1),
        ("2025-03-04", "beta", 2, 1),
    ]
    monthly = by(fetch("SELECT * FROM v_usage_monthly"), "month")["2025-03"]
    assert num(monthly, "mau", "avg_dau", "stickiness", "active_accounts", "events") == [3, 2.0, 66.7, 2, 7]

    latest = by(fetch("SELECT * FROM v_health_latest"), "account_id")
    assert (latest[1]["period"], float(latest[1]["score"]), latest[1]["band"]) == ("2025-04", 45.0, "red")
    assert latest[2]["band"] == "yellow"
    bands = by(fetch("SELECT * FROM v_health_monthly"), "month")["2025-04"]
    assert num(bands, "accounts", "red", "yellow", "green", "average_score") == [2, 1, 1, 0, 52.5]

    accounts = by(fetch("SELECT * FROM v_accounts"), "account_id")
    acme = accounts[1]
    assert acme["sources"] == "amplitude,hubspot,stripe"  # sorted
    assert (acme["linked_records"], acme["owner"], float(acme["mrr"]), acme["health_band"]) == (
        3,
        "Dana Owner",
        150.0,
        "red",
    )
    assert float(accounts[3]["mrr"]) == 0.0  # churned


def test_views_read_with_plain_sqlite3(sqlite_store: Store) -> None:
    load(sqlite_store)
    path = sqlite_store.url.database
    assert path is not None
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    try:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'view'")}
        assert names == set(view_names())
        check_views(lambda sql: [dict(r) for r in db.execute(sql)])
    finally:
        db.close()


def test_views_on_every_dialect(store: Store) -> None:
    load(store)

    def fetch(sql: str) -> list[dict[str, Any]]:
        with store.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(sql))]

    check_views(fetch)


def test_upgrade_keeps_views_and_rewrites_only_on_change(store: Store) -> None:
    with store.begin() as conn:
        assert create_views(conn) is False  # upgrade() already made them current
        conn.execute(text("DROP VIEW v_nps_monthly"))
    store.upgrade()
    with store.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM v_nps_monthly")).scalar_one() == 0


@pytest.mark.parametrize("name", view_names())
def test_every_view_is_documented(name: str) -> None:
    from pathlib import Path

    schema = Path(__file__).resolve().parents[2] / "docs" / "schema.md"
    assert f"`{name}`" in schema.read_text(encoding="utf-8")


def test_views_agree_with_the_metrics_layer(store: Store) -> None:
    """The views are for reading without vitalsign; they must not tell another story."""
    from vitalsign.core.compute import compute_metrics
    from vitalsign.core.metric import Month

    load(store)
    start, end = Month(2025, 1), Month(2025, 4)
    with store.connect() as conn:
        view = {
            r.month: r
            for r in conn.execute(
                text("SELECT * FROM v_mrr_monthly WHERE month BETWEEN '2025-01' AND '2025-04'")
            )
        }
    mrr = compute_metrics(store, ["mrr", "paying_accounts", "mrr_movements"], start=start, end=end)
    for row in mrr:
        v = view[row["period"]]
        if row["metric"] == "mrr":
            assert float(v.mrr) == pytest.approx(row["value"]), row
        elif row["metric"] == "paying_accounts":
            assert v.paying_accounts == row["value"], row
        else:
            got = [
                float(x)
                for x in (
                    v.new_mrr,
                    v.expansion_mrr,
                    v.contraction_mrr,
                    v.churned_mrr,
                    v.reactivation_mrr,
                    v.net_new_mrr,
                )
            ]
            want = [row[c] for c in ("new", "expansion", "contraction", "churn", "reactivation", "net")]
            assert got == pytest.approx(want), row
    nps = compute_metrics(store, ["nps", "csat", "ces"], start=Month(2025, 3), end=Month(2025, 3))
    values = {r["metric"]: r["value"] for r in nps}
    assert values == pytest.approx({"nps": 0.0, "csat": 75.0, "ces": 6.0})


def test_an_analysts_view_on_ours_survives_a_rewrite(store: Store) -> None:
    with store.begin() as conn:
        conn.execute(text("CREATE VIEW my_mrr AS SELECT month, mrr FROM v_mrr_monthly"))
        # make vitalsign believe its views are out of date (a new version with other SQL)
        if store.dialect == "postgresql":
            conn.execute(text("COMMENT ON VIEW v_mrr_monthly IS 'vitalsign stale'"))
        else:
            conn.execute(text("DROP VIEW v_nps_monthly"))
            conn.execute(text("CREATE VIEW v_nps_monthly AS SELECT 1 AS stale"))
    load(store)
    with store.begin() as conn:
        assert create_views(conn) is True
    with store.connect() as conn:
        rows = dict(conn.execute(text("SELECT month, mrr FROM my_mrr WHERE month = '2025-04'")).all())
        assert float(rows["2025-04"]) == 210.0
        assert conn.execute(text("SELECT count(*) FROM v_nps_monthly")).scalar_one() == 1


def test_a_view_that_blocks_a_column_change_is_named(store: Store) -> None:
    if store.dialect != "postgresql":
        pytest.skip("SQLite does not track what depends on a view")
    from vitalsign.core.errors import StoreError

    with store.begin() as conn:
        conn.execute(text("DROP VIEW v_nps_monthly"))
        conn.execute(text("CREATE VIEW v_nps_monthly AS SELECT 1 AS stale"))
        conn.execute(text("CREATE VIEW mine AS SELECT stale FROM v_nps_monthly"))
    with pytest.raises(StoreError, match="cannot replace view v_nps_monthly: other objects depend on it"):
        store.upgrade()

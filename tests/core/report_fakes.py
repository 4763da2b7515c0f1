"""Fixed metrics and health rows for the report tests: the report is tested on its own, against
known numbers, whatever state the real metrics layer is in (its plugin is disabled in these tests).

Loaded by path from the report tests, like the toy connector.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert
from vitalsign.core import hookimpl
from vitalsign.core.metric import Metric, MetricQuery, Month
from vitalsign.core.store import Store, table, upsert

BASE = Month(2025, 1)
MONTH = Month(2025, 6)  # the report's month in these tests


def _index(month: Month) -> int:
    return (month.year - BASE.year) * 12 + month.month - BASE.month


class Fixed(Metric):
    """A metric whose value is ``base + step * months since 2025-01`` (from 2025-01 on)."""

    def __init__(self, name: str, base: float, step: float, unit: str = "", **columns: float) -> None:
        self.name = name
        self.unit = unit
        self.base, self.step, self.extra = base, step, columns

    def compute(self, conn: Connection, query: MetricQuery) -> list[dict[str, Any]]:
        rows = []
        for month in query.months:
            i = _index(month)
            if i < 0:
                continue
            row: dict[str, Any] = {"period": str(month), "value": self.base + self.step * i}
            row.update({k: v * (i + 1) for k, v in self.extra.items()})
            rows.append(row)
        return rows


class Movements(Metric):
    name = "mrr_movements"
    columns = ("new", "expansion", "contraction", "churn", "reactivation", "net")

    def compute(self, conn: Connection, query: MetricQuery) -> list[dict[str, Any]]:
        rows = []
        for month in query.months:
            if _index(month) < 0:
                continue
            row = {"new": 150.0, "expansion": 40.0, "contraction": 30.0, "churn": 70.0, "reactivation": 10.0}
            row["net"] = (
                row["new"] + row["expansion"] + row["reactivation"] - row["contraction"] - row["churn"]
            )
            rows.append({"period": str(month), **row})
        return rows


class Broken(Metric):
    name = "ces"

    def compute(self, conn: Connection, query: MetricQuery) -> list[dict[str, Any]]:
        raise RuntimeError("ces exploded on purpose")


class FakeMetricsPlugin:
    """Registers every headline metric except ``ltv`` (so it shows as not installed)."""

    @hookimpl
    def vitalsign_metrics(self) -> list[Metric]:
        return [
            Fixed("mrr", 1000.0, 100.0, "money"),
            Fixed("arr", 12000.0, 1200.0, "money"),
            Fixed("paying_accounts", 20, 1, "count"),
            Fixed("arpa", 50.0, 2.5, "money"),
            Fixed("logo_churn_rate", 5.0, -0.5, "percent"),
            Fixed("gross_mrr_churn_rate", 4.0, 0.2, "percent"),
            Fixed("net_mrr_churn_rate", 1.0, -0.1, "percent"),
            Fixed("nrr", 104.0, 1.0, "percent"),
            Fixed("grr", 93.0, 0.5, "percent"),
            Fixed("quick_ratio", 2.0, 0.1, "ratio"),
            Movements(),
            Fixed("nps", 20.0, 3.0, "score", responses=10),
            Fixed("csat", 80.0, 1.0, "percent"),
            Broken(),
            Fixed("ticket_volume", 40, 2, "count"),
            Fixed("first_response_time", 5.0, -0.5, "hours", p90=4.0),
            Fixed("resolution_time", 30.0, -1.0, "hours", p90=12.0),
            Fixed("first_contact_resolution_rate", 60.0, 1.0, "percent"),
            Fixed("escalations", 3, 0, "count"),
            Fixed("dau", 30, 2, "count"),
            Fixed("wau", 80, 3, "count"),
            Fixed("mau", 120, 4, "count"),
            Fixed("stickiness", 25.0, 0.5, "percent"),
            Fixed("license_utilization", 60.0, 1.5, "percent"),
        ]


def load_company(store: Store, *, risky_name: str = 'Acme <Corp> & "Sons" [bold]') -> None:
    """Accounts, a small revenue timeline (for cohorts) and health history (for the at-risk list)."""
    with store.begin() as conn:
        conn.execute(
            insert(table("accounts")),
            [
                {"id": i, "name": risky_name if i == 1 else f"Account {i}", "key": f"k{i}"}
                for i in range(1, 7)
            ],
        )
        upsert(
            conn,
            "identity_links",
            [
                {
                    "source": "stripe",
                    "source_kind": "customer",
                    "external_id": f"cus_{i}",
                    "account_id": i,
                    "method": "key",
                }
                for i in range(1, 7)
            ],
        )
        starts = {
            1: "2025-01-10",
            2: "2025-01-20",
            3: "2025-02-05",
            4: "2025-02-06",
            5: "2025-03-03",
            6: "2025-03-04",
        }
        ends = {2: "2025-03-15", 4: "2025-05-01"}
        conn.execute(
            insert(table("revenue_timeline")),
            [
                {
                    "source": "stripe",
                    "source_account_id": f"cus_{i}",
                    "subscription_id": f"sub_{i}",
                    "valid_from": datetime.fromisoformat(start).replace(tzinfo=UTC),
                    "valid_to": datetime.fromisoformat(ends[i]).replace(tzinfo=UTC) if i in ends else None,
                    "mrr": 10000 * i,
                    "currency": "usd",
                }
                for i, start in starts.items()
            ],
        )
        components = [
            {
                "name": "usage_trend",
                "score": 12.0,
                "weight": 25,
                "detail": "active users down 60% in 30 days",
            },
            {"name": "nps", "score": 30.0, "weight": 15, "detail": "last NPS answer 3 <detractor>"},
            {"name": "billing", "score": 90.0, "weight": 15, "detail": "paid on time"},
            {"name": "support", "score": 40.0, "weight": 15, "detail": "4 escalated tickets"},
        ]
        health = []
        for month in Month(2025, 1).until(MONTH):
            for account in range(1, 7):
                score = {1: 35.0, 2: 45.0, 3: 42.0}.get(account, 85.0)
                band = "red" if score < 50 else "yellow" if score < 75 else "green"
                health.append(
                    {
                        "account_id": account,
                        "period": str(month),
                        "score": score,
                        "band": band,
                        "components": components if account == 1 else [],
                    }
                )
        upsert(conn, "health_scores", health)

"""Helpers for metric tests: store rows built directly (no connector), hand-computable."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from vitalsign.core.compute import compute_metrics
from vitalsign.core.metric import Month
from vitalsign.core.store import Store, table


def at(year: int, month: int, day: int = 1, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


DEFAULTS: dict[str, dict[str, Any]] = {
    "revenue_timeline": {
        "source": "stripe",
        "subscription_item_id": None,
        "price_id": None,
        "product_id": None,
        "quantity": 1,
        "interval_months": 1,
        "valid_to": None,
        "currency": "usd",
        "original_currency": None,
        "original_mrr": None,
    },
    "survey_responses": {
        "source": "hubspot",
        "scale_min": 0,
        "scale_max": 10,
        "contact_id": None,
        "ticket_id": None,
        "source_account_id": None,
    },
    "tickets": {
        "source": "hubspot",
        "source_account_id": None,
        "first_response_at": None,
        "closed_at": None,
        "agent_interactions": None,
        "escalated": False,
        "status": None,
    },
}


class Data:
    """Writes rows straight into the store and runs metrics on it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._ids = 0

    def insert(self, name: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        defaults = DEFAULTS.get(name, {})
        full = [{**defaults, **row} for row in rows]
        keys = set().union(*(r.keys() for r in full))
        full = [{k: r.get(k) for k in keys} for r in full]
        with self.store.begin() as conn:
            conn.execute(table(name).insert(), full)

    def next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids}"

    def mrr(
        self,
        customer: str,
        start: datetime,
        end: datetime | None,
        dollars: float,
        *,
        product: str | None = None,
        subscription: str | None = None,
        months: float = 1,
        quantity: int = 1,
        price: str | None = None,
    ) -> dict[str, Any]:
        """One revenue timeline row (not yet inserted)."""
        return {
            "source_account_id": customer,
            "subscription_id": subscription or f"sub_{customer}",
            "valid_from": start,
            "valid_to": end,
            "mrr": round(dollars * 100),
            "product_id": product,
            "interval_months": months,
            "quantity": quantity,
            "price_id": price,
        }

    def timeline(self, *rows: dict[str, Any]) -> None:
        self.insert("revenue_timeline", list(rows))

    def account(
        self,
        account_id: int,
        name: str | None = None,
        *,
        customer: str | None = None,
        company: str | None = None,
        group: str | None = None,
        owner: str | None = None,
    ) -> None:
        """An account and its links (Stripe customer, HubSpot company with owner, analytics group)."""
        self.insert("accounts", [{"id": account_id, "name": name or f"acct{account_id}"}])
        links = []
        for source, kind, external in (
            ("stripe", "customer", customer),
            ("hubspot", "company", company),
            ("amplitude", "group", group),
        ):
            if external:
                links.append(
                    {"source": source, "source_kind": kind, "external_id": external, "account_id": account_id}
                )
        self.insert("identity_links", [{**link, "method": "key"} for link in links])
        if company:
            owner_id = None
            if owner:
                owner_id = f"own_{owner}"
                with self.store.begin() as conn:
                    exists = conn.execute(
                        table("owners").select().where(table("owners").c.source_id == owner_id)
                    ).first()
                if not exists:
                    self.insert("owners", [{"source": "hubspot", "source_id": owner_id, "name": owner}])
            self.insert(
                "source_accounts",
                [{"source": "hubspot", "source_id": company, "kind": "company", "owner_id": owner_id}],
            )

    def product(self, product_id: str, name: str) -> None:
        self.insert("products", [{"source": "stripe", "source_id": product_id, "name": name}])

    def usage(
        self, group: str, day: date, users: list[str], events: int = 5, source: str = "amplitude"
    ) -> None:
        """One day of a group's usage in the rollups, ``events`` per user."""
        self.insert(
            "usage_user_daily",
            [
                {"source": source, "account_key": group, "day": day, "user_id": u, "events": events}
                for u in users
            ],
        )
        self.insert(
            "usage_daily",
            [
                {
                    "source": source,
                    "account_key": group,
                    "day": day,
                    "active_users": len(users),
                    "events": events * len(users),
                }
            ],
        )

    def run(
        self,
        name: str,
        start: str,
        end: str | None = None,
        *,
        by: str | None = None,
        options: dict[str, Any] | None = None,
        account_id: int | None = None,
    ) -> list[dict[str, Any]]:
        return compute_metrics(
            self.store,
            [name],
            start=Month.parse(start),
            end=Month.parse(end or start),
            by=by,
            options=options or {},
            account_id=account_id,
        )

    def value(self, name: str, month: str, column: str = "value", **kwargs: Any) -> Any:
        [row] = self.run(name, month, **kwargs)
        return row[column]

    def by_segment(
        self, name: str, month: str, by: str, column: str = "value", **kwargs: Any
    ) -> dict[str, Any]:
        return {r["segment"]: r[column] for r in self.run(name, month, by=by, **kwargs)}


@pytest.fixture
def data(store: Store) -> Data:
    return Data(store)


@pytest.fixture
def sqlite_data(sqlite_store: Store) -> Data:
    return Data(sqlite_store)

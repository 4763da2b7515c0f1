"""A Stripe sandbox for tests and the demo: the fake Stripe, the real connector, one store.

``StripeSandbox`` wires :class:`~vitalsign.testing.fakes.stripe.FakeStripe` behind respx (so the
official ``stripe`` client really sends its requests, through httpx, to the fake), builds
connectors whose clock and retry sleeps are the sandbox's (no real waiting), runs syncs through
the real :class:`~vitalsign.core.sync.SyncEngine` (which rebuilds the revenue timeline) and reads
MRR the way the metrics layer does::

    with StripeSandbox(store) as box:
        cus = box.fake.create_customer(email="ops@acme.io")
        ...
        summary = box.sync()
        assert box.mrr_at("2025-03-31T23:59:59") == 8000
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, or_, select
from vitalsign.core.config import Config
from vitalsign.core.store import Store, table
from vitalsign.core.sync import RunSummary, SyncEngine

from .fakes.stripe import FakeStripe, fake_api_key, ts

__all__ = ["BASE_URL", "FakeClock", "StripeSandbox"]

BASE_URL = "https://api.stripe.test"
API_KEY = fake_api_key("Sandbox")


class FakeClock:
    """A settable clock shared by the fake (event stamps) and the connector (cursor age)."""

    def __init__(self, now: int | str) -> None:
        self.now = ts(now) if isinstance(now, str) else now

    def __call__(self) -> float:
        return float(self.now)

    def advance(self, *, days: float = 0, seconds: float = 0) -> None:
        self.now += int(days * 86_400 + seconds)


class StripeSandbox:
    def __init__(
        self,
        store: Store,
        *,
        now: int | str = "2026-06-01",
        name: str = "stripe",
        settings: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.clock = FakeClock(now)
        self.fake = FakeStripe(API_KEY, clock=self.clock)
        self.name = name
        self.settings: dict[str, Any] = {
            "api_key": API_KEY,
            "base_url": BASE_URL,
            "account_key": "metadata.account_id",
            "rate_limit": None,
            "max_retries": 3,
            "retry_backoff": 0.25,
            # the tests read the fake's request log, its clock and the sleeps, which a reader
            # process would keep to itself; read_in_process=True runs the streams as in production
            "read_in_process": False,
            **(settings or {}),
        }
        self.metrics: dict[str, Any] = dict(metrics or {})
        self.sleeps: list[float] = []
        self._mock: Any = None

    def __enter__(self) -> StripeSandbox:
        import respx

        self._mock = respx.mock(assert_all_called=False)
        router = self._mock.__enter__()
        router.route(host="api.stripe.test").mock(side_effect=self.fake.httpx_handler)
        return self

    def __exit__(self, *exc: object) -> None:
        self._mock.__exit__(*exc)

    def connector(self, **overrides: Any) -> Any:
        from vitalsign.connectors.stripe.connector import StripeConnector
        from vitalsign.connectors.stripe.settings import StripeSettings

        settings = StripeSettings.model_validate({**self.settings, **overrides})
        return StripeConnector(
            self.name, settings, options={"clock": self.clock, "sleep": self.sleeps.append}
        )

    def config(self) -> Config:
        return Config(path=None, store_url=self.store.display_url, metrics=self.metrics)

    def sync(self, **overrides: Any) -> RunSummary:
        connector = self.connector(**overrides)
        try:
            return SyncEngine(self.store, self.config()).sync_connector(connector)
        finally:
            connector.close()

    # ---------------------------------------------------------------- reading the store

    def mrr_at(self, when: int | str, *, subscription: str | None = None, account: str | None = None) -> int:
        """SUM(mrr) of the timeline rows covering the instant ``when`` (the metrics' reading)."""
        at = ts(when) if isinstance(when, str) else when
        from datetime import UTC, datetime

        moment = datetime.fromtimestamp(at, UTC)
        rt = table("revenue_timeline")
        stmt = select(func.coalesce(func.sum(rt.c.mrr), 0)).where(
            rt.c.source == self.name,
            rt.c.valid_from <= moment,
            or_(rt.c.valid_to.is_(None), rt.c.valid_to > moment),
        )
        if subscription is not None:
            stmt = stmt.where(rt.c.subscription_id == subscription)
        if account is not None:
            stmt = stmt.where(rt.c.source_account_id == account)
        with self.store.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def month_ends(self, first: str, last: str, **filters: Any) -> dict[str, int]:
        """``{"2025-01": mrr at 2025-01-31T23:59:59, ...}`` from month ``first`` to ``last``."""
        out = {}
        year, month = map(int, first.split("-"))
        while f"{year:04d}-{month:02d}" <= last:
            nxt_year, nxt_month = (year + 1, 1) if month == 12 else (year, month + 1)
            end = ts(f"{nxt_year:04d}-{nxt_month:02d}-01") - 1
            out[f"{year:04d}-{month:02d}"] = self.mrr_at(end, **filters)
            year, month = nxt_year, nxt_month
        return out

    def rows(self, table_name: str, **where: Any) -> list[Any]:
        tbl = table(table_name)
        stmt = select(tbl)
        for key, value in where.items():
            stmt = stmt.where(tbl.c[key] == value)
        with self.store.connect() as conn:
            return list(conn.execute(stmt))


@contextmanager
def sandbox(store: Store, **kwargs: Any) -> Iterator[StripeSandbox]:
    with StripeSandbox(store, **kwargs) as box:
        yield box

"""The subscription revenue timeline plugin: rebuilds ``revenue_timeline`` after each sync.

For every subscription item, ``[valid_from, valid_to)`` intervals with normalised MRR in minor
units of the reporting currency (rules and worked examples: docs/metrics.md, "Revenue timeline").
The metrics layer reads it as: MRR at instant t = SUM(mrr) of rows with ``valid_from <= t`` and
(``valid_to`` IS NULL or ``valid_to > t``); ``valid_to`` NULL means still running.

The build streams invoice lines from SQL ordered by subscription (joined to their invoice, price
and subscription), merge-joins the subscription items read in the same order, computes each
subscription's intervals in Python (a few dozen lines at a time) and inserts them in batches,
all in one transaction: readers see the old timeline or the new one, never half of it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from sqlalchemy import BigInteger, Connection, and_, cast, delete, extract, func, select
from vitalsign.core import Connector, hookimpl
from vitalsign.core.config import Config
from vitalsign.core.store import Store, table

from ._timeline_rules import DAY, Contribution, TimelineOptions, line_contribution, sweep

__all__ = ["TimelineOptions", "rebuild_timeline", "vitalsign_after_sync"]

LIVE_STATUSES = frozenset({"active", "past_due", "unpaid"})
UNPAID_INVOICES = frozenset({"open", "uncollectible"})
COUNTED_INVOICES = ("paid", "open", "uncollectible")  # drafts are not final; voids never happened
INSERT_BATCH = 2_000


@hookimpl
def vitalsign_after_sync(store: Store, connector: Connector, config: Config) -> None:
    """Rebuild the connector's part of the timeline if it syncs invoice lines."""
    tables: set[str] = set()
    for cls in connector.stream_classes():
        tables.add(cls.table)
        tables.update(cls.child_tables)
    if "invoice_lines" not in tables:
        return
    options = TimelineOptions.from_config(config.metrics, config.base_dir)
    rebuild_timeline(store, connector.name, options)


def rebuild_timeline(
    store: Store, source: str, options: TimelineOptions | None = None, *, now: float | None = None
) -> int:
    """Replace the timeline rows of ``source``; returns how many were written."""
    opts = options or TimelineOptions()
    at = int(now if now is not None else time.time())
    written = 0
    with store.begin() as conn:
        timeline = table("revenue_timeline")
        conn.execute(delete(timeline).where(timeline.c.source == source))
        pending: list[dict[str, Any]] = []
        items = _MergeCursor(_items(conn, source))
        subs = _MergeCursor(_subscriptions(conn, source))
        for sub_id, rows in groupby(_lines(conn, source), key=lambda r: r.subscription_id):
            lines = list(rows)
            found = subs.take(sub_id)
            pending.extend(
                subscription_intervals(
                    source, sub_id, lines, items.take(sub_id), found[0] if found else None, opts, at
                )
            )
            if len(pending) >= INSERT_BATCH:
                conn.execute(timeline.insert(), pending)
                written += len(pending)
                pending = []
        if pending:
            conn.execute(timeline.insert(), pending)
            written += len(pending)
        record_rebuild(conn)
    return written


TIMELINE_BUILD = "revenue_timeline"
"""The ``derived_state`` row a rebuild stamps with a new token: what is derived from the
timeline (the stored MRR change points) is stale after any rebuild, even one whose rows reuse the
old ids and add up to the same sums with other dates."""


def record_rebuild(conn: Connection) -> None:
    state = table("derived_state")
    conn.execute(delete(state).where(state.c.name == TIMELINE_BUILD))
    conn.execute(
        state.insert().values(name=TIMELINE_BUILD, stamp=uuid.uuid4().hex, built_at=datetime.now(UTC))
    )


def _lines(conn: Connection, source: str) -> Iterator[Any]:
    lines, inv, price = (table(n) for n in ("invoice_lines", "invoices", "prices"))
    stmt = (
        select(
            lines.c.source_id,
            lines.c.subscription_id,
            lines.c.subscription_item_id,
            lines.c.price_id,
            lines.c.kind,
            lines.c.currency,
            lines.c.amount,
            lines.c.discount_amount,
            lines.c.inclusive_tax_amount,
            lines.c.quantity,
            lines.c.proration,
            _epoch(conn, lines.c.period_start).label("period_start"),
            _epoch(conn, lines.c.period_end).label("period_end"),
            inv.c.status.label("invoice_status"),
            _epoch(conn, inv.c.due_date).label("due_date"),
            _epoch(conn, inv.c.created_at).label("invoice_created"),
            inv.c.source_account_id.label("invoice_customer"),
            price.c.type.label("price_type"),
            price.c.recurring_interval,
            price.c.recurring_interval_count,
            price.c.usage_type,
            price.c.product_id,
            price.c.unit_amount,
        )
        .select_from(
            lines.join(
                inv, and_(inv.c.source == lines.c.source, inv.c.source_id == lines.c.invoice_id)
            ).outerjoin(price, and_(price.c.source == lines.c.source, price.c.source_id == lines.c.price_id))
        )
        .where(
            lines.c.source == source,
            lines.c.deleted.is_(False),
            inv.c.deleted.is_(False),
            lines.c.subscription_id.is_not(None),
            inv.c.status.in_(COUNTED_INVOICES),
        )
        .order_by(_binary(conn, lines.c.subscription_id), lines.c.period_start, lines.c.source_id)
        .execution_options(yield_per=5_000)
    )
    yield from conn.execute(stmt)


def _items(conn: Connection, source: str) -> Iterator[Any]:
    items = table("subscription_items")
    stmt = (
        select(items.c.subscription_id.label("key"), items.c.source_id, items.c.price_id, items.c.deleted)
        .where(items.c.source == source)
        .order_by(_binary(conn, items.c.subscription_id), items.c.source_id)
        .execution_options(yield_per=5_000)
    )
    yield from conn.execute(stmt)


def _subscriptions(conn: Connection, source: str) -> Iterator[Any]:
    sub = table("subscriptions")
    stmt = (
        select(
            sub.c.source_id.label("key"),
            sub.c.source_account_id,
            sub.c.status,
            _epoch(conn, sub.c.canceled_at).label("canceled_at"),
            _epoch(conn, sub.c.ended_at).label("ended_at"),
            sub.c.cancel_at_period_end,
            sub.c.cancel_at,
            _epoch(conn, sub.c.current_period_end).label("current_period_end"),
        )
        .where(sub.c.source == source)
        .order_by(_binary(conn, sub.c.source_id))
        .execution_options(yield_per=5_000)
    )
    yield from conn.execute(stmt)


def _epoch(conn: Connection, column: Any) -> Any:
    """A timestamp column as Unix seconds computed by the database: the builder only compares
    and subtracts times, and skipping a datetime object per value halves the cost of the read."""
    if conn.dialect.name == "postgresql":
        return cast(func.floor(extract("epoch", column)), BigInteger)
    return cast(func.strftime("%s", column), BigInteger)


def _binary(conn: Connection, column: Any) -> Any:
    """Order by code point on both databases, the order Python's ``<`` uses in the merge-join
    (PostgreSQL's default collation would sort ``sub_a`` and ``sub_B`` differently)."""
    return column.collate("C") if conn.dialect.name == "postgresql" else column


class _MergeCursor:
    """Merge-join helper: the rows of each subscription (column ``key``) from a stream sorted like
    the lines, walking both once."""

    def __init__(self, rows: Iterator[Any]) -> None:
        self._rows = rows
        self._head: Any = next(rows, None)

    def take(self, sub_id: str) -> list[Any]:
        out = []
        while self._head is not None and self._head.key < sub_id:
            self._head = next(self._rows, None)
        while self._head is not None and self._head.key == sub_id:
            out.append(self._head)
            self._head = next(self._rows, None)
        return out


@dataclass
class _Sub:
    status: str | None
    canceled_at: int | None
    ended_at: int | None
    scheduled_end: bool
    current_period_end: int | None


def _ts(value: datetime | int | None) -> int | None:
    if value is None or isinstance(value, int):
        return value
    return int(value.timestamp())


def subscription_intervals(
    source: str,
    sub_id: str,
    lines: list[Any],
    items: list[Any],
    subscription: Any,
    opts: TimelineOptions,
    now: int,
) -> list[dict[str, Any]]:
    """The timeline rows of one subscription from its counted invoice lines (``subscription``:
    its row, None when the subscription itself was not synced)."""
    row = subscription
    sub = _Sub(
        status=row.status if row else None,
        canceled_at=_ts(row.canceled_at) if row else None,
        ended_at=_ts(row.ended_at) if row else None,
        scheduled_end=bool(row.cancel_at_period_end) or row.cancel_at is not None if row else False,
        current_period_end=_ts(row.current_period_end) if row else None,
    )
    customer = (row.source_account_id if row else None) or lines[0].invoice_customer
    cutoff = _cutoff(sub, lines, opts, now)
    by_price = {i.price_id: i.source_id for i in items if not i.deleted}
    live_items = {i.source_id for i in items if not i.deleted}
    only_item = items[0].source_id if len(items) == 1 else None

    per_item: dict[str, list[Contribution]] = {}
    factors: dict[str | None, float] = {}
    for line in lines:
        if line.price_type == "one_time" or line.usage_type == "metered":
            continue
        if line.kind != "subscription" and not line.proration:
            continue  # a one-time invoice item
        start, end = _ts(line.period_start), _ts(line.period_end)
        if start is None or end is None:
            continue
        if line.invoice_status in UNPAID_INVOICES and sub.ended_at is not None:
            end = min(end, sub.ended_at)  # an unpaid period counts until the subscription ended
        if cutoff is not None:
            end = min(end, cutoff)
        net = (line.amount or 0) - (line.inclusive_tax_amount or 0) - (line.discount_amount or 0)
        factor = factors.get(line.currency)
        if factor is None:
            factor = factors[line.currency] = opts.factor(line.currency, context=f"subscription {sub_id}")
        result = line_contribution(
            net=net,
            start=start,
            end=end,
            interval=line.recurring_interval,
            count=line.recurring_interval_count,
            proration=bool(line.proration),
            factor=factor,
            amount=line.amount,
            unit_amount=line.unit_amount,
            quantity=line.quantity,
        )
        if result is None:
            continue
        mrr, original, months = result
        key = (
            line.subscription_item_id
            or by_price.get(line.price_id)
            or only_item
            or f"{sub_id}:{line.price_id}"
        )
        per_item.setdefault(key, []).append(
            Contribution(
                start=start,
                end=end,
                mrr=mrr,
                original=original,
                currency=(line.currency or opts.currency).lower(),
                quantity=line.quantity,
                price_id=line.price_id,
                product_id=line.product_id,
                months=months,
            )
        )

    rows: list[dict[str, Any]] = []
    for key, contributions in per_item.items():
        intervals = sweep(contributions)
        if not intervals:
            continue
        last_end = max(c.end for c in contributions)
        running = (
            sub.status in LIVE_STATUSES
            and not sub.scheduled_end
            and cutoff is None
            and key in live_items
            and (sub.current_period_end is None or last_end >= sub.current_period_end)
        )
        item_id = None if key.startswith(f"{sub_id}:") else key
        for index, (a, b, mrr, original, rep) in enumerate(intervals):
            open_end = running and index == len(intervals) - 1 and b == last_end
            rows.append(
                {
                    "source": source,
                    "source_account_id": customer,
                    "subscription_id": sub_id,
                    "subscription_item_id": item_id,
                    "price_id": rep.price_id,
                    "product_id": rep.product_id,
                    "quantity": rep.quantity,
                    "interval_months": rep.months,
                    "valid_from": datetime.fromtimestamp(a, UTC),
                    "valid_to": None if open_end else datetime.fromtimestamp(b, UTC),
                    "mrr": round(mrr),
                    "currency": opts.currency,
                    "original_currency": rep.currency,
                    "original_mrr": round(original),
                }
            )
    return rows


def _cutoff(sub: _Sub, lines: list[Any], opts: TimelineOptions, now: int) -> int | None:
    """When the subscription stops counting under the options, if before its lines end."""
    cuts = []
    if opts.churn_recognition == "cancellation" and sub.canceled_at is not None:
        cuts.append(sub.canceled_at)
    if opts.past_due_churn_days is not None:
        unpaid = [
            _ts(line.due_date) or _ts(line.invoice_created)
            for line in lines
            if line.invoice_status in UNPAID_INVOICES
        ]
        dues = [d for d in unpaid if d is not None]
        if dues:
            churn_at = min(dues) + opts.past_due_churn_days * DAY
            if churn_at <= now:
                cuts.append(churn_at)
    return min(cuts) if cuts else None


def options_from(metrics: Mapping[str, Any]) -> TimelineOptions:
    """``[metrics]`` as a mapping -> options (for callers without a Config)."""
    return TimelineOptions.from_config(metrics)

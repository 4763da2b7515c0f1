"""Writing usage events: each event stored once, the daily rollups kept current in the same
transaction, so usage metrics read the rollups and never scan raw events.

An event is inserted with ``ON CONFLICT DO NOTHING`` on its dedup key and only the rows actually
inserted (``RETURNING``) feed the rollups, so a re-delivered event is counted once. Events with
no account are rolled up under the account key ``""`` (product-wide figures still count them).
A ``feature`` property, when the connector keeps one, feeds ``usage_feature_daily``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Connection, func, select, tuple_

from .store import Store, dialect_insert, table
from .writers import register_writer

UNATTRIBUTED = ""


@register_writer("usage_events")
def write_usage_events(store: Store, conn: Connection, table_name: str, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    events = table(table_name)
    stmt = dialect_insert(conn.dialect.name, events).on_conflict_do_nothing(
        index_elements=["source", "source_id"]
    )
    columns = [
        "source",
        "source_id",
        "deleted",
        "synced_at",
        "occurred_at",
        "event",
        "user_id",
        "account_key",
        "properties",
    ]
    params = [{c: row.get(c, False if c == "deleted" else None) for c in columns} for row in rows]
    inserted = conn.execute(
        stmt.returning(
            events.c.source, events.c.occurred_at, events.c.user_id, events.c.account_key, events.c.properties
        ),
        params,
    ).all()
    update_rollups(conn, inserted)
    return len(inserted)


def update_rollups(conn: Connection, inserted: list[Any]) -> None:
    """Add newly inserted events to usage_user_daily, usage_feature_daily and usage_daily."""
    user_days: Counter[tuple[str, str, Any, str]] = Counter()
    feature_days: Counter[tuple[str, str, Any, str]] = Counter()
    for source, occurred_at, user_id, account_key, properties in inserted:
        day = occurred_at.date()
        account = account_key or UNATTRIBUTED
        user_days[(source, account, day, user_id or "")] += 1
        feature = (properties or {}).get("feature")
        if feature:
            feature_days[(source, account, day, str(feature))] += 1
    if not user_days:
        return
    _increment(conn, "usage_user_daily", ["source", "account_key", "day", "user_id"], user_days)
    if feature_days:
        _increment(conn, "usage_feature_daily", ["source", "account_key", "day", "feature"], feature_days)
    _refresh_daily(conn, {(s, a, d) for s, a, d, _ in user_days})


def _increment(conn: Connection, table_name: str, keys: list[str], counts: Counter[Any]) -> None:
    tbl = table(table_name)
    stmt = dialect_insert(conn.dialect.name, tbl)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys, set_={"events": tbl.c.events + stmt.excluded.events}
    )
    conn.execute(stmt, [{**dict(zip(keys, key, strict=True)), "events": n} for key, n in counts.items()])


def _refresh_daily(conn: Connection, days: set[tuple[str, str, Any]]) -> None:
    """Recompute usage_daily for the touched (source, account, day) keys from usage_user_daily."""
    users, daily = table("usage_user_daily"), table("usage_daily")
    keys = sorted(days)
    for start in range(0, len(keys), 300):
        chunk = keys[start : start + 300]
        totals = (
            select(
                users.c.source,
                users.c.account_key,
                users.c.day,
                func.count().label("active_users"),
                func.sum(users.c.events).label("events"),
            )
            .where(tuple_(users.c.source, users.c.account_key, users.c.day).in_(chunk))
            .group_by(users.c.source, users.c.account_key, users.c.day)
        )
        stmt = dialect_insert(conn.dialect.name, daily).from_select(
            ["source", "account_key", "day", "active_users", "events"], totals
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["source", "account_key", "day"],
            set_={"active_users": stmt.excluded.active_users, "events": stmt.excluded.events},
        )
        conn.execute(stmt)

"""Derived tables the metrics keep in the store instead of recomputing them on every call.

- ``mrr_change_points``: each account's month-end MRR change points (what
  :func:`vitalsign.metrics.revenue.change_points` otherwise builds per call in a temporary table,
  the most expensive step of the revenue metrics), with ``seat_change_points`` (the seats of
  each account at month ends, for license utilization);
- ``usage_feature_first_use``, ``usage_feature_windows`` and ``usage_group_windows``: each
  group's first use of each feature; per month, the groups that used each feature in the
  ``[metrics] active_days`` window ending with it (feature adoption); and the distinct users of
  each group in the calendar month, the last 7 days and that window (MAU, WAU, license
  utilization).

They are rebuilt after every sync (the plugin's ``vitalsign_after_sync``, run after the revenue
timeline's rebuild and after identity resolution), each set in one transaction, when its inputs
changed.

A derived table is read only while its inputs are unchanged: :func:`refresh` records a stamp of
them in ``derived_state`` (row counts, the largest id, sums of the amounts and account ids, the
latest link time, the last rollup day: one cheap aggregate per input table), and every read
compares it with the inputs' current stamp (and the options they were built for:
``active_days``, ``seat_products``). Anything that writes the inputs another way (``vitalsign accounts link``,
rows written directly) makes the metrics compute from the inputs again until the next refresh, so
the results never depend on whether the derived table is there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, case, delete, func, select
from vitalsign.core.metric import MetricQuery, Month
from vitalsign.core.store import Store, table

from . import _sql
from .timeline import TIMELINE_BUILD

CHANGE_POINTS = "mrr_change_points"  # and seat_change_points, built together
USAGE = "usage_windows"  # usage_feature_first_use, usage_feature_windows, usage_group_windows
_COLUMNS = ("acct", "account_id", "idx", "d", "level", "prev", "rn", "next_idx", "cohort")

Options = Mapping[str, Any]
# part of every stamp: bump it when a derivation changes, so tables built by older code are stale
VERSION = 2


def _change_points_stamp(conn: Connection, options: Options) -> str:
    rt, links = table("revenue_timeline"), table("identity_links")
    timeline = conn.execute(
        select(func.count(), func.max(rt.c.id), func.sum(rt.c.mrr), func.sum(rt.c.quantity))
    ).one()
    linked = conn.execute(
        select(func.count(), func.max(links.c.linked_at), func.sum(links.c.account_id)).where(
            links.c.source_kind == "customer"
        )
    ).one()
    priced = [
        v
        for name in ("prices", "products")
        for v in conn.execute(select(func.count(), func.max(table(name).c.synced_at))).one()
    ]
    state = table("derived_state")
    rebuilt = conn.execute(select(state.c.stamp).where(state.c.name == TIMELINE_BUILD)).scalar_one_or_none()
    seat_products = sorted(str(p) for p in options.get("seat_products") or ())
    return "|".join(str(v) for v in (rebuilt, *timeline, *linked, *priced, seat_products))


def _build_change_points(conn: Connection, options: Options) -> int:
    from . import revenue, usage

    cp, seats = table(CHANGE_POINTS), table("seat_change_points")
    conn.execute(delete(cp))
    conn.execute(cp.insert().from_select(list(_COLUMNS), revenue.change_point_rows(conn, None)))
    conn.execute(delete(seats))
    conn.execute(
        seats.insert().from_select(
            ["account_id", "idx", "d", "level", "next_idx"],
            usage.seat_change_point_rows(conn, options.get("seat_products")),
        )
    )
    return _count(conn, CHANGE_POINTS) + _count(conn, "seat_change_points")


def _usage_stamp(conn: Connection, options: Options) -> str:
    """The usage tables depend on which rollup rows exist, not on their event counts, and ingest
    only ever adds rows: a row count (and the last day) changes with every sync that adds one.
    Both come from indexes (no table scan)."""
    from .usage import active_days

    parts: list[Any] = [active_days(options)]
    for name in ("usage_feature_daily", "usage_daily", "usage_user_daily"):
        rollup = table(name)
        parts += conn.execute(select(func.count(), func.max(rollup.c.day))).one()
    return "|".join(str(v) for v in parts)


def _build_usage(conn: Connection, options: Options) -> int:
    from . import usage

    first, windows = table("usage_feature_first_use"), table("usage_feature_windows")
    group_windows = table("usage_group_windows")
    conn.execute(delete(group_windows))
    uud = table("usage_user_daily")
    lo, hi = conn.execute(select(func.min(uud.c.day), func.max(uud.c.day))).one()
    if lo is not None:
        indexes = _window_months(lo, hi, usage.active_days(options))
        for days in sorted({0, 7, usage.active_days(options)}):
            conn.execute(
                group_windows.insert().from_select(
                    ["days", "idx", "source", "account_key", "users"],
                    usage.group_window_rows(conn, days, indexes),
                )
            )
    conn.execute(delete(windows))
    conn.execute(delete(first))
    conn.execute(
        first.insert().from_select(
            ["source", "account_key", "feature", "first_use", "idx", "days_to_adopt"],
            usage.first_use_rows(conn),
        )
    )
    ufd = table("usage_feature_daily")
    lo, hi = conn.execute(select(func.min(ufd.c.day), func.max(ufd.c.day))).one()
    if lo is not None:
        indexes = _window_months(lo, hi, usage.active_days(options))
        conn.execute(
            windows.insert().from_select(
                ["idx", "feature", "source", "account_key", "span_days"],
                usage.feature_window_rows(conn, usage.active_days(options), indexes),
            )
        )
    return sum(
        _count(conn, n) for n in ("usage_feature_first_use", "usage_feature_windows", "usage_group_windows")
    )


def _window_months(first_day: Any, last_day: Any, days: int) -> list[int]:
    """Month indexes of every window ending a month that can hold a day of the rollups: from the
    first day's month to past the last one's by the longest window (a February window starts in
    January)."""
    return list(range(_sql.idx(_month(first_day)), _sql.idx(_month(last_day)) + days // 28 + 2))


def _month(value: Any) -> Month:
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return Month.of(day)


def _count(conn: Connection, name: str) -> int:
    return int(conn.execute(select(func.count()).select_from(table(name))).scalar_one())


Stamp = Callable[[Connection, Options], str]
Build = Callable[[Connection, Options], int]
DERIVED: dict[str, tuple[Stamp, Build]] = {
    CHANGE_POINTS: (_change_points_stamp, _build_change_points),
    USAGE: (_usage_stamp, _build_usage),
}


def refresh(store: Store, options: Options | None = None, *, force: bool = False) -> dict[str, int]:
    """Rebuild every derived table whose inputs changed since it was built (all when ``force``),
    for the ``[metrics]`` options given; returns the rows written per table rebuilt."""
    opts = options or {}
    written: dict[str, int] = {}
    state = table("derived_state")
    with store.begin() as conn:
        for name, (stamp_of, build) in DERIVED.items():
            stamp = f"v{VERSION}|{stamp_of(conn, opts)}"
            if not force and _recorded(conn, name) == stamp:
                continue
            written[name] = build(conn, opts)
            conn.execute(delete(state).where(state.c.name == name))
            conn.execute(state.insert().values(name=name, stamp=stamp, built_at=datetime.now(UTC)))
    return written


def _recorded(conn: Connection, name: str) -> str | None:
    state = table("derived_state")
    return conn.execute(select(state.c.stamp).where(state.c.name == name)).scalar_one_or_none()


def is_fresh(conn: Connection, name: str, options: Options | None = None) -> bool:
    recorded = _recorded(conn, name)
    return recorded is not None and recorded == f"v{VERSION}|{DERIVED[name][0](conn, options or {})}"


def usable(conn: Connection, query: MetricQuery, name: str) -> bool:
    """Whether a metric of ``query`` may read ``name``: fresh (checked once per query), and not a
    one-account drill-down (checking the inputs costs more than computing one account)."""
    if query.account_id is not None:
        return False
    return bool(_sql.memo(query, ("fresh", name), lambda: is_fresh(conn, name, query.options)))


def change_points(conn: Connection, query: MetricQuery) -> Any:
    """The stored change points as the per-query table would hold them (up to the query's end:
    the last one's ``next_idx`` is the far future), or None when they cannot be used."""
    from .revenue import NEVER

    if not usable(conn, query, CHANGE_POINTS):
        return None
    cp, end = table(CHANGE_POINTS), _sql.idx(query.end)
    capped = case((cp.c.next_idx > end, NEVER), else_=cp.c.next_idx)
    return (
        select(*[cp.c[c] for c in _COLUMNS if c != "next_idx"], capped.label("next_idx"))
        .where(cp.c.idx <= end)
        .subquery("cp")
    )

"""Usage metrics over the daily rollups (``usage_daily``, ``usage_user_daily``,
``usage_feature_daily``); raw ``usage_events`` are never scanned.

A user is a user of one account group (``source, account_key, user_id``): someone active in two
accounts counts in both. An analytics group belongs to the account it is linked to
(``identity_links`` kind ``group``); unattributed events (account key ``""``) count product-wide
only. Windows end with the month's last day: WAU the last 7 days, MAU the calendar month,
license utilization and feature use the last 30 days (``[metrics] active_days``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Date,
    Integer,
    String,
    and_,
    case,
    cast,
    distinct,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.sql.selectable import Subquery
from vitalsign.core.metric import Metric, MetricQuery
from vitalsign.core.store import table

from . import _segments, _sql, derived

NEVER = 10_000_000  # month index of a row still running


def active_days(query: MetricQuery | Mapping[str, Any]) -> int:
    """``[metrics] active_days`` of a query (or of its options)."""
    options = query.options if isinstance(query, MetricQuery) else query
    return int(options.get("active_days", 30))


def windows(
    query: MetricQuery, days: int, indexes: list[int] | None = None, *, typed_for: str | None = None
) -> Subquery:
    """Per month: ``idx`` and the inclusive day window ``[day_from, day_to]`` ending the month.

    ``typed_for="postgresql"`` casts the day literals: a temporary table's ``CREATE ... AS``
    renders them inline, where PostgreSQL would read them as text."""
    return window_frame(days, indexes if indexes is not None else _sql.query_indexes(query), typed_for)


def window_frame(days: int, indexes: list[int], typed_for: str | None = None) -> Subquery:
    """:func:`windows` for the month indexes given."""
    rows = []
    for i in indexes:
        end = _sql.month_end(_sql.month_at(i)).date()
        day_from, day_to = _sql.day(end - timedelta(days=days - 1)), _sql.day(end)
        if typed_for == "postgresql":
            day_from, day_to = cast(day_from, Date), cast(day_to, Date)
        rows.append(
            select(literal(i, Integer).label("idx"), day_from.label("day_from"), day_to.label("day_to"))
        )
    return (union_all(*rows) if len(rows) > 1 else rows[0]).subquery("windows")


def group_account(source: Any, account_key: Any) -> Any:
    return _sql.linked_account(source, account_key, "group")


def usage_scope(conn: Connection, query: MetricQuery, tbl: Any) -> tuple[Any, Any]:
    """``(segment expression, joiner)`` for a rollup table, honouring ``--by``."""
    return _segments.segment(conn, query, group_account(tbl.c.source, tbl.c.account_key))


def account_filter(stmt: Any, query: MetricQuery, tbl: Any) -> Any:
    if query.account_id is not None:
        stmt = stmt.where(
            _segments.records_of_account(tbl.c.source, tbl.c.account_key, query.account_id, "group")
        )
    return stmt


def users_by_group(query: MetricQuery, idx_col: Any, lo: Any, hi: Any, frame: Any) -> Subquery:
    """``(idx, source, account_key, users)``: distinct users of each group in each window.

    A user is a user of one group, so the users of a set of groups (an account, a segment, the
    product) are the sum of these counts: cheaper than a distinct count of concatenated keys,
    and links are looked up once per group and window instead of once per user-day."""
    uud = table("usage_user_daily")
    return account_filter(
        select(
            idx_col.label("idx"),
            uud.c.source,
            uud.c.account_key,
            func.count(distinct(uud.c.user_id)).label("users"),
        )
        .select_from(frame.join(uud, and_(uud.c.day >= lo, uud.c.day <= hi)))
        .where(uud.c.user_id != "")  # anonymous events roll up under "": not a user
        .group_by(idx_col, uud.c.source, uud.c.account_key),
        query,
        uud,
    ).subquery("group_users")


def stored_group_users(query: MetricQuery, days: int) -> Subquery:
    """:func:`users_by_group` read from ``usage_group_windows`` (``days`` 0: calendar months)."""
    ugw = table("usage_group_windows")
    return (
        select(ugw.c.idx, ugw.c.source, ugw.c.account_key, ugw.c.users)
        .where(ugw.c.days == days, ugw.c.idx.between(_sql.idx(query.start), _sql.idx(query.end)))
        .subquery("group_users")
    )


def group_window_rows(conn: Connection, days: int, indexes: list[int]) -> Any:
    """What ``usage_group_windows`` holds for ``days`` (0: calendar months; metrics/derived.py)."""
    if days == 0:
        frame = _sql.months_table(indexes)
        idx_col, lo, hi = frame.c.idx, frame.c.d_start, frame.c.d_end
    else:
        frame = window_frame(days, indexes, conn.dialect.name)
        idx_col, lo, hi = frame.c.idx, frame.c.day_from, frame.c.day_to
    uud = table("usage_user_daily")
    return (
        select(
            literal(days, Integer).label("days"),
            idx_col.label("idx"),
            uud.c.source,
            uud.c.account_key,
            func.count(distinct(uud.c.user_id)).label("users"),
        )
        .select_from(frame.join(uud, and_(uud.c.day >= lo, uud.c.day <= hi)))
        .where(uud.c.user_id != "")
        .group_by(idx_col, uud.c.source, uud.c.account_key)
    )


class UsageMetric(Metric):
    family = "usage"
    segments = _segments.ACCOUNT_SEGMENTS


class DAU(UsageMetric):
    name = "dau"
    description = "Daily active users, averaged over the days of the month."
    unit = "count"

    def compute(self, conn: Connection, query: MetricQuery) -> list[dict[str, Any]]:
        return list(_sql.memo(query, "dau", lambda: self._compute(conn, query)))

    def _compute(self, conn: Connection, query: MetricQuery) -> list[dict[str, Any]]:
        ud = table("usage_daily")
        months = _sql.months_table(_sql.query_indexes(query))
        seg, join = usage_scope(conn, query, ud)
        during = and_(ud.c.day >= months.c.d_start, ud.c.day <= months.c.d_end)
        stmt = account_filter(
            select(months.c.idx, seg.label("seg"), func.sum(ud.c.active_users).label("user_days"))
            .select_from(join(months.join(ud, during)))
            .group_by(months.c.idx, seg),
            query,
            ud,
        )
        found = {
            (row.idx, row.seg): {"value": round(float(row.user_days) / _days_in(row.idx), 2)}
            for row in conn.execute(stmt)
        }
        return _segments.monthly_rows(query, found, {"value": 0.0})


def _days_in(index: int) -> int:
    return _sql.month_end(_sql.month_at(index)).day


class DistinctUsers(UsageMetric):
    """Distinct users over a window ending with each month."""

    unit = "count"
    days: int | None = None  # None: the calendar month

    def counts(self, conn: Connection, query: MetricQuery) -> dict[tuple[int, Any], int]:
        if derived.usable(conn, query, derived.USAGE):
            groups = stored_group_users(query, self.days or 0)
        else:
            groups = self._group_users(query)
        seg, join = usage_scope(conn, query, groups)
        stmt = (
            select(groups.c.idx, seg.label("seg"), func.sum(groups.c.users).label("users"))
            .select_from(join(groups))
            .group_by(groups.c.idx, seg)
        )
        return {(row.idx, row.seg): int(row.users) for row in conn.execute(stmt)}

    def _group_users(self, query: MetricQuery) -> Subquery:
        if self.days is None:
            months = _sql.months_table(_sql.query_indexes(query))
            idx_col, lo, hi = months.c.idx, months.c.d_start, months.c.d_end
            frame = months
        else:
            frame = windows(query, self.days)
            idx_col, lo, hi = frame.c.idx, frame.c.day_from, frame.c.day_to
        return users_by_group(query, idx_col, lo, hi, frame)

    def compute(self, conn: Connection, query: MetricQuery) -> list[dict[str, Any]]:
        return list(_sql.memo(query, self.name, lambda: self._compute(conn, query)))

    def _compute(self, conn: Connection, query: MetricQuery) -> list[dict[str, Any]]:
        found = {k: {"value": v} for k, v in self.counts(conn, query).items()}
        return _segments.monthly_rows(query, found, {"value": 0})


class WAU(DistinctUsers):
    name = "wau"
    description = "Weekly active users: distinct users in the last 7 days of the month."
    days = 7


class MAU(DistinctUsers):
    name = "mau"
    description = "Monthly active users: distinct users in the calendar month."


class Stickiness(UsageMetric):
    name = "stickiness"
    description = "DAU / MAU (%): how many of the month's users come back on a given day."
    unit = "percent"
    columns = ("value", "dau", "mau")

    def compute(self, conn: Connection, query: MetricQuery) -> list[dict[str, Any]]:
        # the DAU and MAU of the same call are reused, not recomputed
        dau_rows = _sql.memo(query, "dau", lambda: DAU().compute(conn, query))
        mau_rows = _sql.memo(query, "mau", lambda: MAU().compute(conn, query))
        daus = {(r["period"], r.get("segment")): r["value"] for r in dau_rows}
        maus = {(r["period"], r.get("segment")): r["value"] for r in mau_rows}
        rows = []
        for key, mau in maus.items():
            dau = daus.get(key, 0.0)
            row: dict[str, Any] = {"period": key[0]}
            if query.by:
                row["segment"] = key[1]
            row.update({"value": round(100.0 * dau / mau, 2) if mau else None, "dau": dau, "mau": mau})
            rows.append(row)
        return rows


# ---------------------------------------------------------------- seats and utilization


def seats_at(conn: Connection, query: MetricQuery, frame: Any) -> Any:
    """``(idx, account_id, seats)`` at each frame month's end.

    ``[metrics] seats_property`` (a CRM company property) wins when set; otherwise the quantity
    of seat-priced subscription items active at the month end: items of ``seat_products``
    (product names or ids) when configured, else every licensed per-unit recurring price.
    """
    prop = query.options.get("seats_property")
    links = table("identity_links")
    if prop:
        sa = table("source_accounts")
        value = sa.c.properties[str(prop)].as_float()
        return (
            select(frame.c.idx, links.c.account_id, func.max(value).label("seats"))
            .select_from(
                frame.join(sa, literal(True) == literal(True)).join(
                    links,
                    and_(
                        links.c.source == sa.c.source,
                        links.c.source_kind == sa.c.kind,
                        links.c.external_id == sa.c.source_id,
                    ),
                )
            )
            .where(links.c.account_id.is_not(None), value > 0)
            .group_by(frame.c.idx, links.c.account_id)
        )
    seats = seat_rows(conn, query)
    # a row counts at the month ends from its first month to the one before valid_to's month
    return (
        select(frame.c.idx, seats.c.account_id, func.sum(seats.c.quantity).label("seats"))
        .select_from(frame.join(seats, and_(seats.c.fi <= frame.c.idx, seats.c.ei > frame.c.idx)))
        .group_by(frame.c.idx, seats.c.account_id)
    )


def seat_rows(conn: Connection, query: MetricQuery) -> Any:
    """Seat-priced timeline rows of linked accounts, ``account_id, quantity, fi, ei`` (month
    indexes of the first month end counted and of the first one not counted): a temporary table."""
    rows = seat_row_statement(conn, query.options.get("seat_products"), query.account_id)
    if query.account_id is not None:  # one account (a health drill-down): a few rows, no temp table
        return rows.subquery("seat_rows")
    return _sql.materialize(conn, query, "seats", rows, indexes=[("fi",), ("account_id", "fi")])


def seat_row_statement(conn: Connection, seat_products: Any, account_id: int | None = None) -> Any:
    """The statement of :func:`seat_rows`."""
    links = table("identity_links")
    rt, prices, products = table("revenue_timeline"), table("prices"), table("products")
    if seat_products:
        names = [str(p) for p in seat_products]
        is_seat = or_(rt.c.product_id.in_(names), products.c.name.in_(names))
    else:
        is_seat = and_(
            prices.c.usage_type == "licensed",
            func.coalesce(prices.c.billing_scheme, "per_unit") == "per_unit",
            prices.c.type != "one_time",
        )
    dialect = conn.dialect.name
    rows = (
        select(
            links.c.account_id,
            rt.c.quantity,
            _sql.month_index(rt.c.valid_from, dialect).label("fi"),
            func.coalesce(_sql.month_index(rt.c.valid_to, dialect), NEVER).label("ei"),
        )
        .select_from(
            rt.join(
                links,
                _sql.link_of(links, rt.c.source, rt.c.source_account_id, "customer"),
            )
            .outerjoin(prices, and_(prices.c.source == rt.c.source, prices.c.source_id == rt.c.price_id))
            .outerjoin(
                products, and_(products.c.source == rt.c.source, products.c.source_id == rt.c.product_id)
            )
        )
        .where(is_seat, rt.c.quantity > 0, rt.c.mrr > 0, links.c.account_id.is_not(None))
    )
    if account_id is not None:
        rows = rows.where(links.c.account_id == account_id)
    return rows


def seat_changes(seats: Any, counted_stops: Any) -> Subquery:
    """``account_id, idx, d``: the net change of each account's seats per month index, from seat
    rows (``fi``/``ei``/``quantity``): +quantity where a row starts, -quantity where it stops if
    ``counted_stops`` holds for it; months whose changes cancel out are left out."""
    starts = select(seats.c.account_id, seats.c.fi.label("idx"), seats.c.quantity.label("d"))
    stops = select(seats.c.account_id, seats.c.ei.label("idx"), (-seats.c.quantity).label("d")).where(
        counted_stops
    )
    deltas = starts.union_all(stops).subquery("seat_deltas")
    return (
        select(deltas.c.account_id, deltas.c.idx, func.sum(deltas.c.d).label("d"))
        .group_by(deltas.c.account_id, deltas.c.idx)
        .having(func.sum(deltas.c.d) != 0)
        .subquery("seat_changes")
    )


def seat_change_point_rows(conn: Connection, seat_products: Any) -> Any:
    """What ``seat_change_points`` holds (metrics/derived.py): per account and month index where
    its seats at the month end change, the change ``d``, the seats after it (``level``) and the
    month of the next change (``next_idx``, far in the future on the last)."""
    seats = seat_row_statement(conn, seat_products).subquery("seat_rows")
    grouped = seat_changes(seats, seats.c.ei < NEVER)
    window = {"partition_by": grouped.c.account_id, "order_by": grouped.c.idx}
    return select(
        grouped.c.account_id,
        grouped.c.idx,
        grouped.c.d,
        func.sum(grouped.c.d).over(**window, rows=(None, 0)).label("level"),  # type: ignore[arg-type]
        func.lead(grouped.c.idx, 1, NEVER).over(**window).label("next_idx"),  # type: ignore[arg-type]
    )


def active_users_by_account(query: MetricQuery, frame: Any) -> Any:
    """``(idx, account_id, users)``: distinct users of the account's groups in each window."""
    links = table("identity_links")
    groups = users_by_group(query, frame.c.idx, frame.c.day_from, frame.c.day_to, frame)
    return (
        select(groups.c.idx, links.c.account_id, func.sum(groups.c.users).label("users"))
        .select_from(
            groups.join(
                links,
                _sql.link_of(links, groups.c.source, groups.c.account_key, "group"),
            )
        )
        .where(links.c.account_id.is_not(None))
        .group_by(groups.c.idx, links.c.account_id)
    )


def utilization_frame(query: MetricQuery, indexes: list[int]) -> Subquery:
    """Months with their end instant and the active-user window ending the month."""
    days = active_days(query)
    rows = []
    for i in indexes:
        end = _sql.month_end(_sql.month_at(i))
        rows.append(
            select(
                literal(i, Integer).label("idx"),
                _sql.ts(end).label("t_end"),
                _sql.day(end.date() - timedelta(days=days - 1)).label("day_from"),
                _sql.day(end.date()).label("day_to"),
            )
        )
    return (union_all(*rows) if len(rows) > 1 else rows[0]).subquery("frame")


def utilization_by_account(conn: Connection, query: MetricQuery, indexes: list[int]) -> Subquery:
    """``(idx, account_id, seats, users)`` for accounts with seats."""
    frame = utilization_frame(query, indexes)
    seats = seats_at(conn, query, frame)
    users = active_users_by_account(query, frame)
    if query.account_id is not None:
        links = table("identity_links")
        users = users.where(links.c.account_id == query.account_id)
        if query.options.get("seats_property"):
            seats = seats.where(links.c.account_id == query.account_id)
    s, u = seats.subquery("seats"), users.subquery("users")
    return (
        select(s.c.idx, s.c.account_id, s.c.seats, func.coalesce(u.c.users, 0).label("users"))
        .select_from(s.outerjoin(u, and_(u.c.idx == s.c.idx, u.c.account_id == s.c.account_id)))
        .subquery("utilization")
    )


class LicenseUtilization(UsageMetric):
    name = "license_utilization"
    description = "Active users in the last 30 days / seats (%), over accounts with seats."
    unit = "percent"
    columns = ("value", "active_users", "seats", "accounts")

    def compute(self, conn: Connection, query: MetricQuery) -> list[dict[str, Any]]:
        if query.by is None and not query.options.get("seats_property"):
            return self._totals(conn, query)
        util = utilization_by_account(conn, query, _sql.query_indexes(query))
        seg, join = _segments.segment(conn, query, util.c.account_id)
        stmt = (
            select(
                util.c.idx,
                seg.label("seg"),
                func.sum(util.c.users).label("users"),
                func.sum(util.c.seats).label("seats"),
                func.count().label("accounts"),
            )
            .select_from(join(util))
            .group_by(util.c.idx, seg)
        )
        found = {
            (r.idx, r.seg): {
                "value": round(100.0 * float(r.users) / float(r.seats), 2) if r.seats else None,
                "active_users": int(r.users),
                "seats": float(r.seats),
                "accounts": int(r.accounts),
            }
            for r in conn.execute(stmt)
        }
        empty = {"value": None, "active_users": 0, "seats": 0.0, "accounts": 0}
        return _segments.monthly_rows(query, found, empty)

    def _totals(self, conn: Connection, query: MetricQuery) -> list[dict[str, Any]]:
        """The same figures without a dense month x account join: users are summed over the
        (month, group) pairs that have usage and whose account has seats (a group belongs to one
        account, so no per-account grouping is needed); seats and accounts with seats come from
        running sums of per-account seat changes."""
        indexes = _sql.query_indexes(query)
        first, end = indexes[0], indexes[-1]
        if derived.usable(conn, query, derived.USAGE):
            groups = stored_group_users(query, active_days(query))
        else:
            frame = utilization_frame(query, indexes)
            groups = users_by_group(query, frame.c.idx, frame.c.day_from, frame.c.day_to, frame)
        links = table("identity_links")
        if derived.usable(conn, query, derived.CHANGE_POINTS):
            stored = table("seat_change_points")
            has_seats = (
                select(stored.c.account_id)
                .where(
                    stored.c.account_id == links.c.account_id,
                    stored.c.idx <= groups.c.idx,
                    stored.c.next_idx > groups.c.idx,
                    stored.c.level > 0,
                )
                .exists()
            )
            levels = (
                select(stored.c.idx, stored.c.d, stored.c.level)
                .where(stored.c.idx <= end)
                .subquery("seat_levels")
            )
        else:
            seats = seat_rows(conn, query)
            has_seats = (
                select(seats.c.account_id)
                .where(
                    seats.c.account_id == links.c.account_id,
                    seats.c.fi <= groups.c.idx,
                    seats.c.ei > groups.c.idx,
                )
                .exists()
            )
            levels = self._levels(seats, end)
        users = (
            select(groups.c.idx, func.sum(groups.c.users).label("users"))
            .select_from(
                groups.join(
                    links,
                    _sql.link_of(links, groups.c.source, groups.c.account_key, "group"),
                )
            )
            .where(links.c.account_id.is_not(None), has_seats)
            .group_by(groups.c.idx)
        )
        if query.account_id is not None:
            users = users.where(links.c.account_id == query.account_id)
        active = {r.idx: int(r.users) for r in conn.execute(users)}
        bucket = case((levels.c.idx < first, first), else_=levels.c.idx)
        gained = (levels.c.level > 0) & (levels.c.level - levels.c.d <= 0)
        lost = (levels.c.level <= 0) & (levels.c.level - levels.c.d > 0)
        per_month = (
            select(
                bucket.label("idx"),
                func.sum(levels.c.d).label("ds"),
                func.sum(case((gained, 1), (lost, -1), else_=0)).label("da"),
            )
            .where(levels.c.idx <= end)
            .group_by(bucket)
            .subquery("seat_months")
        )
        months = _sql.months_table(indexes)
        running = {"order_by": months.c.idx, "rows": (None, 0)}
        totals = select(
            months.c.idx,
            func.sum(func.coalesce(per_month.c.ds, 0)).over(**running).label("seats"),  # type: ignore[arg-type]
            func.sum(func.coalesce(per_month.c.da, 0)).over(**running).label("accounts"),  # type: ignore[arg-type]
        ).select_from(months.outerjoin(per_month, per_month.c.idx == months.c.idx))
        rows = []
        for r in conn.execute(totals.order_by(months.c.idx)):
            seat_total, users_total = float(r.seats or 0), active.get(r.idx, 0)
            rows.append(
                {
                    "period": _sql.period(r.idx),
                    "value": round(100.0 * users_total / seat_total, 2) if seat_total else None,
                    "active_users": users_total,
                    "seats": seat_total,
                    "accounts": int(r.accounts or 0),
                }
            )
        return rows

    @staticmethod
    def _levels(seats: Any, end: int) -> Any:
        """``idx, d, level``: each account's seat changes up to month ``end`` and its seats after."""
        grouped = seat_changes(seats, seats.c.ei <= end)
        level = func.sum(grouped.c.d).over(
            partition_by=grouped.c.account_id, order_by=grouped.c.idx, rows=(None, 0)
        )
        return select(grouped.c.idx, grouped.c.d, level.label("level")).subquery("seat_levels")


# ---------------------------------------------------------------- features


def key_features(conn: Connection, query: MetricQuery) -> list[str]:
    """``[metrics] key_features``, else every feature the rollup has seen (looked up once per call)."""
    configured = query.options.get("key_features")
    if configured:
        return [str(f) for f in configured]
    seen = table(
        "usage_feature_first_use" if derived.usable(conn, query, derived.USAGE) else "usage_feature_daily"
    )
    stmt = select(seen.c.feature).distinct().order_by(seen.c.feature)
    return list(_sql.memo(query, "key_features", lambda: [f for (f,) in conn.execute(stmt)]))


def group_starts(conn: Connection, query: MetricQuery) -> Any:
    """First active day of each group: an indexed temporary table shared by the metrics of a call."""
    ud = table("usage_daily")
    starts = account_filter(
        select(ud.c.source, ud.c.account_key, func.min(ud.c.day).label("first_day"))
        .where(ud.c.account_key != "")
        .group_by(ud.c.source, ud.c.account_key),
        query,
        ud,
    )
    return _sql.materialize(conn, query, "group_start", starts, indexes=[("source", "account_key")])


def first_uses(conn: Connection, query: MetricQuery) -> Any:
    """First use of each feature by each group: an indexed temporary table."""
    ufd = table("usage_feature_daily")
    adopted = account_filter(
        select(ufd.c.source, ufd.c.account_key, ufd.c.feature, func.min(ufd.c.day).label("first_use"))
        .where(ufd.c.account_key != "")
        .group_by(ufd.c.source, ufd.c.account_key, ufd.c.feature),
        query,
        ufd,
    )
    return _sql.materialize(conn, query, "first_use", adopted, indexes=[("source", "account_key", "feature")])


def first_use_rows(conn: Connection) -> Any:
    """What ``usage_feature_first_use`` holds (metrics/derived.py): each group's first use of
    each feature, its month index, and the days from the group's first active day (NULL for
    unattributed use, account key ``""``: kept so that the table knows every feature seen)."""
    dialect = conn.dialect.name
    ud, ufd = table("usage_daily"), table("usage_feature_daily")
    starts = (
        select(ud.c.source, ud.c.account_key, func.min(ud.c.day).label("first_day"))
        .where(ud.c.account_key != "")
        .group_by(ud.c.source, ud.c.account_key)
        .subquery("starts")
    )
    adopted = (
        select(ufd.c.source, ufd.c.account_key, ufd.c.feature, func.min(ufd.c.day).label("first_use"))
        .group_by(ufd.c.source, ufd.c.account_key, ufd.c.feature)
        .subquery("adopted")
    )
    return select(
        adopted.c.source,
        adopted.c.account_key,
        adopted.c.feature,
        adopted.c.first_use,
        _sql.month_index(adopted.c.first_use, dialect).label("idx"),
        _sql.days_between(starts.c.first_day, adopted.c.first_use, dialect).label("days_to_adopt"),
    ).select_from(
        adopted.outerjoin(
            starts, and_(starts.c.source == adopted.c.source, starts.c.account_key == adopted.c.account_key)
        )
    )


def feature_window_rows(conn: Connection, days: int, indexes: list[int]) -> Any:
    """What ``usage_feature_windows`` holds (metrics/derived.py), read from the rollup and the
    stored first uses: per month, group and feature used in the ``days`` window ending the month,
    the days from the first use to the last use in the window."""
    dialect = conn.dialect.name
    first = table("usage_feature_first_use")
    frame = window_frame(days, indexes, dialect)
    used = feature_use_in_windows(frame).subquery("feature_use")
    return select(
        used.c.idx,
        used.c.feature,
        used.c.source,
        used.c.account_key,
        _sql.days_between(first.c.first_use, used.c.last_use, dialect).label("span_days"),
    ).select_from(
        used.join(
            first,
            and_(
                first.c.source == used.c.source,
                first.c.account_key == used.c.account_key,
                first.c.feature == used.c.feature,
            ),
        )
    )


def feature_use_in_windows(frame: Any) -> Any:
    """Per window of ``frame`` (``idx``, ``day_from``, ``day_to``), each group's use of each feature
    and its last day in the window (attributed usage only)."""
    ufd = table("usage_feature_daily")
    return (
        select(
            frame.c.idx, ufd.c.source, ufd.c.account_key, ufd.c.feature, func.max(ufd.c.day).label("last_use")
        )
        .select_from(frame.join(ufd, and_(ufd.c.day >= frame.c.day_from, ufd.c.day <= frame.c.day_to)))
        .where(ufd.c.account_key != "")
        .group_by(frame.c.idx, ufd.c.source, ufd.c.account_key, ufd.c.feature)
    )


class FeatureAdoption(UsageMetric):
    name = "feature_adoption"
    description = (
        "Per key feature: accounts using it in the last 30 days, adoption rate, days from account "
        "start to first use, weeks of use since; row '(all)': breadth = mean share of key features used."
    )
    unit = "percent"
    columns = ("feature", "accounts", "adoption_rate", "days_to_adopt", "weeks_of_use", "breadth")
    segments = ()

    def compute(self, conn: Connection, query: MetricQuery) -> list[dict[str, Any]]:
        dialect = conn.dialect.name
        features = key_features(conn, query)
        if not features:
            return []
        ud = table("usage_daily")
        frame = windows(query, active_days(query), typed_for=dialect)
        active = account_filter(
            select(frame.c.idx, func.count(distinct(ud.c.source + "\x1f" + ud.c.account_key)).label("groups"))
            .select_from(frame.join(ud, and_(ud.c.day >= frame.c.day_from, ud.c.day <= frame.c.day_to)))
            .where(ud.c.account_key != "", ud.c.active_users > 0)
            .group_by(frame.c.idx),
            query,
            ud,
        )
        groups = {r.idx: int(r.groups) for r in conn.execute(active)}
        if derived.usable(conn, query, derived.USAGE):
            per_feature, medians = self._stored(query, features)
        else:
            per_feature, medians = self._computed(conn, query, features, frame)
        uses = {(r.idx, r.feature): r for r in conn.execute(per_feature)}
        to_adopt = {(r.idx, r.feature): float(r.median) for r in conn.execute(medians)}
        # every use has a first use: the (month, group, feature) uses are the per-feature counts
        spread: dict[int, int] = {}
        for i, _feature in uses:
            spread[i] = spread.get(i, 0) + int(uses[(i, _feature)].accounts)
        rows: list[dict[str, Any]] = []
        for i in _sql.query_indexes(query):
            n = groups.get(i, 0)
            for feature in features:
                u = uses.get((i, feature))
                count = int(u.accounts) if u else 0
                rows.append(
                    {
                        "period": _sql.period(i),
                        "feature": feature,
                        "accounts": count,
                        "adoption_rate": round(100.0 * count / n, 2) if n else None,
                        "days_to_adopt": _round(to_adopt.get((i, feature))),
                        "weeks_of_use": _round(float(u.weeks)) if u and u.weeks is not None else None,
                        "breadth": None,
                    }
                )
            rows.append(
                {
                    "period": _sql.period(i),
                    "feature": "(all)",
                    "accounts": n,
                    "adoption_rate": None,
                    "days_to_adopt": None,
                    "weeks_of_use": None,
                    "breadth": round(100.0 * spread.get(i, 0) / (n * len(features)), 2) if n else None,
                }
            )
        return rows

    @staticmethod
    def _stored(query: MetricQuery, features: list[str]) -> tuple[Any, Any]:
        """Per-feature uses and adoption medians from the derived tables (metrics/derived.py)."""
        fw, fu = table("usage_feature_windows"), table("usage_feature_first_use")
        months = (_sql.idx(query.start), _sql.idx(query.end))
        per_feature = (
            select(
                fw.c.idx,
                fw.c.feature,
                func.count().label("accounts"),
                func.avg(fw.c.span_days / 7.0).label("weeks"),
            )
            .where(fw.c.idx.between(*months), fw.c.feature.in_(features))
            .group_by(fw.c.idx, fw.c.feature)
        )
        adoption_days = (
            select(fu.c.idx, fu.c.feature, fu.c.days_to_adopt.label("days"))
            .where(fu.c.feature.in_(features), fu.c.idx.between(*months), fu.c.days_to_adopt.is_not(None))
            .subquery("adoption_days")
        )
        medians = _sql.percentile_rows_repeated(adoption_days, "days", ["idx", "feature"], [("median", 50)])
        return per_feature, medians

    @staticmethod
    def _computed(conn: Connection, query: MetricQuery, features: list[str], frame: Any) -> tuple[Any, Any]:
        """Per-feature uses and adoption medians from the rollups (and per-call first uses)."""
        dialect = conn.dialect.name
        ufd = table("usage_feature_daily")
        starts, adopted = group_starts(conn, query), first_uses(conn, query)
        used_q = account_filter(feature_use_in_windows(frame).where(ufd.c.feature.in_(features)), query, ufd)
        used = used_q.subquery("feature_use")  # read once: joined to the indexed first uses
        weeks = _sql.days_between(adopted.c.first_use, used.c.last_use, dialect) / 7.0
        per_feature = (
            select(used.c.idx, used.c.feature, func.count().label("accounts"), func.avg(weeks).label("weeks"))
            .select_from(
                used.join(
                    adopted,
                    and_(
                        adopted.c.source == used.c.source,
                        adopted.c.account_key == used.c.account_key,
                        adopted.c.feature == used.c.feature,
                    ),
                )
            )
            .group_by(used.c.idx, used.c.feature)
        )
        adoption_days = (
            select(
                _sql.month_index(adopted.c.first_use, dialect).label("idx"),
                adopted.c.feature,
                _sql.days_between(starts.c.first_day, adopted.c.first_use, dialect).label("days"),
            )
            .select_from(
                adopted.join(
                    starts,
                    and_(starts.c.source == adopted.c.source, starts.c.account_key == adopted.c.account_key),
                )
            )
            .where(
                adopted.c.feature.in_(features),
                # on the month index, not the indexed day: a long period is most of the rows, and
                # a scan beats an index range with a row lookup each
                _sql.month_index(adopted.c.first_use, dialect).between(
                    _sql.idx(query.start), _sql.idx(query.end)
                ),
            )
            .subquery("adoption_days")
        )
        medians = _sql.percentile_rows_repeated(adoption_days, "days", ["idx", "feature"], [("median", 50)])
        return per_feature, medians


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


class TimeToMilestone(UsageMetric):
    name = "time_to_milestone"
    description = (
        "Accounts whose events of [metrics] milestone_feature reached milestone_count in the month, "
        "and the median days from their first active day."
    )
    unit = "days"
    columns = ("value", "accounts", "feature", "count")
    segments = ()

    def compute(self, conn: Connection, query: MetricQuery) -> list[dict[str, Any]]:
        features = key_features(conn, query)
        feature = str(query.options.get("milestone_feature") or (features[0] if features else ""))
        target = int(query.options.get("milestone_count", 1))
        if self._first_use_is_milestone(conn, query, feature, target):
            fu = table("usage_feature_first_use")
            days = (
                select(fu.c.idx, literal("", String).label("seg"), fu.c.days_to_adopt.label("days"))
                .where(
                    fu.c.feature == feature,
                    fu.c.idx.between(_sql.idx(query.start), _sql.idx(query.end)),
                    fu.c.days_to_adopt.is_not(None),
                )
                .subquery("milestone_days")
            )
        else:
            days = self._milestone_days(conn, query, feature, target)
        stmt = _sql.percentile_rows_repeated(days, "days", ["idx", "seg"], [("median", 50)])
        found = {
            (r.idx, r.seg): {
                "value": round(float(r.median), 2),
                "accounts": int(r.n),
                "feature": feature,
                "count": target,
            }
            for r in conn.execute(stmt)
        }
        return _segments.monthly_rows(
            query, found, {"value": None, "accounts": 0, "feature": feature, "count": target}
        )

    @staticmethod
    def _first_use_is_milestone(conn: Connection, query: MetricQuery, feature: str, target: int) -> bool:
        """A milestone of one event is the feature's first use when every rollup row of it has
        an event: then the stored first uses answer (metrics/derived.py)."""
        if target > 1 or not derived.usable(conn, query, derived.USAGE):
            return False
        ufd = table("usage_feature_daily")
        empty = select(ufd.c.day).where(ufd.c.feature == feature, ufd.c.events < 1).limit(1)
        return conn.execute(empty).first() is None

    @staticmethod
    def _milestone_days(conn: Connection, query: MetricQuery, feature: str, target: int) -> Any:
        """``idx, seg, days``: per account reaching the milestone, its month and the days from the
        group's first active day, from running sums over the rollup."""
        dialect = conn.dialect.name
        ufd = table("usage_feature_daily")
        starts = group_starts(conn, query)
        part = (ufd.c.source, ufd.c.account_key)
        running = account_filter(
            select(
                ufd.c.source,
                ufd.c.account_key,
                ufd.c.day,
                func.sum(ufd.c.events)
                .over(partition_by=part, order_by=ufd.c.day, rows=(None, 0))
                .label("total"),
            ).where(ufd.c.feature == feature, ufd.c.account_key != ""),
            query,
            ufd,
        ).subquery("running")
        reached = (
            select(running.c.source, running.c.account_key, func.min(running.c.day).label("reached"))
            .where(running.c.total >= target)
            .group_by(running.c.source, running.c.account_key)
            .subquery("reached")
        )
        months = _sql.months_table(_sql.query_indexes(query))
        days = (
            select(
                months.c.idx,
                literal("", String).label("seg"),
                _sql.days_between(starts.c.first_day, reached.c.reached, dialect).label("days"),
            )
            .select_from(
                months.join(
                    reached, and_(reached.c.reached >= months.c.d_start, reached.c.reached <= months.c.d_end)
                ).join(
                    starts,
                    and_(starts.c.source == reached.c.source, starts.c.account_key == reached.c.account_key),
                )
            )
            .subquery("milestone_days")
        )
        return days


# ---------------------------------------------------------------- lists


class SuperUsers(UsageMetric):
    name = "super_users"
    description = (
        "List for the last month asked: users whose events in it reach the month's [metrics] "
        "super_user_percentile (default 95th) of users' events, busiest first."
    )
    unit = "count"
    columns = ("account_id", "account_key", "user_id", "events", "active_days")
    segments = ()

    def compute(self, conn: Connection, query: MetricQuery) -> list[dict[str, Any]]:
        pct = int(query.options.get("super_user_percentile", 95))
        limit = int(query.options.get("super_users_limit", 100))
        uud = table("usage_user_daily")
        months = _sql.months_table([_sql.idx(query.end)])
        per_user = account_filter(
            select(
                months.c.idx,
                uud.c.source,
                uud.c.account_key,
                uud.c.user_id,
                func.sum(uud.c.events).label("events"),
                func.count().label("active_days"),
            )
            .select_from(months.join(uud, and_(uud.c.day >= months.c.d_start, uud.c.day <= months.c.d_end)))
            .where(uud.c.user_id != "")
            .group_by(months.c.idx, uud.c.source, uud.c.account_key, uud.c.user_id),
            query,
            uud,
        ).cte("per_user")
        ranked = select(
            per_user,
            func.cume_dist().over(partition_by=per_user.c.idx, order_by=per_user.c.events).label("share"),
            func.row_number()
            .over(partition_by=per_user.c.idx, order_by=(per_user.c.events.desc(), per_user.c.user_id))
            .label("rank"),
        ).subquery("ranked")
        stmt = (
            select(ranked, group_account(ranked.c.source, ranked.c.account_key).label("account_id"))
            .where(ranked.c.share * 100 >= pct, ranked.c.rank <= limit)
            .order_by(ranked.c.idx, ranked.c.rank)
        )
        return [
            {
                "period": _sql.period(r.idx),
                "account_id": r.account_id,
                "account_key": r.account_key,
                "user_id": r.user_id,
                "events": int(r.events),
                "active_days": int(r.active_days),
            }
            for r in conn.execute(stmt)
        ]


class InactiveAccounts(UsageMetric):
    name = "inactive_accounts"
    description = (
        "List for the last month asked: accounts paying at its end with no active user in its "
        "last 30 days, largest MRR first (at most [metrics] inactive_accounts_limit, 100)."
    )
    unit = "count"
    columns = ("account_id", "account", "mrr", "last_active", "days_inactive")
    segments = ()

    def compute(self, conn: Connection, query: MetricQuery) -> list[dict[str, Any]]:
        from . import revenue

        limit = int(query.options.get("inactive_accounts_limit", 100))
        end_idx = _sql.idx(query.end)
        end = _sql.month_end(query.end).date()
        day_from = end - timedelta(days=active_days(query) - 1)
        cp = revenue.change_points(conn, query)
        ud, links, accounts = table("usage_daily"), table("identity_links"), table("accounts")
        group_usage = ud.join(
            links,
            _sql.link_of(links, ud.c.source, ud.c.account_key, "group"),
        )
        active = (
            select(links.c.account_id)
            .select_from(group_usage)
            .where(ud.c.day >= _sql.day(day_from), ud.c.day <= _sql.day(end), ud.c.active_users > 0)
        )
        inactive = (
            select(cp.c.account_id, cp.c.level)
            .where(
                cp.c.idx <= end_idx,
                cp.c.next_idx > end_idx,
                cp.c.level > 0,
                cp.c.account_id.is_not(None),
                cp.c.account_id.not_in(active),
            )
            .order_by(cp.c.level.desc(), cp.c.account_id)
            .limit(limit)
            .subquery("inactive")
        )
        last_day = (
            select(func.max(ud.c.day))
            .select_from(group_usage)
            .where(
                links.c.account_id == inactive.c.account_id, ud.c.day <= _sql.day(end), ud.c.active_users > 0
            )
            .scalar_subquery()
        )
        stmt = (
            select(inactive, accounts.c.name, last_day.label("last_active"))
            .select_from(inactive.outerjoin(accounts, accounts.c.id == inactive.c.account_id))
            .order_by(inactive.c.level.desc(), inactive.c.account_id)
        )
        out = []
        for r in conn.execute(stmt):
            last_active = r.last_active
            if isinstance(last_active, str):  # SQLite hands max() of a date column back as text
                last_active = date.fromisoformat(last_active)
            out.append(
                {
                    "period": str(query.end),
                    "account_id": r.account_id,
                    "account": r.name,
                    "mrr": revenue.money(float(r.level), query),
                    "last_active": last_active.isoformat() if last_active else None,
                    "days_inactive": (end - last_active).days if last_active else None,
                }
            )
        return out


METRICS: list[Metric] = [
    DAU(),
    WAU(),
    MAU(),
    Stickiness(),
    LicenseUtilization(),
    FeatureAdoption(),
    TimeToMilestone(),
    SuperUsers(),
    InactiveAccounts(),
]

__all__ = ["METRICS"]

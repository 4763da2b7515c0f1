"""Revenue metrics over the subscription revenue timeline (``revenue_timeline``).

Every revenue metric starts from one intermediate result, built once per query in a temporary
table: the *change points* of each account's month-end MRR. A timeline row ``[valid_from,
valid_to)`` counts at the month-end instants it covers (whole-second timestamps): from the month
of ``valid_from`` to the month before the one of ``valid_to``. So it adds ``+mrr`` at the first
and ``-mrr`` at the month of ``valid_to``; summing those deltas per account and month, keeping the
non-zero sums, and running a window sum gives each account's MRR level after every change.
Month-end MRR, movements, churn and retention are all sums over these change points, so the MRR
bridge holds by construction and a plan swap inside one account is never churn.

Accounts: a Stripe customer counts for the account it is linked to (``identity_links``, kind
``customer``); an unlinked customer is its own account. Segments are account attributes, so
segment values always add up to the total: ``plan`` is the product of the account's latest
subscription item started by the end of the period asked (its whole history moves with it),
``owner`` the owner of the CRM company linked to the account, ``cohort`` the first paid month.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, String, and_, case, func, literal, select, true
from sqlalchemy.sql.selectable import Subquery
from vitalsign.core.metric import Metric, MetricQuery
from vitalsign.core.store import table

from . import _sql

NEVER = 10_000_000  # next_idx of an account's last change point
SEGMENTS = ("plan", "owner", "cohort")


def minor_units(query: MetricQuery) -> int:
    return 1 if query.currency in _sql.ZERO_DECIMAL_CURRENCIES else 100


def money(value: float | None, query: MetricQuery) -> float | None:
    return None if value is None else round(value / minor_units(query), 2)


def rate(numerator: float, denominator: float) -> float | None:
    return None if not denominator else round(100.0 * numerator / denominator, 2)


# ---------------------------------------------------------------- change points


def change_points(conn: Connection, query: MetricQuery) -> Any:
    """``acct, account_id, idx, d, level, prev, rn, next_idx, cohort`` (``cohort``: the account's
    first paid month) up to the query's end: the stored ``mrr_change_points`` while their inputs
    are unchanged (metrics/derived.py), else a per-query temporary table. One account's
    drill-down always computes its few rows (checking the stored table's inputs costs more)."""
    from . import derived

    if query.account_id is None:
        stored = derived.change_points(conn, query)
        if stored is not None:
            return stored
    stmt = change_point_rows(conn, _sql.idx(query.end), query.account_id)
    return _sql.materialize(conn, query, "cp", stmt, indexes=[("idx",), ("acct", "idx")])


def change_point_rows(conn: Connection, end: int | None, account_id: int | None = None) -> Any:
    """The change points statement: up to month index ``end`` (every one when None), of every
    account or of ``account_id`` only."""
    dialect = conn.dialect.name
    rt, links = table("revenue_timeline"), table("identity_links")
    acct = _sql.account_key(links.c.account_id, rt.c.source, rt.c.source_account_id)
    iv_q = select(
        acct.label("acct"),
        links.c.account_id.label("account_id"),
        rt.c.mrr.label("mrr"),
        _sql.month_index(rt.c.valid_from, dialect).label("fi"),
        _sql.month_index(rt.c.valid_to, dialect).label("ei"),
    ).select_from(
        rt.outerjoin(
            links,
            _sql.link_of(links, rt.c.source, rt.c.source_account_id, "customer"),
        )
    )
    if end is not None:
        # on the month index, not the indexed column: nearly every row qualifies, and a full scan
        # beats an index range with one row lookup each (about 20 % faster on SQLite)
        iv_q = iv_q.where(_sql.month_index(rt.c.valid_from, dialect) <= end)
    if account_id is not None:
        iv_q = iv_q.where(links.c.account_id == account_id)
    iv = iv_q.cte("iv")
    counts = (iv.c.ei.is_(None)) | (iv.c.ei > iv.c.fi)
    starts = select(iv.c.acct, iv.c.account_id, iv.c.fi.label("idx"), iv.c.mrr.label("d")).where(counts)
    stops = select(iv.c.acct, iv.c.account_id, iv.c.ei.label("idx"), (-iv.c.mrr).label("d")).where(
        iv.c.ei.is_not(None), iv.c.ei > iv.c.fi
    )
    if end is not None:
        stops = stops.where(iv.c.ei <= end)
    deltas = starts.union_all(stops).subquery("deltas")
    grouped = (
        select(
            deltas.c.acct,
            func.max(deltas.c.account_id).label("account_id"),
            deltas.c.idx,
            func.sum(deltas.c.d).label("d"),
        )
        .group_by(deltas.c.acct, deltas.c.idx)
        .having(func.sum(deltas.c.d) != 0)
        .subquery("grouped")
    )
    part, order = grouped.c.acct, grouped.c.idx
    level = func.sum(grouped.c.d).over(partition_by=part, order_by=order, rows=(None, 0))
    return select(
        grouped.c.acct,
        grouped.c.account_id,
        grouped.c.idx,
        grouped.c.d,
        level.label("level"),
        (level - grouped.c.d).label("prev"),
        func.row_number().over(partition_by=part, order_by=order).label("rn"),
        func.lead(grouped.c.idx, 1, NEVER).over(partition_by=part, order_by=order).label("next_idx"),
        func.min(grouped.c.idx).over(partition_by=part).label("cohort"),
    )


def segment_of(conn: Connection, query: MetricQuery, cp: Any, by: str | None = None) -> tuple[Any, Any]:
    """``(segment expression, from-clause)`` putting each change point in its account's segment."""
    by = by or query.by
    if by is None:
        return literal("", String), cp
    if by == "cohort":
        return cp.c.cohort, cp
    if by == "owner":
        owners = _sql.owner_by_account()
        return _sql.seg_or_none(owners.c.owner), cp.outerjoin(owners, owners.c.account_id == cp.c.account_id)
    if by == "plan":
        plans = plan_by_account(conn, query)
        return _sql.seg_or_none(plans.c.plan), cp.outerjoin(plans, plans.c.acct == cp.c.acct)
    raise ValueError(by)


def account_segments(conn: Connection, query: MetricQuery) -> Subquery:
    """``account_id -> seg`` for the query's ``--by`` (linked accounts only): what the other
    families join to put a ticket, a survey answer or a usage row in the same segments."""
    if query.by == "owner":
        owners = _sql.owner_by_account()
        return select(owners.c.account_id, owners.c.owner.label("seg")).subquery("account_segments")
    if query.by == "plan":
        plans = plan_by_account(conn, query)
        return (
            select(plans.c.account_id, plans.c.plan.label("seg"))
            .where(plans.c.account_id.is_not(None))
            .subquery("account_segments")
        )
    if query.by == "cohort":
        cp = change_points(conn, query)
        return (
            select(cp.c.account_id, cp.c.idx.label("seg"))
            .where(cp.c.rn == 1, cp.c.account_id.is_not(None))
            .subquery("account_segments")
        )
    raise ValueError(query.by)


def plan_by_account(conn: Connection, query: MetricQuery) -> Any:
    """``acct -> plan``: the product of the account's latest item started by the period's end."""
    rt, links, products = table("revenue_timeline"), table("identity_links"), table("products")
    acct = _sql.account_key(links.c.account_id, rt.c.source, rt.c.source_account_id)
    ranked = (
        select(
            acct.label("acct"),
            links.c.account_id.label("account_id"),
            func.coalesce(products.c.name, rt.c.product_id).label("plan"),
            func.row_number()
            .over(partition_by=acct, order_by=(rt.c.valid_from.desc(), rt.c.mrr.desc()))
            .label("rn"),
        )
        .select_from(
            rt.outerjoin(
                links,
                _sql.link_of(links, rt.c.source, rt.c.source_account_id, "customer"),
            ).outerjoin(
                products, and_(products.c.source == rt.c.source, products.c.source_id == rt.c.product_id)
            )
        )
        .where(rt.c.valid_from <= _sql.ts(_sql.month_end(query.end)), rt.c.mrr > 0)
        .subquery("ranked_plans")
    )
    latest = select(ranked.c.acct, ranked.c.account_id, ranked.c.plan).where(ranked.c.rn == 1)
    return _sql.materialize(conn, query, "plans", latest, indexes=[("acct",), ("account_id",)])


# ---------------------------------------------------------------- aggregated series


@dataclass
class Point:
    mrr: float = 0.0
    paying: int = 0
    new: float = 0.0
    reactivation: float = 0.0
    expansion: float = 0.0
    contraction: float = 0.0
    churn: float = 0.0
    new_accounts: int = 0
    churned_accounts: int = 0


@dataclass
class Series:
    """Month-end stocks and in-month movements per ``(month index, segment)``."""

    points: dict[tuple[int, Any], Point] = field(default_factory=lambda: defaultdict(Point))
    segments: set[Any] = field(default_factory=set)

    def at(self, index: int, seg: Any) -> Point:
        return self.points.get((index, seg)) or Point()


def series(conn: Connection, query: MetricQuery, first: int, *, by: str | None = None) -> Series:
    """Stocks from month ``first`` to the query's end, movements over the same months
    (segmented by ``by``, default the query's ``--by``)."""
    cp = change_points(conn, query)
    end = _sql.idx(query.end)
    seg, source = segment_of(conn, query, cp, by=by or query.by)
    gained = (cp.c.prev <= 0) & (cp.c.level > 0)
    lost = (cp.c.prev > 0) & (cp.c.level <= 0)
    steady = (cp.c.prev > 0) & (cp.c.level > 0)
    # one pass over the change points: per segment and month, the stock deltas and the movements
    per_month = (
        select(
            seg.label("seg"),
            cp.c.idx,
            func.sum(cp.c.d).label("dm"),
            func.sum(case((gained, 1), (lost, -1), else_=0)).label("dc"),
            func.sum(case((gained & (cp.c.rn == 1), cp.c.d), else_=0)).label("new"),
            func.sum(case((gained & (cp.c.rn > 1), cp.c.d), else_=0)).label("reactivation"),
            func.sum(case((steady & (cp.c.d > 0), cp.c.d), else_=0)).label("expansion"),
            func.sum(case((steady & (cp.c.d < 0), -cp.c.d), else_=0)).label("contraction"),
            func.sum(case((lost, cp.c.prev), else_=0)).label("churn"),
            func.sum(case((gained, 1), else_=0)).label("new_accounts"),
            func.sum(case((lost, 1), else_=0)).label("churned_accounts"),
        )
        .select_from(source)
        .where(cp.c.idx <= end)
        .group_by(seg, cp.c.idx)
        .cte("per_month")  # read twice (stock deltas, movements): a CTE is computed once
    )
    bucket = case((per_month.c.idx < first, first), else_=per_month.c.idx)
    deltas = (
        select(
            per_month.c.seg,
            bucket.label("idx"),
            func.sum(per_month.c.dm).label("dm"),
            func.sum(per_month.c.dc).label("dc"),
        )
        .group_by(per_month.c.seg, bucket)
        .cte("seg_deltas")  # read twice (segments, grid): a CTE is computed once
    )
    segs = select(deltas.c.seg).distinct().subquery("segs")
    months = _sql.months_table(range(first, end + 1))
    moves = per_month.alias("moves")
    grid = (
        select(
            months.c.idx,
            segs.c.seg,
            deltas.c.dm,
            deltas.c.dc,
            *[moves.c[c] for c in _MOVES],
        )
        .select_from(months.join(segs, true()))
        .outerjoin(deltas, and_(deltas.c.idx == months.c.idx, deltas.c.seg == segs.c.seg))
        .outerjoin(moves, and_(moves.c.idx == months.c.idx, moves.c.seg == segs.c.seg, moves.c.idx > first))
        .subquery("grid")
    )
    part, order = grid.c.seg, grid.c.idx
    stocks = select(
        grid.c.idx,
        grid.c.seg,
        func.sum(func.coalesce(grid.c.dm, 0))
        .over(partition_by=part, order_by=order, rows=(None, 0))
        .label("mrr"),
        func.sum(func.coalesce(grid.c.dc, 0))
        .over(partition_by=part, order_by=order, rows=(None, 0))
        .label("paying"),
        *[grid.c[c] for c in _MOVES],
    )
    out = Series()
    for row in conn.execute(stocks):
        point = out.points[(row.idx, row.seg)]
        point.mrr, point.paying = float(row.mrr or 0), int(row.paying or 0)
        out.segments.add(row.seg)
        if row.new is not None:  # a month with change points, after the first
            point.new, point.reactivation = float(row.new), float(row.reactivation)
            point.expansion, point.contraction = float(row.expansion), float(row.contraction)
            point.churn = float(row.churn)
            point.new_accounts, point.churned_accounts = int(row.new_accounts), int(row.churned_accounts)
    return out


_MOVES = (
    "new",
    "reactivation",
    "expansion",
    "contraction",
    "churn",
    "new_accounts",
    "churned_accounts",
)


def output_segment(query: MetricQuery, seg: Any) -> str:
    if query.by == "cohort":
        return _sql.NO_SEGMENT if seg is None else _sql.period(int(seg))
    return str(seg)


def rows_by_month(
    query: MetricQuery, data: Series, make: Any, indexes: Iterable[int] | None = None
) -> list[dict[str, Any]]:
    """One row per month (and segment) of the query, values from ``make(index, seg)``."""
    out: list[dict[str, Any]] = []
    segs = sorted(data.segments, key=lambda s: (s is None, str(s))) if query.by else [""]
    for i in indexes or _sql.query_indexes(query):
        for seg in segs:
            row: dict[str, Any] = {"period": _sql.period(i)}
            if query.by:
                row["segment"] = output_segment(query, seg)
            row.update(make(i, seg))
            out.append(row)
    return out


# ---------------------------------------------------------------- metrics


class RevenueMetric(Metric):
    family = "revenue"
    segments = SEGMENTS
    lookback = 7  # months of stocks needed before the first month (LTV's 6 previous months)

    def compute(self, conn: Connection, query: MetricQuery) -> list[dict[str, Any]]:
        first = _sql.idx(query.start) - RevenueMetric.lookback
        data = _sql.memo(query, ("revenue_series", first), lambda: series(conn, query, first))
        return rows_by_month(query, data, lambda i, s: self.values(query, data, i, s))

    def values(self, query: MetricQuery, data: Series, i: int, seg: Any) -> dict[str, Any]:
        raise NotImplementedError


class MRR(RevenueMetric):
    name = "mrr"
    description = "Monthly recurring revenue at the month's end."
    unit = "money"

    def values(self, query: MetricQuery, data: Series, i: int, seg: Any) -> dict[str, Any]:
        return {"value": money(data.at(i, seg).mrr, query)}


class ARR(RevenueMetric):
    name = "arr"
    description = "Annual run rate: 12 x MRR at the month's end."
    unit = "money"

    def values(self, query: MetricQuery, data: Series, i: int, seg: Any) -> dict[str, Any]:
        return {"value": money(12 * data.at(i, seg).mrr, query)}


class PayingAccounts(RevenueMetric):
    name = "paying_accounts"
    description = "Accounts with MRR > 0 at the month's end."
    unit = "count"

    def values(self, query: MetricQuery, data: Series, i: int, seg: Any) -> dict[str, Any]:
        return {"value": data.at(i, seg).paying}


class ARPA(RevenueMetric):
    name = "arpa"
    description = "Average revenue per paying account: MRR / paying accounts."
    unit = "money"

    def values(self, query: MetricQuery, data: Series, i: int, seg: Any) -> dict[str, Any]:
        p = data.at(i, seg)
        return {"value": money(p.mrr / p.paying, query) if p.paying else None}


class MRRMovements(RevenueMetric):
    name = "mrr_movements"
    description = "New, expansion, contraction, churn and reactivation MRR in the month; net change."
    unit = "money"
    columns = ("new", "expansion", "contraction", "churn", "reactivation", "net")

    def values(self, query: MetricQuery, data: Series, i: int, seg: Any) -> dict[str, Any]:
        p = data.at(i, seg)
        net = p.new + p.reactivation + p.expansion - p.contraction - p.churn
        return {
            "new": money(p.new, query),
            "expansion": money(p.expansion, query),
            "contraction": money(p.contraction, query),
            "churn": money(p.churn, query),
            "reactivation": money(p.reactivation, query),
            "net": money(net, query),
        }


class LogoChurnRate(RevenueMetric):
    name = "logo_churn_rate"
    description = "Accounts churned in the month / paying accounts at its start (%)."
    unit = "percent"
    columns = ("value", "churned", "start")

    def values(self, query: MetricQuery, data: Series, i: int, seg: Any) -> dict[str, Any]:
        start, p = data.at(i - 1, seg).paying, data.at(i, seg)
        return {"value": rate(p.churned_accounts, start), "churned": p.churned_accounts, "start": start}


class GrossMRRChurnRate(RevenueMetric):
    name = "gross_mrr_churn_rate"
    description = "(Churned + contraction MRR) / MRR at the month's start (%)."
    unit = "percent"

    def values(self, query: MetricQuery, data: Series, i: int, seg: Any) -> dict[str, Any]:
        p = data.at(i, seg)
        return {"value": rate(p.churn + p.contraction, data.at(i - 1, seg).mrr)}


class NetMRRChurnRate(RevenueMetric):
    name = "net_mrr_churn_rate"
    description = "(Churn + contraction - expansion - reactivation MRR) / MRR at the month's start (%)."
    unit = "percent"

    def values(self, query: MetricQuery, data: Series, i: int, seg: Any) -> dict[str, Any]:
        p = data.at(i, seg)
        lost = p.churn + p.contraction - p.expansion - p.reactivation
        return {"value": rate(lost, data.at(i - 1, seg).mrr)}


class CustomerRetentionRate(RevenueMetric):
    name = "customer_retention_rate"
    description = "(Paying at end - accounts that started paying in the month) / paying at start (%)."
    unit = "percent"
    columns = ("value", "start", "new", "end")

    def values(self, query: MetricQuery, data: Series, i: int, seg: Any) -> dict[str, Any]:
        start, p = data.at(i - 1, seg).paying, data.at(i, seg)
        return {
            "value": rate(p.paying - p.new_accounts, start),
            "start": start,
            "new": p.new_accounts,
            "end": p.paying,
        }


class QuickRatio(RevenueMetric):
    name = "quick_ratio"
    description = "(New + expansion + reactivation MRR) / (churn + contraction MRR)."
    unit = "ratio"

    def values(self, query: MetricQuery, data: Series, i: int, seg: Any) -> dict[str, Any]:
        p = data.at(i, seg)
        lost = p.churn + p.contraction
        return {"value": round((p.new + p.expansion + p.reactivation) / lost, 2) if lost else None}


class LTV(RevenueMetric):
    name = "ltv"
    description = "ARPA x gross margin / mean monthly logo churn of the 6 previous months."
    unit = "money"
    columns = ("value", "arpa", "churn_rate")

    def values(self, query: MetricQuery, data: Series, i: int, seg: Any) -> dict[str, Any]:
        margin = float(query.options.get("gross_margin", 1.0))
        p = data.at(i, seg)
        rates = []
        for m in range(i - 6, i):
            start = data.at(m - 1, seg).paying
            if start:
                rates.append(data.at(m, seg).churned_accounts / start)
        churn = sum(rates) / len(rates) if rates else None
        arpa = p.mrr / p.paying if p.paying else None
        value = arpa * margin / churn if arpa is not None and churn else None
        return {
            "value": money(value, query),
            "arpa": money(arpa, query),
            "churn_rate": None if churn is None else round(100 * churn, 2),
        }


class NetRevenueRetention(Metric):
    """NRR and GRR share one statement: both compare each account's MRR now with 12 months ago."""

    family = "revenue"
    unit = "percent"
    segments = SEGMENTS
    columns = ("value", "base_mrr", "current_mrr")
    gross = False

    def compute(self, conn: Connection, query: MetricQuery) -> list[dict[str, Any]]:
        months_back = int(query.options.get("nrr_months", 12))
        found, segments = _sql.memo(
            query, ("retention", months_back), lambda: self._retention(conn, query, months_back)
        )
        data = Series(segments=set(segments))

        def make(i: int, s: Any) -> dict[str, Any]:
            row = found.get((i, s))
            if row is None:
                return {"value": None, "base_mrr": 0.0, "current_mrr": 0.0}
            numerator = row.kept if self.gross else row.current
            return {
                "value": rate(float(numerator), float(row.base)),
                "base_mrr": money(float(row.base), query),
                "current_mrr": money(float(numerator), query),
            }

        return rows_by_month(query, data, make)

    def _retention(
        self, conn: Connection, query: MetricQuery, months_back: int
    ) -> tuple[dict[Any, Any], set[Any]]:
        """Per month and segment: MRR ``months_back`` months before (base), MRR now of the same
        accounts, and the sum of min(now, then).

        Pairs of one account's change points, ``then`` valid at m - k and ``now`` valid at m,
        hold for the months m in the overlap of their validity ranges (the one of ``then``
        shifted by k): each pair adds its levels at the overlap's start and removes them at its
        end, and running sums over the months give the totals (no month x account join).
        """
        cp = change_points(conn, query)
        then, now = cp.alias("then_cp"), cp.alias("now_cp")
        seg, source = segment_of(conn, query, then)
        first, end, k = _sql.idx(query.start), _sql.idx(query.end), months_back
        start_then, stop_then = then.c.idx + k, then.c.next_idx + k
        lo = case((start_then > now.c.idx, start_then), else_=now.c.idx)
        hi = case((stop_then < now.c.next_idx, stop_then), else_=now.c.next_idx)
        kept = case((now.c.level < then.c.level, now.c.level), else_=then.c.level)
        pairs = (
            select(
                seg.label("seg"),
                lo.label("lo"),
                hi.label("hi"),
                then.c.level.label("base"),
                now.c.level.label("current"),
                kept.label("kept"),
            )
            .select_from(
                source.join(
                    now, and_(now.c.acct == then.c.acct, now.c.idx < stop_then, now.c.next_idx > start_then)
                )
            )
            .where(then.c.level > 0)
            .cte("pairs")  # read twice (starts, stops): a CTE is computed once
        )
        relevant = and_(pairs.c.lo <= end, pairs.c.hi > first)
        opened = case((pairs.c.lo < first, first), else_=pairs.c.lo)
        starts = select(pairs.c.seg, opened.label("idx"), pairs.c.base, pairs.c.current, pairs.c.kept).where(
            relevant
        )
        stops = select(
            pairs.c.seg,
            pairs.c.hi.label("idx"),
            (-pairs.c.base).label("base"),
            (-pairs.c.current).label("current"),
            (-pairs.c.kept).label("kept"),
        ).where(relevant, pairs.c.hi <= end)
        both = starts.union_all(stops).subquery("pair_deltas")
        deltas = (
            select(
                both.c.seg,
                both.c.idx,
                func.sum(both.c.base).label("base"),
                func.sum(both.c.current).label("current"),
                func.sum(both.c.kept).label("kept"),
            )
            .group_by(both.c.seg, both.c.idx)
            .cte("retention_deltas")  # read twice (segments, grid): a CTE is computed once
        )
        segs = select(deltas.c.seg).distinct().subquery("retention_segs")
        months = _sql.months_table(range(first, end + 1))
        grid = (
            select(months.c.idx, segs.c.seg, deltas.c.base, deltas.c.current, deltas.c.kept)
            .select_from(months.join(segs, true()))
            .outerjoin(deltas, and_(deltas.c.idx == months.c.idx, deltas.c.seg == segs.c.seg))
            .subquery("retention_grid")
        )
        part, order = grid.c.seg, grid.c.idx

        def running(column: Any) -> Any:
            return func.sum(func.coalesce(column, 0)).over(partition_by=part, order_by=order, rows=(None, 0))

        stmt = select(
            grid.c.idx,
            grid.c.seg,
            running(grid.c.base).label("base"),
            running(grid.c.current).label("current"),
            running(grid.c.kept).label("kept"),
        )
        found: dict[tuple[int, Any], Any] = {}
        segments: set[Any] = set()
        for row in conn.execute(stmt):
            segments.add(row.seg)
            if row.base:
                found[(row.idx, row.seg)] = row
        return found, segments


class NRR(NetRevenueRetention):
    name = "nrr"
    description = "Net revenue retention: MRR now of accounts paying 12 months ago / their MRR then (%)."


class GRR(NetRevenueRetention):
    name = "grr"
    description = "Gross revenue retention: sum of min(MRR now, MRR then) / MRR then, 12 months (%)."
    gross = True


class CohortRetention(Metric):
    """Logo and revenue retention of each first-paid-month cohort, month by month."""

    name = "cohort_retention"
    description = "Per cohort (first paid month) and month: accounts and MRR kept vs the first month."
    family = "revenue"
    unit = "percent"
    columns = ("cohort", "age", "accounts", "logo_retention", "mrr", "revenue_retention")

    def compute(self, conn: Connection, query: MetricQuery) -> list[dict[str, Any]]:
        data = series(conn, query, _sql.idx(query.start), by="cohort")
        out: list[dict[str, Any]] = []
        first, end = _sql.idx(query.start), _sql.idx(query.end)
        cohorts = sorted(int(s) for s in data.segments if s is not None and first <= int(s) <= end)
        for c in cohorts:
            base = data.at(c, c)
            for i in range(c, end + 1):
                p = data.at(i, c)
                out.append(
                    {
                        "period": _sql.period(i),
                        "cohort": _sql.period(c),
                        "age": i - c,
                        "accounts": p.paying,
                        "logo_retention": rate(p.paying, base.paying),
                        "mrr": money(p.mrr, query),
                        "revenue_retention": rate(p.mrr, base.mrr),
                    }
                )
        return out


METRICS: list[Metric] = [
    MRR(),
    ARR(),
    MRRMovements(),
    PayingAccounts(),
    ARPA(),
    LogoChurnRate(),
    GrossMRRChurnRate(),
    NetMRRChurnRate(),
    NRR(),
    GRR(),
    CustomerRetentionRate(),
    LTV(),
    QuickRatio(),
    CohortRetention(),
]

__all__ = ["METRICS", "change_points", "series"]

"""The health score: 0-100 per account from weighted components, with bands and a history.

Each component turns one per-account input (usage trend, license utilization, NPS, support load,
billing status, MRR trend) into a 0-100 score with piecewise-linear thresholds: ``[(input, score),
...]`` points, flat beyond the first and last. An account's score is the weighted mean of its
components that have data (a component with no input for the account is left out and the
weights of the others renormalised), so ``--explain`` can show each input, score and weight.
Bands: red < 50 <= yellow < 75 <= green.

Config (``[health]``): ``weights`` (by component name), ``thresholds`` (by component name, a list
of ``[input, score]`` pairs) and the windows named on each component. Third-party components
come in through the ``vitalsign_health_components`` hook and are weighted the same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import Connection, and_, case, func, or_, select, union_all
from vitalsign.core.metric import ComponentScore, HealthComponent, Metric, MetricQuery, Month
from vitalsign.core.registry import health_components
from vitalsign.core.store import table, upsert

from . import _sql, usage

BANDS = (("red", 50.0), ("yellow", 75.0), ("green", float("inf")))


def band(score: float) -> str:
    return next(name for name, upper in BANDS if score < upper)


def interpolate(points: Sequence[Sequence[float]], value: float) -> float:
    """Piecewise-linear score of ``value`` through sorted ``(input, score)`` points."""
    pts = sorted((float(x), float(y)) for x, y in points)
    if value <= pts[0][0]:
        return pts[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        if value <= x1:
            return y0 + (y1 - y0) * (value - x0) / (x1 - x0) if x1 != x0 else y1
    return pts[-1][1]


def linked(kind: str, account_ids: Sequence[int] | None) -> Any:
    """The identity links of one kind, restricted to ``account_ids`` when given."""
    links = table("identity_links")
    stmt = select(links.c.source, links.c.external_id, links.c.account_id).where(
        links.c.source_kind == kind, links.c.account_id.is_not(None)
    )
    if account_ids is not None:
        stmt = stmt.where(links.c.account_id.in_(list(account_ids)))
    return stmt.subquery(f"{kind}_links")


def instant(period: Month, options: Mapping[str, Any]) -> datetime:
    now = options.get("now")
    return _sql.as_of(period, now if isinstance(now, datetime) else None)


class ThresholdComponent(HealthComponent):
    """A component scored by thresholds on one per-account input."""

    thresholds: ClassVar[list[tuple[float, float]]]
    unit: ClassVar[str] = ""

    def points(self, options: Mapping[str, Any]) -> Sequence[Sequence[float]]:
        configured = options.get("thresholds", {}).get(self.name)
        return configured or self.thresholds

    def inputs(
        self, conn: Connection, at: datetime, account_ids: Sequence[int] | None, options: Mapping[str, Any]
    ) -> dict[int, tuple[float, str]]:
        raise NotImplementedError

    def evaluate(
        self,
        conn: Connection,
        *,
        period: Month,
        account_ids: Sequence[int] | None,
        options: Mapping[str, Any],
    ) -> dict[int, ComponentScore]:
        points = self.points(options)
        out = {}
        for account_id, (value, detail) in self.inputs(
            conn, instant(period, options), account_ids, options
        ).items():
            out[account_id] = ComponentScore(
                input=round(value, 2), score=round(interpolate(points, value), 1), detail=detail
            )
        return out


class UsageTrend(ThresholdComponent):
    name = "usage_trend"
    description = "Active user-days in the last 30 days vs the 30 days before (% change)."
    default_weight = 25.0
    thresholds = [(-50.0, 0.0), (-20.0, 50.0), (0.0, 75.0), (20.0, 100.0)]

    def inputs(
        self, conn: Connection, at: datetime, account_ids: Sequence[int] | None, options: Mapping[str, Any]
    ) -> dict[int, tuple[float, str]]:
        days = int(options.get("usage_window_days", 30))
        ud, groups = table("usage_daily"), linked("group", account_ids)
        today = at.date()
        recent_from, prior_from = today - timedelta(days=days - 1), today - timedelta(days=2 * days - 1)
        recent = func.sum(case((ud.c.day >= _sql.day(recent_from), ud.c.active_users), else_=0))
        prior = func.sum(case((ud.c.day < _sql.day(recent_from), ud.c.active_users), else_=0))
        stmt = (
            select(groups.c.account_id, recent.label("recent"), prior.label("prior"))
            .select_from(
                groups.outerjoin(
                    ud,
                    and_(
                        ud.c.source == groups.c.source,
                        ud.c.account_key == groups.c.external_id,
                        ud.c.day >= _sql.day(prior_from),
                        ud.c.day <= _sql.day(today),
                    ),
                )
            )
            .group_by(groups.c.account_id)
        )
        out = {}
        for r in conn.execute(stmt):
            now, before = float(r.recent or 0), float(r.prior or 0)
            change = 100.0 * (now - before) / before if before else (100.0 if now else -100.0)
            out[r.account_id] = (change, f"{now:g} active user-days in {days} days vs {before:g} before")
        return out


class LicenseUtilizationComponent(ThresholdComponent):
    name = "license_utilization"
    description = "Active users in the last 30 days / seats (%)."
    default_weight = 15.0
    thresholds = [(0.0, 0.0), (40.0, 40.0), (70.0, 80.0), (90.0, 100.0)]

    def inputs(
        self, conn: Connection, at: datetime, account_ids: Sequence[int] | None, options: Mapping[str, Any]
    ) -> dict[int, tuple[float, str]]:
        period = Month.of(at.date())
        metric_options = options.get("metrics", {})
        out = {}
        ids = list(account_ids) if account_ids is not None else [None]
        for account_id in ids if account_ids is not None and len(ids) == 1 else [None]:
            query = MetricQuery(start=period, end=period, options=metric_options, account_id=account_id)
            util = usage.utilization_by_account(conn, query, [_sql.idx(period)])
            for r in conn.execute(select(util)):
                if account_ids is not None and r.account_id not in account_ids:
                    continue
                seats, users = float(r.seats), float(r.users)
                out[r.account_id] = (100.0 * users / seats, f"{users:g} active users / {seats:g} seats")
        return out


class NPSComponent(ThresholdComponent):
    name = "nps"
    description = "The account's NPS over the last 180 days."
    default_weight = 15.0
    thresholds = [(-100.0, 0.0), (0.0, 50.0), (50.0, 100.0)]

    def inputs(
        self, conn: Connection, at: datetime, account_ids: Sequence[int] | None, options: Mapping[str, Any]
    ) -> dict[int, tuple[float, str]]:
        days = int(options.get("nps_window_days", 180))
        sr, contacts = table("survey_responses"), table("contacts")
        companies = linked("company", account_ids)
        score = (sr.c.score - sr.c.scale_min) * 10.0 / (sr.c.scale_max - sr.c.scale_min)
        answered = and_(
            sr.c.kind == "nps",
            sr.c.deleted.is_(False),
            sr.c.scale_max > sr.c.scale_min,
            sr.c.submitted_at <= _sql.ts(at),
            sr.c.submitted_at > _sql.ts(at - timedelta(days=days)),
        )
        # an answer belongs to its company or (HubSpot leaves that empty) to its contact's company:
        # two indexed paths from the companies, so one account's drill-down reads its rows only
        direct = (
            select(companies.c.account_id, score.label("score"))
            .select_from(
                companies.join(
                    sr,
                    and_(
                        sr.c.source == companies.c.source, sr.c.source_account_id == companies.c.external_id
                    ),
                )
            )
            .where(answered)
        )
        through_contact = (
            select(companies.c.account_id, score.label("score"))
            .select_from(
                companies.join(
                    contacts,
                    and_(
                        contacts.c.source == companies.c.source,
                        contacts.c.source_account_id == companies.c.external_id,
                    ),
                ).join(
                    sr,
                    and_(
                        sr.c.source == contacts.c.source,
                        sr.c.contact_id == contacts.c.source_id,
                        sr.c.source_account_id.is_(None),
                    ),
                )
            )
            .where(answered)
        )
        answers = union_all(direct, through_contact).subquery("nps_answers")
        stmt = select(
            answers.c.account_id,
            func.count().label("n"),
            func.sum(case((answers.c.score >= 9 - 1e-9, 1), else_=0)).label("p"),
            func.sum(case((answers.c.score <= 6 + 1e-9, 1), else_=0)).label("d"),
        ).group_by(answers.c.account_id)
        return {
            r.account_id: (
                100.0 * (int(r.p) - int(r.d)) / int(r.n),
                f"{r.p} promoters, {int(r.n) - int(r.p) - int(r.d)} passives, "
                f"{r.d} detractors in {days} days",
            )
            for r in conn.execute(stmt)
        }


class SupportLoad(ThresholdComponent):
    name = "support"
    description = "Tickets in the last 90 days, escalations counting 3 (load)."
    default_weight = 15.0
    thresholds = [(0.0, 100.0), (3.0, 75.0), (6.0, 50.0), (12.0, 0.0)]

    def inputs(
        self, conn: Connection, at: datetime, account_ids: Sequence[int] | None, options: Mapping[str, Any]
    ) -> dict[int, tuple[float, str]]:
        days = int(options.get("support_window_days", 90))
        weight = float(options.get("escalation_weight", 3))
        t, companies = table("tickets"), linked("company", account_ids)
        recent = and_(
            t.c.created_at <= _sql.ts(at),
            t.c.created_at > _sql.ts(at - timedelta(days=days)),
            t.c.deleted.is_(False),
        )
        stmt = (
            select(
                companies.c.account_id,
                func.count(t.c.source_id).label("n"),
                func.sum(case((t.c.escalated.is_(True), 1), else_=0)).label("e"),
            )
            .select_from(
                companies.outerjoin(
                    t,
                    and_(
                        t.c.source == companies.c.source,
                        t.c.source_account_id == companies.c.external_id,
                        recent,
                    ),
                )
            )
            .group_by(companies.c.account_id)
        )
        out = {}
        for r in conn.execute(stmt):
            n, e = int(r.n or 0), int(r.e or 0)
            out[r.account_id] = (n + (weight - 1) * e, f"{n} tickets, {e} escalated in {days} days")
        return out


class BillingStatus(ThresholdComponent):
    name = "billing"
    description = "Past due: an unpaid invoice past its due date (or, now, a past_due/unpaid subscription)."
    default_weight = 15.0
    thresholds = [(0.0, 100.0), (1.0, 0.0)]

    def inputs(
        self, conn: Connection, at: datetime, account_ids: Sequence[int] | None, options: Mapping[str, Any]
    ) -> dict[int, tuple[float, str]]:
        inv, subs, customers = table("invoices"), table("subscriptions"), linked("customer", account_ids)
        moment = _sql.ts(at)
        overdue = (
            select(func.count())
            .where(
                inv.c.source == customers.c.source,
                inv.c.source_account_id == customers.c.external_id,
                inv.c.status.in_(["open", "uncollectible", "paid"]),
                inv.c.due_date < moment,
                inv.c.created_at <= moment,
                func.coalesce(inv.c.amount_due, 1) > 0,
                or_(inv.c.paid_at.is_(None), inv.c.paid_at > moment),
            )
            .scalar_subquery()
        )
        current = Month.of(datetime.now(UTC).date()) == Month.of(at.date())
        status = (
            select(func.count())
            .where(
                subs.c.source == customers.c.source,
                subs.c.source_account_id == customers.c.external_id,
                subs.c.status.in_(["past_due", "unpaid"]),
                subs.c.deleted.is_(False),
            )
            .scalar_subquery()
        )
        stmt = select(
            customers.c.account_id,
            func.sum(overdue).label("overdue"),
            func.sum(status if current else 0).label("past_due"),
        ).group_by(customers.c.account_id)
        out = {}
        for r in conn.execute(stmt):
            late, flagged = int(r.overdue or 0), int(r.past_due or 0)
            past_due = 1.0 if late or flagged else 0.0
            detail = f"{late} overdue invoices" + (f", {flagged} past_due subscriptions" if flagged else "")
            out[r.account_id] = (past_due, detail)
        return out


class MRRTrend(ThresholdComponent):
    name = "mrr_trend"
    description = "MRR now vs 3 months before (% change)."
    default_weight = 15.0
    thresholds = [(-30.0, 0.0), (-10.0, 50.0), (0.0, 75.0), (10.0, 100.0)]

    def inputs(
        self, conn: Connection, at: datetime, account_ids: Sequence[int] | None, options: Mapping[str, Any]
    ) -> dict[int, tuple[float, str]]:
        months = int(options.get("mrr_trend_months", 3))
        then = _sql.month_end(Month.of(at.date()).shift(-months))
        rt, customers = table("revenue_timeline"), linked("customer", account_ids)
        base = customers.join(
            rt, and_(rt.c.source == customers.c.source, rt.c.source_account_id == customers.c.external_id)
        )
        now_mrr = func.sum(case((_sql.active_at(rt, _sql.ts(at)), rt.c.mrr), else_=0))
        then_mrr = func.sum(case((_sql.active_at(rt, _sql.ts(then)), rt.c.mrr), else_=0))
        stmt = (
            select(customers.c.account_id, now_mrr.label("now"), then_mrr.label("then"))
            .select_from(base)
            .where(
                rt.c.valid_from <= _sql.ts(at), or_(rt.c.valid_to.is_(None), rt.c.valid_to > _sql.ts(then))
            )
            .group_by(customers.c.account_id)
        )
        out = {}
        for r in conn.execute(stmt):
            now, before = float(r.now or 0), float(r.then or 0)
            if not now and not before:
                continue
            change = 100.0 * (now - before) / before if before else 100.0
            out[r.account_id] = (
                change,
                f"MRR {now / 100:.2f} now vs {before / 100:.2f} {months} months before",
            )
        return out


COMPONENTS: list[HealthComponent] = [
    UsageTrend(),
    LicenseUtilizationComponent(),
    NPSComponent(),
    SupportLoad(),
    BillingStatus(),
    MRRTrend(),
]


# ---------------------------------------------------------------- scoring


@dataclass
class AccountHealth:
    account_id: int
    name: str | None
    period: str
    score: float
    band: str
    components: list[dict[str, Any]] = field(default_factory=list)


def weights(options: Mapping[str, Any], components: Mapping[str, HealthComponent]) -> dict[str, float]:
    configured = options.get("weights", {})
    return {name: float(configured.get(name, c.default_weight)) for name, c in components.items()}


def compute_health(
    conn: Connection,
    period: Month,
    *,
    account_ids: Sequence[int] | None = None,
    options: Mapping[str, Any] | None = None,
) -> list[AccountHealth]:
    """Every account's health for ``period`` (accounts without any component data are left out)."""
    options = options or {}
    components = health_components()
    weight = weights(options, components)
    scores: dict[int, list[dict[str, Any]]] = {}
    for name, component in components.items():
        if weight[name] <= 0:
            continue
        for account_id, s in component.evaluate(
            conn, period=period, account_ids=account_ids, options=options
        ).items():
            if s.score is None:
                continue
            scores.setdefault(account_id, []).append(
                {"name": name, "input": s.input, "score": s.score, "weight": weight[name], "detail": s.detail}
            )
    accounts = table("accounts")
    names_q = select(accounts.c.id, accounts.c.name)
    if account_ids is not None:
        names_q = names_q.where(accounts.c.id.in_(list(account_ids)))
    names = {row[0]: row[1] for row in conn.execute(names_q)}
    out = []
    for account_id in sorted(scores):
        if account_id not in names:
            continue
        parts = scores[account_id]
        total = sum(p["weight"] for p in parts)
        score = round(sum(p["score"] * p["weight"] for p in parts) / total, 1)
        out.append(AccountHealth(account_id, names[account_id], str(period), score, band(score), parts))
    return out


def store_health(conn: Connection, results: Sequence[AccountHealth]) -> int:
    """Keep the month's scores in ``health_scores`` (one row per account per month)."""
    now = datetime.now(UTC)
    rows = [
        {
            "account_id": r.account_id,
            "period": r.period,
            "score": r.score,
            "band": r.band,
            "components": r.components,
            "computed_at": now,
        }
        for r in results
    ]
    for start in range(0, len(rows), 1000):
        upsert(conn, "health_scores", rows[start : start + 1000])
    return len(rows)


class HealthScore(Metric):
    """Monthly summary of the stored health history (``vitalsign health --period YYYY-MM``
    records a month; months never recorded have no value)."""

    name = "health_score"
    description = "Mean account health (0-100) and accounts per band, from the stored history."
    family = "health"
    unit = "score"
    columns = ("value", "accounts", "red", "yellow", "green")
    segments = ("plan", "owner", "cohort")

    def compute(self, conn: Connection, query: MetricQuery) -> list[dict[str, Any]]:
        from . import _segments

        hs = table("health_scores")
        periods = [_sql.period(i) for i in _sql.query_indexes(query)]
        seg, join = _segments.segment(conn, query, hs.c.account_id)
        # per band, then added up here: without a segment the grouping follows the covering
        # (period, band, score) index, with no sort (about 5x faster than grouping by period)
        stmt = (
            select(
                hs.c.period,
                seg.label("seg"),
                hs.c.band,
                func.sum(hs.c.score).label("total"),
                func.count().label("n"),
            )
            .select_from(join(hs))
            .where(hs.c.period.in_(periods))
            .group_by(hs.c.period, hs.c.band, *([seg] if query.by else []))
        )
        if query.account_id is not None:
            stmt = stmt.where(hs.c.account_id == query.account_id)
        sums: dict[tuple[int, Any], dict[str, float]] = {}
        for r in conn.execute(stmt):
            acc = sums.setdefault((_sql.idx(Month.parse(r.period)), r.seg), {"total": 0.0, "n": 0})
            acc["total"] += float(r.total)
            acc["n"] += int(r.n)
            acc[r.band] = acc.get(r.band, 0) + int(r.n)
        found = {
            key: {
                "value": round(acc["total"] / acc["n"], 1),
                "accounts": int(acc["n"]),
                **{b: int(acc.get(b, 0)) for b, _ in BANDS},
            }
            for key, acc in sums.items()
        }
        empty = {"value": None, "accounts": 0, "red": 0, "yellow": 0, "green": 0}
        return _segments.monthly_rows(query, found, empty)


METRICS: list[Metric] = [HealthScore()]

__all__ = ["COMPONENTS", "METRICS", "AccountHealth", "compute_health", "store_health"]

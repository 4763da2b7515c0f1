"""Support metrics over ``tickets``: response and resolution times, first-contact resolution,
volume and escalations.

Times are hours; the month's median is in ``value`` and its 90th percentile in ``p90``, both
interpolated like ``PERCENTILE_CONT`` and computed in SQL with window functions. First response
time belongs to the month a ticket was created in, resolution time and first-contact resolution
to the month it was closed in. A ticket belongs to the account of its company.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, case, func, select
from sqlalchemy.sql.elements import ColumnElement
from vitalsign.core.metric import Metric, MetricQuery
from vitalsign.core.store import table

from . import _segments, _sql


class TicketMetric(Metric):
    family = "support"
    segments = _segments.ACCOUNT_SEGMENTS
    month_column = "created_at"

    def _scope(self, conn: Connection, query: MetricQuery) -> tuple[Any, ColumnElement[Any], Any]:
        """``(months, segment expression, from clause)`` plus the filters every ticket metric uses."""
        t = table("tickets")
        months = _sql.months_table(_sql.query_indexes(query))
        seg, join = _segments.segment(
            conn, query, _segments.company_account(t.c.source, t.c.source_account_id)
        )
        at = t.c[self.month_column]
        source = join(months.join(t, and_(at >= months.c.w_from, at < months.c.w_to)))
        return months, seg, source

    def _where(self, stmt: Any, query: MetricQuery) -> Any:
        t = table("tickets")
        stmt = stmt.where(t.c.deleted.is_(False))
        if query.account_id is not None:
            stmt = stmt.where(
                _segments.records_of_account(t.c.source, t.c.source_account_id, query.account_id, "company")
            )
        return stmt


class DurationMetric(TicketMetric):
    unit = "hours"
    columns = ("value", "p90", "tickets")
    start_column = "created_at"
    end_column: str

    def compute(self, conn: Connection, query: MetricQuery) -> list[dict[str, Any]]:
        t = table("tickets")
        months, seg, source = self._scope(conn, query)
        hours = _sql.hours_between(t.c[self.start_column], t.c[self.end_column], conn.dialect.name)
        base = self._where(
            select(months.c.idx, seg.label("seg"), hours.label("hours"))
            .select_from(source)
            .where(t.c[self.end_column].is_not(None), t.c[self.start_column].is_not(None)),
            query,
        ).subquery("durations")
        stmt = _sql.percentile_rows(base, "hours", ["idx", "seg"], [("median", 50), ("p90", 90)])
        found = {
            (row.idx, row.seg): {
                "value": round(float(row.median), 2),
                "p90": round(float(row.p90), 2),
                "tickets": int(row.n),
            }
            for row in conn.execute(stmt)
        }
        return _segments.monthly_rows(query, found, {"value": None, "p90": None, "tickets": 0})


class FirstResponseTime(DurationMetric):
    name = "first_response_time"
    description = "Hours from ticket creation to the first agent response (median, p90), by created month."
    end_column = "first_response_at"


class ResolutionTime(DurationMetric):
    name = "resolution_time"
    description = "Hours from ticket creation to close (median, p90), by closed month."
    end_column = "closed_at"
    month_column = "closed_at"


class CountMetric(TicketMetric):
    """Ticket counts per month. The count metrics of one call that bucket tickets by the same
    month column share one statement: it computes every count any of them reads."""

    def values(self, row: Any) -> dict[str, Any]:
        raise NotImplementedError

    def compute(self, conn: Connection, query: MetricQuery) -> list[dict[str, Any]]:
        counts = _sql.memo(query, ("ticket_counts", self.month_column), lambda: self._counts(conn, query))
        found = {key: self.values(row) for key, row in counts.items()}
        return _segments.monthly_rows(query, found, self.values(None))

    def _counts(self, conn: Connection, query: MetricQuery) -> dict[tuple[int, Any], Any]:
        t = table("tickets")
        months, seg, source = self._scope(conn, query)
        stmt = self._where(
            select(
                months.c.idx,
                seg.label("seg"),
                func.count().label("tickets"),
                func.sum(case((t.c.agent_interactions == 1, 1), else_=0)).label("first_contact"),
                func.sum(case((t.c.closed_at.is_not(None), 1), else_=0)).label("closed"),
                func.sum(case((t.c.escalated.is_(True), 1), else_=0)).label("escalated"),
            )
            .select_from(source)
            .group_by(months.c.idx, seg),
            query,
        )
        return {(row.idx, row.seg): row for row in conn.execute(stmt)}


class FirstContactResolutionRate(CountMetric):
    name = "first_contact_resolution_rate"
    description = "Tickets closed with one agent interaction / tickets closed, in the month (%)."
    unit = "percent"
    columns = ("value", "first_contact", "resolved")
    month_column = "closed_at"

    def values(self, row: Any) -> dict[str, Any]:
        if row is None:
            return {"value": None, "first_contact": 0, "resolved": 0}
        n, first = int(row.tickets), int(row.first_contact)
        return {"value": round(100.0 * first / n, 2), "first_contact": first, "resolved": n}


class TicketVolume(CountMetric):
    name = "ticket_volume"
    description = "Tickets created in the month (--by account for the volume per account)."
    unit = "count"
    columns = ("value", "closed")
    segments = (*_segments.ACCOUNT_SEGMENTS, "account")

    def values(self, row: Any) -> dict[str, Any]:
        if row is None:
            return {"value": 0, "closed": 0}
        return {"value": int(row.tickets), "closed": int(row.closed)}


class Escalations(CountMetric):
    name = "escalations"
    description = "Escalated tickets created in the month, and their share of all tickets (%)."
    unit = "count"
    columns = ("value", "rate")

    def values(self, row: Any) -> dict[str, Any]:
        if row is None:
            return {"value": 0, "rate": None}
        n, e = int(row.tickets), int(row.escalated)
        return {"value": e, "rate": round(100.0 * e / n, 2)}


METRICS: list[Metric] = [
    FirstResponseTime(),
    ResolutionTime(),
    FirstContactResolutionRate(),
    TicketVolume(),
    Escalations(),
]
